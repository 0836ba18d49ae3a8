import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseDuration } from '../../src/config.js';
import { decideRange, etagMatches } from '../../src/server/cdnRoutes.js';
import { DEFAULT_CACHE_CONTROL, parseCacheControl, parseExpiresAt, parseInvalidationPaths, retryDelay } from '../../src/services/cdn/rules.js';
import { parseFileName } from '../../src/services/cdn/uploadPaths.js';

describe('decideRange (RFC 9110 byte ranges)', () => {
  it.each([
    [undefined, { kind: 'full' }],
    ['bytes=0-0', { kind: 'partial', range: { start: 0, end: 0 } }],
    ['bytes=10-', { kind: 'partial', range: { start: 10, end: 99 } }],
    ['bytes=-1', { kind: 'partial', range: { start: 99, end: 99 } }],
    ['bytes=-500', { kind: 'partial', range: { start: 0, end: 99 } }],
    ['bytes=90-1000', { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=100-200', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9-3', { kind: 'full' }],
    ['bytes=0-1,3-4', { kind: 'full' }],
    ['pages=1-2', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
  ])('%s of 100 bytes → %j', (header, expected) => {
    expect(decideRange(header, 100)).toEqual(expected);
  });

  it('finds nothing satisfiable in an empty body', () => {
    expect(decideRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('etagMatches (If-None-Match)', () => {
  it.each([
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
    [undefined, false],
  ])('%s → %s', (header, expected) => {
    expect(etagMatches(header, '"abc"')).toBe(expected);
  });
});

describe('parseInvalidationPaths', () => {
  it('keeps valid paths under the base path, once each', () => {
    expect(parseInvalidationPaths(['/cdn/a/b.zip', '/cdn/*', '/cdn/a/b.zip', '/cdn'], '/cdn')).toEqual(['/cdn/a/b.zip', '/cdn/*', '/cdn']);
    expect(parseInvalidationPaths(['/anything'], '')).toEqual(['/anything']);
  });

  it.each([
    ['relative', ['cdn/a']],
    ['dot-dot', ['/cdn/a/../../etc']],
    ['encoded dot-dot', ['/cdn/%2E%2E/x']],
    ['double-encoded dot-dot', ['/cdn/%252E%252E/x']],
    ['triple-encoded dot-dot', ['/cdn/%25252e%25252e/x']],
    ['encoded backslash traversal', ['/cdn/..%5Cx']],
    ['outside the base path', ['/cdnx/a']],
    ['not a list', '/cdn/a'],
    ['a non-string', [42]],
  ])('refuses %s', (_label, paths) => {
    expect(() => parseInvalidationPaths(paths, '/cdn')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
});

describe('upload options', () => {
  it('defaults Cache-Control to immutable for a year and keeps valid directives', () => {
    expect(parseCacheControl(undefined)).toBe(DEFAULT_CACHE_CONTROL);
    expect(parseCacheControl('public, max-age=60, stale-while-revalidate=30')).toBe('public, max-age=60, stale-while-revalidate=30');
    expect(parseCacheControl('private, no-cache="set-cookie"')).toBe('private, no-cache="set-cookie"');
    expect(parseCacheControl('private, x="a\\"b", y="tab\there"')).toBe('private, x="a\\"b", y="tab\there"');
  });

  // Each would be stored, then make every GET of the file fail in node:http (ERR_INVALID_CHAR).
  it.each(['private, x="☃"', 'x="\u0080"', 'x="é"', 'x="a\u0000b"', 'x="\u007f"', 'x="a\nb"'])('#6.4 refuses the Cache-Control %j: HTTP cannot carry it', (value) => {
    expect(() => parseCacheControl(value)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', extensions: expect.objectContaining({ field: 'cacheControl' }) }));
  });

  it.each(['', 'max-age=60;', 'public,\r\nx: y', 'max-age = 60 60', 'a'.repeat(300)])('refuses the Cache-Control %j', (value) => {
    expect(() => parseCacheControl(value)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it('takes a future ISO instant as expiresAt and refuses past or malformed ones', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    expect(parseExpiresAt('2030-01-02T00:00:00Z', now)).toEqual(new Date('2030-01-02T00:00:00Z'));
    for (const bad of ['2029-12-31T23:59:59Z', '2030-01-01T00:00:00Z', 'soon', '1893456000', '2030-02-30', '2030-02-30T00:00:00Z', '2030-04-31T12:00:00+02:00']) {
      expect(() => parseExpiresAt(bad, now)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    }
  });

  it.each(['a/b', 'a\\b', '..', '.', 'x\u0000y', 'tab\there', ' lead', 'é'.repeat(128)])('refuses the file name %j', (name) => {
    expect(() => parseFileName(name)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it('accepts a 255-byte file name with spaces', () => {
    const name = `release ${'x'.repeat(247)}`;
    expect(Buffer.byteLength(name)).toBe(255);
    expect(parseFileName(name)).toBe(name);
  });
});

describe('retryDelay', () => {
  it('doubles from the base with ±20% jitter, caps at an hour, and honours Retry-After', () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const delay = retryDelay(1000, attempt);
      expect(delay).toBeGreaterThanOrEqual(0.8 * 1000 * 2 ** (attempt - 1));
      expect(delay).toBeLessThanOrEqual(1.2 * 1000 * 2 ** (attempt - 1));
    }
    expect(retryDelay(1000, 40)).toBeLessThanOrEqual(1.2 * 3_600_000);
    expect(retryDelay(10, 1, 5000)).toBe(5000);
  });
});

describe('CDN job settings', () => {
  it('parse durations with units', () => {
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('0')).toBeUndefined();
  });

  it('default to 5 s flushes, 5 s retry base and a 60 s sweep', () => {
    expect(loadConfig({}).cdnJobs).toEqual({ statsFlushMs: 5000, retryBaseMs: 5000, sweepIntervalMs: 60_000 });
    expect(loadConfig({ CDN_STATS_FLUSH_INTERVAL: '2s', CDN_RETRY_BASE_DELAY: '100ms', CDN_SWEEP_INTERVAL: '5m' }).cdnJobs).toEqual({
      statsFlushMs: 2000,
      retryBaseMs: 100,
      sweepIntervalMs: 300_000,
    });
  });

  it('stop start-up naming every bad variable', () => {
    let problems: string[] = [];
    try {
      loadConfig({ CDN_STATS_FLUSH_INTERVAL: 'often', CDN_RETRY_BASE_DELAY: '1ms', CDN_SWEEP_INTERVAL: '-5s' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      problems = (error as ConfigError).problems;
    }
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^CDN_STATS_FLUSH_INTERVAL="often" is invalid/);
    expect(problems[1]).toMatch(/^CDN_RETRY_BASE_DELAY="1ms" is invalid: expected a duration of at least 10 ms/);
    expect(problems[2]).toMatch(/^CDN_SWEEP_INTERVAL="-5s" is invalid/);
  });
});
