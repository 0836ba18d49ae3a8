/**
 * What an audit entry keeps of an operation's input and result: enough to tell what was asked,
 * never a secret, never a megabyte. Applied to every `details` object before it is stored.
 *
 * - keys that name secrets (token, secret, password, key of an API, credential, authorization)
 *   keep only `[redacted]`;
 * - text longer than TEXT_LIMIT characters keeps its start and says how long it was;
 * - lists keep their first LIST_LIMIT items and say how many there were;
 * - nesting past DEPTH_LIMIT becomes `[nested]`; Dates become ISO text; functions, symbols and
 *   undefined are left out; text the database cannot store (NUL, lone surrogates) is replaced;
 * - when the result is still over SIZE_LIMIT bytes of JSON, only its keys are kept.
 */

export const TEXT_LIMIT = 300;
export const LIST_LIMIT = 20;
export const DEPTH_LIMIT = 4;
export const SIZE_LIMIT = 8 * 1024;

const SECRET_KEY = /secret|token|password|passwd|api[-_]?key|credential|authorization|private[-_]?key/i;
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function auditDetails(value: Record<string, unknown> | null | undefined): Record<string, unknown> {
  if (!value) return {};
  const cleaned = cleanObject(value, 1);
  const size = Buffer.byteLength(JSON.stringify(cleaned));
  if (size <= SIZE_LIMIT) return cleaned;
  return { truncated: `details were ${size} bytes of JSON; only their keys are kept`, keys: Object.keys(cleaned).slice(0, LIST_LIMIT) };
}

function cleanObject(value: object, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const safeKey = cleanText(key);
    if (SECRET_KEY.test(key)) {
      if (item !== undefined && item !== null) out[safeKey] = '[redacted]';
      continue;
    }
    const cleaned = cleanValue(item, depth);
    if (cleaned !== undefined) out[safeKey] = cleaned;
  }
  return out;
}

function cleanValue(value: unknown, depth: number): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return cleanText(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (depth >= DEPTH_LIMIT) return '[nested]';
  if (Array.isArray(value)) {
    const items = value.slice(0, LIST_LIMIT).map((item) => cleanValue(item, depth + 1) ?? null);
    if (value.length > LIST_LIMIT) items.push(`… ${value.length - LIST_LIMIT} more (${value.length} in all)`);
    return items;
  }
  return cleanObject(value, depth + 1);
}

/** `text` cut to `limit` characters and made storable (NUL and lone surrogates become U+FFFD). */
export function storableText(text: string, limit = TEXT_LIMIT): string {
  // Cut first, then clean: a cut can split a surrogate pair, and the half left is cleaned too.
  const kept = (text.length <= limit ? text : text.slice(0, limit)).replace(UNSTORABLE, '\uFFFD');
  return text.length <= limit ? kept : `${kept}… (${text.length} characters)`;
}

function cleanText(text: string): string {
  return storableText(text);
}

