/**
 * Helpers shared by the providers that talk to a remote store or edge API (s3, cloudfront,
 * cloudflare): which failures are worth retrying, Retry-After parsing, credential scrubbing,
 * and path/URL checks. Nothing here performs I/O.
 */

/** Socket-level failures (no HTTP answer at all) after which trying again later may succeed. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Error names the AWS SDK and fetch use for timeouts and dropped connections. */
const TRANSIENT_ERROR_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'Throttling', 'ThrottlingException']);

/**
 * The network error code (`ECONNREFUSED`…) of `error` or of anything in its `cause` chain;
 * undefined when the failure was not at the socket level.
 */
export function networkErrorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for 429 and 5xx answers, socket failures and timeouts: a later attempt may succeed. */
export function isRetryableFailure(status: number | undefined, error?: unknown): boolean {
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  if (error === undefined) return false;
  if (networkErrorCode(error) !== undefined) return true;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' && TRANSIENT_ERROR_NAMES.has(name);
}

/**
 * Parses an HTTP `Retry-After` value (delay in seconds, or an HTTP date) into milliseconds
 * from `now`. Undefined when absent or unparseable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Replaces every occurrence of the given secrets (API tokens, AWS keys) in `text` with
 * `[redacted]`. Used on every message built from a remote answer, because some servers echo
 * request details back in their errors.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let result = text;
  for (const secret of secrets) {
    // Very short values would redact ordinary words; real keys are long.
    if (secret && secret.length >= 8) result = result.split(secret).join('[redacted]');
  }
  return result;
}

/**
 * Checks an object key as the CDN service promises it (relative, `/`-separated, no empty,
 * `.` or `..` segment, no control characters). Returns the problem, or undefined when fine.
 */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.length > 900) return 'the key is longer than 900 characters';
  if (key.startsWith('/')) return 'the key starts with "/"';
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'the key contains control characters';
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'the key has an empty, "." or ".." segment';
  }
  return undefined;
}

/** Percent-encodes each `/`-separated segment of an object key for use in a URL path. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * Checks a URL path handed to `invalidate` (starts with `/`, no whitespace or control
 * characters, no `..` segment). Returns the problem, or undefined when fine.
 */
export function invalidationPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `"${path}" does not start with "/"`;
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return `"${path}" contains whitespace or control characters`;
  if (path.split('/').some((segment) => segment === '..')) return `"${path}" contains a ".." segment`;
  return undefined;
}

/** Splits `items` into consecutive batches of at most `size`. */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let index = 0; index < items.length; index += size) batches.push(items.slice(index, index + size));
  return batches;
}
