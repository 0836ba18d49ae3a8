import { ProviderError } from '../../cdn/provider.js';
import { BadInputError } from '../errors.js';
import { quote } from './uploadPaths.js';

/**
 * Pure CDN rules: caller input parsed into what the CDN service stores (each failure a
 * BAD_USER_INPUT naming its field), the limits the service and its jobs keep to, and retry timing.
 */

export const DEFAULT_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Bounds on caller input and the pace of the CDN jobs. */
export const LIMITS = {
  cacheControl: 256,
  invalidationPaths: 100,
  invalidationPath: 1024,
  /** Invalidation attempts before a request is FAILED for good. */
  invalidationAttempts: 8,
  /** Longest wait between retries. */
  maxRetryDelayMs: 60 * 60 * 1000,
  /** How long a job's claim on a row lasts before another instance may take it over. */
  claimMs: 10 * 60 * 1000,
  /** An UPLOADING row not touched for this long belongs to a crashed upload. */
  staleUploadMs: 60 * 60 * 1000,
  uploadHeartbeatMs: 60 * 1000,
  jobBatch: 20,
  sweepBatch: 100,
};

/**
 * What an HTTP field value may hold once sent (RFC 9110 §5.5), kept to visible ASCII, space and
 * tab: node:http throws ERR_INVALID_CHAR on anything else, so a stored value outside this set
 * would make every response carrying it fail.
 */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** True when `value` can be sent as an HTTP header value as it is. */
export function isHeaderValue(value: string): boolean {
  return HEADER_VALUE.test(value);
}

/** One directive: `token`, `token=token` or `token="quoted string"` (qdtext and quoted-pairs, ASCII only). */
const DIRECTIVE = String.raw`[A-Za-z][A-Za-z0-9-]*(?:=(?:[A-Za-z0-9-]+|"(?:[\t !#-\[\]-~]|\\[\t -~])*"))?`;
/** Cache-Control directives, comma-separated. */
const CACHE_CONTROL = new RegExp(`^${DIRECTIVE}(?:[ \\t]*,[ \\t]*${DIRECTIVE})*$`);

/** The Cache-Control to serve a file with: DEFAULT_CACHE_CONTROL when absent, else the trimmed value; BAD_USER_INPUT when it is not directives HTTP can carry. */
export function parseCacheControl(value: unknown): string {
  if (value === undefined || value === null) return DEFAULT_CACHE_CONTROL;
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.cacheControl || !CACHE_CONTROL.test(value.trim()) || !isHeaderValue(value.trim())) {
    throw new BadInputError(
      `cacheControl ${quote(String(value))} is not a Cache-Control value: use comma-separated directives of ASCII characters such as "public, max-age=86400" (at most ${LIMITS.cacheControl} characters)`,
      { field: 'cacheControl' },
    );
  }
  return value.trim();
}

/** An expiry instant (null when absent): an ISO-8601 date-time of a real calendar day, after `now`; BAD_USER_INPUT otherwise. */
export function parseExpiresAt(value: unknown, now = new Date()): Date | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(NaN);
  // JavaScript rolls 2030-02-30 over to March 2: the calendar date written must exist.
  const written = typeof value === 'string' ? /^(\d{4})-(\d{2})-(\d{2})/.exec(value) : null;
  const exists = !written || new Date(Date.UTC(Number(written[1]), Number(written[2]) - 1, Number(written[3]))).getUTCDate() === Number(written[3]);
  if (Number.isNaN(date.getTime()) || !exists) {
    throw new BadInputError(`expiresAt ${quote(String(value))} is not an ISO-8601 date-time such as "2030-01-31T00:00:00Z"`, { field: 'expiresAt' });
  }
  if (date.getTime() <= now.getTime()) {
    throw new BadInputError(`expiresAt ${date.toISOString()} is in the past: give a future instant, or omit it to keep the file until deleted`, {
      field: 'expiresAt',
    });
  }
  return date;
}

/** Every percent-decoding of `text` up to three levels deep (double-encoded traversal hides two levels down). */
function decodings(text: string): string[] {
  const forms = [text];
  let current = text;
  for (let depth = 0; depth < 3; depth++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      throw new BadInputError(`invalidation path ${quote(text)} has malformed percent-encoding`, { field: 'paths' });
    }
    if (next === current) break;
    forms.push(next);
    current = next;
  }
  return forms;
}

/**
 * Validates invalidation paths: 1–100 paths, each starting with `/`, under the CDN base path,
 * no whitespace, control characters, `\`, `?` or `#`, `*` only as the last character, and no
 * `.` or `..` segment however many times it was percent-encoded. Returns them de-duplicated.
 */
export function parseInvalidationPaths(paths: unknown, basePath: string): string[] {
  const field = 'paths';
  if (!Array.isArray(paths) || paths.length === 0) {
    throw new BadInputError('paths must list at least one URL path such as "/cdn/<fileId>/<fileName>" (or be omitted to invalidate the file\'s own URLs)', { field });
  }
  if (paths.length > LIMITS.invalidationPaths) {
    throw new BadInputError(`paths has ${paths.length} entries; at most ${LIMITS.invalidationPaths} per request`, { field });
  }
  const result: string[] = [];
  for (const entry of paths) {
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > LIMITS.invalidationPath) {
      throw new BadInputError(`each path must be 1–${LIMITS.invalidationPath} characters`, { field });
    }
    if (!entry.startsWith('/')) throw new BadInputError(`invalidation path ${quote(entry)} must start with "/"`, { field });
    if (/[\s\u0000-\u001f\u007f\\?#]/.test(entry)) {
      throw new BadInputError(`invalidation path ${quote(entry)} contains whitespace, control characters, "\\", "?" or "#"`, { field });
    }
    if (entry.slice(0, -1).includes('*')) throw new BadInputError(`invalidation path ${quote(entry)}: "*" is allowed only as the last character`, { field });
    for (const form of decodings(entry)) {
      if (form.includes('\u0000') || form.split(/[/\\]/).some((segment) => segment === '.' || segment === '..')) {
        throw new BadInputError(`invalidation path ${quote(entry)} contains a "." or ".." segment (path traversal)`, { field });
      }
    }
    if (basePath !== '' && entry !== basePath && !entry.startsWith(`${basePath}/`)) {
      throw new BadInputError(`invalidation path ${quote(entry)} is outside the CDN base path ${basePath}/`, { field });
    }
    if (!result.includes(entry)) result.push(entry);
  }
  return result;
}

/** Exponential backoff with ±20% jitter: base, 2×base, 4×base… capped at an hour. */
export function retryDelay(baseMs: number, attempt: number, retryAfterMs?: number): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), LIMITS.maxRetryDelayMs);
  const jittered = exponential * (0.8 + Math.random() * 0.4);
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

/** What a region or invalidation record keeps as its last error: provider messages only, never a raw internal one. */
export function errorMessage(error: unknown): string {
  if (error instanceof ProviderError) return error.message;
  return 'unexpected storage failure (see the server log)';
}

