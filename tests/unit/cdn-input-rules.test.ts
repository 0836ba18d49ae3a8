import { afterEach, describe, expect, it, vi } from 'vitest';

import { ProviderError } from '../../src/cdn/provider.js';
import { decideRange, etagMatches } from '../../src/server/cdnRoutes.js';
import { DEFAULT_CACHE_CONTROL, errorMessage, isHeaderValue, LIMITS, parseCacheControl, parseExpiresAt, parseInvalidationPaths, retryDelay } from '../../src/services/cdn/rules.js';
import { refusal } from '../helpers/badInput.js';

/**
 * The CDN's input rules at their edges, with the exact message and field each refusal gives
 * (callers read them to fix their request), and the limits the CDN jobs keep to.
 */

describe('parseInvalidationPaths at its edges', () => {
  const paths = (value: unknown, base = '/cdn') => () => parseInvalidationPaths(value, base);

  it('refuses a missing or empty list and more than 100 paths; accepts exactly 100', () => {
    const listMessage = 'paths must list at least one URL path such as "/cdn/<fileId>/<fileName>" (or be omitted to invalidate the file\'s own URLs)';
    expect(refusal(paths('/cdn/a'))).toEqual({ message: listMessage, field: 'paths' });
    expect(refusal(paths([]))).toEqual({ message: listMessage, field: 'paths' });
    const hundred = Array.from({ length: 100 }, (_, index) => `/cdn/${index}`);
    expect(parseInvalidationPaths(hundred, '/cdn')).toHaveLength(100);
    expect(refusal(paths([...hundred, '/cdn/x']))).toEqual({ message: 'paths has 101 entries; at most 100 per request', field: 'paths' });
  });

  it('takes paths of 1–1024 characters', () => {
    const longest = `/cdn/${'a'.repeat(1019)}`;
    expect(parseInvalidationPaths([longest], '/cdn')).toEqual([longest]);
    for (const entry of [`${longest}b`, '', 42]) expect(refusal(paths([entry]))).toEqual({ message: 'each path must be 1–1024 characters', field: 'paths' });
  });

  it.each([
    ['cdn/a', 'invalidation path "cdn/a" must start with "/"'],
    ['/cdn/a b', 'invalidation path "/cdn/a b" contains whitespace, control characters, "\\", "?" or "#"'],
    ['/cdn/a?x=1', 'invalidation path "/cdn/a?x=1" contains whitespace, control characters, "\\", "?" or "#"'],
    ['/cdn/*/a', 'invalidation path "/cdn/*/a": "*" is allowed only as the last character'],
    ['/cdn/a*b*', 'invalidation path "/cdn/a*b*": "*" is allowed only as the last character'],
    ['/cdn/./a', 'invalidation path "/cdn/./a" contains a "." or ".." segment (path traversal)'],
    ['/cdn/%2e/a', 'invalidation path "/cdn/%2e/a" contains a "." or ".." segment (path traversal)'],
    ['/cdn/%zz', 'invalidation path "/cdn/%zz" has malformed percent-encoding'],
    ['/cdn/a%00', 'invalidation path "/cdn/a%00" contains a "." or ".." segment (path traversal)'],
    ['/cdnx/a', 'invalidation path "/cdnx/a" is outside the CDN base path /cdn/'],
  ])('refuses %j, saying why', (entry, message) => {
    expect(refusal(paths([entry]))).toEqual({ message, field: 'paths' });
  });

  it('accepts "*" as the last character, the base path itself, and decodes at most three levels', () => {
    expect(parseInvalidationPaths(['/cdn/a*', '/cdn', '/cdn/*'], '/cdn')).toEqual(['/cdn/a*', '/cdn', '/cdn/*']);
    // Four levels of encoding are not decoded down to "..": it is a literal name to the CDN.
    expect(parseInvalidationPaths(['/cdn/%2525252e%2525252e/x'], '/cdn')).toEqual(['/cdn/%2525252e%2525252e/x']);
  });
});

describe('parseCacheControl at its edges', () => {
  it('defaults for null and undefined to a year, immutable', () => {
    expect(DEFAULT_CACHE_CONTROL).toBe('public, max-age=31536000, immutable');
    expect(parseCacheControl(null)).toBe(DEFAULT_CACHE_CONTROL);
    expect(parseCacheControl(undefined)).toBe(DEFAULT_CACHE_CONTROL);
  });

  it('trims the value it keeps, and takes up to 256 characters', () => {
    expect(parseCacheControl('  public, max-age=60  ')).toBe('public, max-age=60');
    expect(parseCacheControl('public, max-age=60\r\n')).toBe('public, max-age=60');
    const longest = `max-age=${'9'.repeat(248)}`;
    expect(longest).toHaveLength(256);
    expect(parseCacheControl(longest)).toBe(longest);
  });

  it.each([42, '', `max-age=${'9'.repeat(249)}`, 'max-age=60;', 'public, x="é"', '=60'])('refuses %j naming cacheControl', (value) => {
    const { message, field } = refusal(() => parseCacheControl(value));
    expect(field).toBe('cacheControl');
    expect(message).toMatch(/^cacheControl ".*" is not a Cache-Control value: use comma-separated directives of ASCII characters such as "public, max-age=86400" \(at most 256 characters\)$/);
  });
});

describe('parseExpiresAt at its edges', () => {
  const now = new Date('2030-01-01T00:00:00Z');

  it('is null when absent, and takes a Date as it is', () => {
    expect(parseExpiresAt(null, now)).toBeNull();
    expect(parseExpiresAt(undefined, now)).toBeNull();
    const later = new Date('2030-01-01T00:00:01Z');
    expect(parseExpiresAt(later, now)).toBe(later);
  });

  it.each(['2030-01-02', 1893542400000, 'tomorrow', '2030-02-29T00:00:00Z', ' 2030-01-02T00:00:00Z', 'on 2030-01-02T00:00:00Z'])('refuses %j as not an ISO-8601 date-time', (value) => {
    expect(refusal(() => parseExpiresAt(value, now))).toEqual({
      message: `expiresAt ${JSON.stringify(String(value))} is not an ISO-8601 date-time such as "2030-01-31T00:00:00Z"`,
      field: 'expiresAt',
    });
  });

  it('refuses the present and the past, saying what to do', () => {
    expect(refusal(() => parseExpiresAt('2030-01-01T00:00:00Z', now))).toEqual({
      message: 'expiresAt 2030-01-01T00:00:00.000Z is in the past: give a future instant, or omit it to keep the file until deleted',
      field: 'expiresAt',
    });
  });
});

describe('decideRange and etagMatches at their edges', () => {
  it.each([
    ['  bytes = 0 - 5  ', { kind: 'partial', range: { start: 0, end: 5 } }],
    ['BYTES=0-5', { kind: 'partial', range: { start: 0, end: 5 } }],
    ['xbytes=0-5', { kind: 'full' }],
    ['bytesx=0-5', { kind: 'full' }],
    ['bytes=0-5x', { kind: 'full' }],
    ['', { kind: 'full' }],
    ['bytes=99999999999999999999-', { kind: 'full' }],
    ['bytes=0-99999999999999999999', { kind: 'full' }],
    ['bytes=5-5', { kind: 'partial', range: { start: 5, end: 5 } }],
  ])('%j of 100 bytes → %j', (header, expected) => {
    expect(decideRange(header, 100)).toEqual(expected);
  });

  it('matches only whole weak or strong tags', () => {
    expect(etagMatches('xW/"abc"', '"abc"')).toBe(false);
    expect(etagMatches(' W/"abc" ', '"abc"')).toBe(true);
    expect(etagMatches('"abc"W/', '"abc"')).toBe(false);
  });
});

describe('CDN job limits and retries', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keep the documented limits', () => {
    expect(LIMITS).toEqual({
      cacheControl: 256,
      invalidationPaths: 100,
      invalidationPath: 1024,
      invalidationAttempts: 8,
      maxRetryDelayMs: 3_600_000,
      claimMs: 600_000,
      staleUploadMs: 3_600_000,
      uploadHeartbeatMs: 60_000,
      jobBatch: 20,
      sweepBatch: 100,
    });
  });

  it('retry after base × 2^(attempt-1), jittered by -20 % to +20 %', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    expect([1, 2, 3].map((attempt) => retryDelay(1000, attempt))).toEqual([800, 1600, 3200]);
    vi.spyOn(Math, 'random').mockReturnValue(1);
    expect([0, 1, 2].map((attempt) => retryDelay(1000, attempt))).toEqual([1200, 1200, 2400]);
    expect(retryDelay(1000, 50)).toBe(1.2 * 3_600_000);
    expect(retryDelay(1000, 1, 100)).toBe(1200);
  });

  it('keep provider messages and hide everything else', () => {
    expect(errorMessage(new ProviderError('S3 said 503 Slow Down', { retryable: true }))).toBe('S3 said 503 Slow Down');
    expect(errorMessage(new Error('EACCES: /var/lib/secret'))).toBe('unexpected storage failure (see the server log)');
    expect(errorMessage('text')).toBe('unexpected storage failure (see the server log)');
  });

  it('recognise header values HTTP can carry', () => {
    expect(isHeaderValue('public, max-age=60\t')).toBe(true);
    expect(isHeaderValue('é public')).toBe(false);
    expect(isHeaderValue('public é')).toBe(false);
  });
});
