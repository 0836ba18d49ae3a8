import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseByteSize } from '../../src/config.js';

/** loadConfig with only these variables (never the test process's own environment). */
const load = (env: Record<string, string> = {}) => loadConfig(env);

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('starts on port 4000 with the embedded database under ./data and the local CDN', () => {
    const config = load();
    expect(config).toMatchObject({
      nodeEnv: 'development',
      isProduction: false,
      databaseUrl: undefined,
      port: 4000,
      host: '0.0.0.0',
      jwtSecret: undefined,
      jwtJwksUrl: undefined,
      cdnProvider: 'local',
      cdnBaseUrl: undefined,
      dataDir: path.resolve('./data'),
      uploadDir: path.resolve('./data/uploads'),
      maxFileSize: 2 * 1024 ** 3,
      maxRequestBytes: 1024 ** 2,
      logLevel: 'info',
      cdnRegions: ['default'],
    });
  });

  it('puts uploads under DATA_DIR unless UPLOAD_DIR says otherwise', () => {
    expect(load({ DATA_DIR: '/srv/dfd' }).uploadDir).toBe('/srv/dfd/uploads');
    expect(load({ DATA_DIR: '/srv/dfd', UPLOAD_DIR: '/mnt/artifacts' }).uploadDir).toBe('/mnt/artifacts');
  });

  it('treats blank variables as unset', () => {
    expect(load({ PORT: '  ', DATABASE_URL: '', CDN_PROVIDER: ' ' })).toMatchObject({ port: 4000, databaseUrl: undefined, cdnProvider: 'local' });
  });

  it('reads the values it is given', () => {
    const config = load({
      NODE_ENV: 'production',
      JWT_SECRET: 'x'.repeat(32),
      DATABASE_URL: 'postgres://app@db:5432/dfd',
      PORT: '0',
      CDN_PROVIDER: 'LOCAL',
      CDN_BASE_URL: 'https://cdn.example.com/files/',
      MAX_FILE_SIZE: '500MB',
      CDN_REGIONS: 'us-east, eu-west',
    });
    expect(config).toMatchObject({
      isProduction: true,
      databaseUrl: 'postgres://app@db:5432/dfd',
      port: 0,
      cdnProvider: 'local',
      cdnBaseUrl: 'https://cdn.example.com/files',
      maxFileSize: 500e6,
      cdnRegions: ['us-east', 'eu-west'],
    });
  });
});

describe('size suffixes', () => {
  it.each([
    ['1048576', 1048576],
    ['1', 1],
    ['10b', 10],
    ['500MB', 500e6],
    ['500mb', 500e6],
    ['1kb', 1000],
    ['1KiB', 1024],
    ['1k', 1024],
    ['2GiB', 2 * 1024 ** 3],
    ['2G', 2 * 1024 ** 3],
    ['1.5MiB', 1.5 * 1024 ** 2],
    [' 3 MiB ', 3 * 1024 ** 2],
    ['1TiB', 1024 ** 4],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
    expect(load({ MAX_FILE_SIZE: text }).maxFileSize).toBe(bytes);
  });

  it.each(['lots', '0', '-1', '1.2.3', '10 parsecs', 'MB', '1e6', '0.1', '99999999999TiB'])('%j is not a size', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
    expect(problemsOf({ MAX_FILE_SIZE: text })).toEqual([expect.stringMatching(/^MAX_FILE_SIZE=.*invalid/)]);
  });

  it('applies to MAX_REQUEST_SIZE too', () => {
    expect(load({ MAX_REQUEST_SIZE: '64KiB' }).maxRequestBytes).toBe(65536);
    expect(problemsOf({ MAX_REQUEST_SIZE: 'big' })).toEqual([expect.stringContaining('MAX_REQUEST_SIZE')]);
  });
});

describe('bad configuration', () => {
  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '65536' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['CDN_PROVIDER', { CDN_PROVIDER: 'ftp' }],
    ['MAX_FILE_SIZE', { MAX_FILE_SIZE: 'lots' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://root@db/dfd' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['JWT_SECRET', { JWT_SECRET: 'short' }],
    ['JWT_SECRET', { NODE_ENV: 'production' }],
    ['JWT_JWKS_URL', { JWT_JWKS_URL: 'ftp://keys.example.com/jwks.json' }],
    ['CDN_BASE_URL', { CDN_BASE_URL: 'cdn.example.com' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['CDN_REGIONS', { CDN_REGIONS: 'US East' }],
    ['CDN_REGIONS', { CDN_REGIONS: 'eu,eu' }],
  ] as const)('names %s for %j', (variable, env) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(variable);
  });

  it('accepts production with JWT_JWKS_URL instead of JWT_SECRET', () => {
    expect(load({ NODE_ENV: 'production', JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json' }).jwtJwksUrl).toBe(
      'https://id.example.com/.well-known/jwks.json',
    );
  });

  it('lists every bad variable in one ConfigError, one line each', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      PORT: 'abc',
      CDN_PROVIDER: 'ftp',
      MAX_FILE_SIZE: 'lots',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
    });
    for (const variable of ['PORT', 'CDN_PROVIDER', 'MAX_FILE_SIZE', 'DATABASE_URL', 'LOG_LEVEL', 'JWT_SECRET']) {
      expect(problems.filter((line) => line.includes(variable)), variable).toHaveLength(1);
    }
    expect(problems).toHaveLength(6);
    for (const line of problems) expect(line).not.toContain('\n');
  });

  it('ConfigError.message joins the problems line by line', () => {
    try {
      load({ PORT: 'abc', CDN_PROVIDER: 'ftp' });
    } catch (error) {
      expect((error as Error).message.split('\n')).toEqual((error as ConfigError).problems);
      return;
    }
    throw new Error('expected a ConfigError');
  });

  it('requires the S3 settings a non-local provider needs, naming each', () => {
    const problems = problemsOf({ CDN_PROVIDER: 'cloudflare' });
    for (const variable of ['S3_BUCKET', 'CDN_BASE_URL', 'CLOUDFLARE_ZONE_ID', 'CDN_API_KEY']) {
      expect(problems.some((line) => line.startsWith(variable)), variable).toBe(true);
    }
  });
});

describe('hardening settings (issue 6)', () => {
  it('#6.14 JWT_MAX_TTL: 30 days by default, any duration from 1m, "unlimited" for none', () => {
    expect(load().jwtMaxTtlSeconds).toBe(30 * 86_400);
    expect(load({ JWT_MAX_TTL: '12h' }).jwtMaxTtlSeconds).toBe(43_200);
    expect(load({ JWT_MAX_TTL: '7d' }).jwtMaxTtlSeconds).toBe(7 * 86_400);
    expect(load({ JWT_MAX_TTL: 'unlimited' }).jwtMaxTtlSeconds).toBeUndefined();
    expect(problemsOf({ JWT_MAX_TTL: 'forever' })[0]).toMatch(/^JWT_MAX_TTL="forever" is invalid/);
    expect(problemsOf({ JWT_MAX_TTL: '30s' })[0]).toMatch(/^JWT_MAX_TTL="30s" is invalid/);
  });

  it('#6.9 BODY_IDLE_TIMEOUT: 30 s by default, 100 ms to 1 h', () => {
    expect(load().bodyIdleTimeoutMs).toBe(30_000);
    expect(load({ BODY_IDLE_TIMEOUT: '2m' }).bodyIdleTimeoutMs).toBe(120_000);
    expect(problemsOf({ BODY_IDLE_TIMEOUT: '2h' })[0]).toMatch(/^BODY_IDLE_TIMEOUT="2h" is invalid/);
  });

  it('#6.13 METRICS_TOKEN: unset keeps /metrics public; a set one has at least 16 characters', () => {
    expect(load().metricsToken).toBeUndefined();
    expect(load({ METRICS_TOKEN: 'a'.repeat(16) }).metricsToken).toBe('a'.repeat(16));
    expect(problemsOf({ METRICS_TOKEN: 'short' })[0]).toMatch(/^METRICS_TOKEN is too short/);
  });

  it('timer durations stay below setTimeout\'s 24.8-day limit', () => {
    expect(problemsOf({ CDN_SWEEP_INTERVAL: '30d' })[0]).toMatch(/^CDN_SWEEP_INTERVAL="30d" is invalid/);
  });
});

describe('health gate settings (issue 8.6)', () => {
  it('HEALTH_GATE_SWEEP_INTERVAL: 60 s by default, at least 100 ms', () => {
    expect(load().distribution.healthGateSweepMs).toBe(60_000);
    expect(load({ HEALTH_GATE_SWEEP_INTERVAL: '5m' }).distribution.healthGateSweepMs).toBe(300_000);
    expect(problemsOf({ HEALTH_GATE_SWEEP_INTERVAL: '10ms' })[0]).toMatch(/^HEALTH_GATE_SWEEP_INTERVAL="10ms" is invalid/);
  });

  it('DELTA_AUTO_BASES: 3 by default, 0 turns automatic deltas off, at most 20', () => {
    expect(load().delta.autoBases).toBe(3);
    expect(load({ DELTA_AUTO_BASES: '0' }).delta.autoBases).toBe(0);
    expect(load({ DELTA_AUTO_BASES: '20' }).delta.autoBases).toBe(20);
    for (const bad of ['21', '-1', 'two', '1.5']) expect(problemsOf({ DELTA_AUTO_BASES: bad })[0]).toMatch(/^DELTA_AUTO_BASES=.* is invalid: expected a whole number from 0 to 20/);
  });

  it('DELTA_RETRIES: 2 by default, 0 turns retries off, at most 10; DELTA_RETRY_DELAY: 60 s by default, at least 100 ms', () => {
    expect(load().delta).toMatchObject({ retries: 2, retryDelayMs: 60_000 });
    expect(load({ DELTA_RETRIES: '0', DELTA_RETRY_DELAY: '2s' }).delta).toMatchObject({ retries: 0, retryDelayMs: 2_000 });
    expect(load({ DELTA_RETRIES: '10' }).delta.retries).toBe(10);
    for (const bad of ['11', '-1', 'two', '1.5']) expect(problemsOf({ DELTA_RETRIES: bad })[0]).toMatch(/^DELTA_RETRIES=.* is invalid: expected a whole number from 0 to 10/);
    expect(problemsOf({ DELTA_RETRY_DELAY: '10ms' })[0]).toMatch(/^DELTA_RETRY_DELAY="10ms" is invalid/);
  });
});
