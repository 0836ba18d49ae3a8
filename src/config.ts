import path from 'node:path';

/**
 * The one place that reads `process.env`. Every variable is parsed here once; a bad value
 * is collected (not thrown at first sight) so start-up can name every bad variable at once.
 */

export type CdnProviderName = 'local' | 's3' | 'cloudfront' | 'cloudflare';
export const CDN_PROVIDERS: readonly CdnProviderName[] = ['local', 's3', 'cloudfront', 'cloudflare'];

export interface Config {
  /** `production` masks internals, turns off introspection and requires JWT_SECRET or JWT_JWKS_URL. */
  nodeEnv: string;
  isProduction: boolean;
  /** Unset: embedded PGlite under `dataDir`. Set: PostgreSQL through postgres.js. */
  databaseUrl: string | undefined;
  /** TCP port for HTTP and WebSocket (default 4000; 0 picks a free port). */
  port: number;
  /** Interface to bind (default `0.0.0.0`). */
  host: string;
  /** HS256 secret. Unset outside production: generated once under `dataDir`. */
  jwtSecret: string | undefined;
  /** When set, RS256/ES256 tokens are verified against this JWKS instead of the secret. */
  jwtJwksUrl: string | undefined;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  /**
   * Longest lifetime a token may have, in seconds (JWT_MAX_TTL, default 30 days). Tokens without
   * `exp`, or whose `exp − iat` or `exp − now` exceeds it, are refused. `JWT_MAX_TTL=unlimited`:
   * no bound, and tokens without `exp` are accepted (only for identity providers you trust to expire them).
   */
  jwtMaxTtlSeconds: number | undefined;
  /** A request body that sends no byte for this long is cut: 408 and the connection closed (BODY_IDLE_TIMEOUT, default 30 s). */
  bodyIdleTimeoutMs: number;
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics is public (its content is bounded). */
  metricsToken: string | undefined;
  cdnProvider: CdnProviderName;
  /** Public base URL of stored artifacts (default `http://localhost:<port>/cdn`). */
  cdnBaseUrl: string | undefined;
  cdnApiKey: string | undefined;
  /** Directory that upload paths are resolved inside (default `<dataDir>/uploads`). */
  uploadDir: string;
  /** Largest accepted artifact in bytes (default 2 GiB). Accepts suffixes: `500MB`, `2GiB`. */
  maxFileSize: number;
  /** Where the embedded database, generated secret and local CDN objects live (default `./data`). */
  dataDir: string;
  logLevel: string;
  /** Largest accepted GraphQL request body in bytes (default 1 MiB). */
  maxRequestBytes: number;
  /** Most subscriptions one WebSocket may hold at once (WS_MAX_SUBSCRIPTIONS, default 100). */
  wsMaxSubscriptions: number;
  /** Regions every upload is replicated to (`CDN_REGIONS=us-east,eu-west`); default one region, `default`. */
  cdnRegions: string[];
  /** Background CDN work, in milliseconds. */
  distribution: {
    /** How often client report and offer counts are written (DISTRIBUTION_REPORT_FLUSH_INTERVAL, default 5 s; also at shutdown). */
    reportFlushMs: number;
    /**
     * How often one instance re-evaluates every untripped health gate (HEALTH_GATE_SWEEP_INTERVAL,
     * default 60 s): a backstop for evaluations a flush could not run (at shutdown, or after an error).
     */
    healthGateSweepMs: number;
  };
  cdnJobs: {
    /** How often download counts are written to the database (CDN_STATS_FLUSH_INTERVAL, default 5 s; also at shutdown). */
    statsFlushMs: number;
    /** First retry delay of a failed region replica or invalidation, doubled per attempt up to an hour (CDN_RETRY_BASE_DELAY, default 5 s). */
    retryBaseMs: number;
    /** How often expired files are swept (CDN_SWEEP_INTERVAL, default 60 s). */
    sweepIntervalMs: number;
  };
  /** Delta packages (docs/deltas.md). */
  delta: {
    /**
     * When a full package is created, deltas are generated to it from this many earlier versions
     * of the owner — the most installed by client reports, only versions with a full package and
     * at least one install (DELTA_AUTO_BASES, default 3; 0 turns it off).
     */
    autoBases: number;
    /**
     * A generation that failed for a reason that may pass (reading or storing a package) is
     * asked for again this many times (DELTA_RETRIES, default 2, at most 10; 0 turns it off)…
     */
    retries: number;
    /** …the first after this delay, each next one 4× later (DELTA_RETRY_DELAY, default 60 s). */
    retryDelayMs: number;
  };
  /** Background job engine (pg-boss; see docs/jobs.md). */
  jobs: {
    /** How often expired leases are retried and finished jobs cleaned up (JOBS_SUPERVISE_INTERVAL, default 60 s, whole seconds). */
    superviseIntervalSeconds: number;
    /** Backstop poll of each queue; NOTIFY and due-time timers wake workers at once (JOBS_POLL_INTERVAL, default 30 s). */
    pollIntervalSeconds: number;
    /** JOBS_TEST_QUEUES=1 registers the test-only queue, recurring task and route (never in production). */
    testQueues: boolean;
    /** JOBS_TEST_EVERY_INTERVAL: interval of the test-only recurring task (with JOBS_TEST_QUEUES). */
    testEveryMs: number | undefined;
  };
  /** Rollback plans (see docs/rollback.md). */
  rollback: {
    /** ROLLBACK_REQUIRE_SECOND_APPROVER=true: a plan's approver must differ from its creator (four eyes). Default false. */
    requireSecondApprover: boolean;
    /** Lease of an execution job: a plan whose executing process died is resumed by another after this (ROLLBACK_JOB_LEASE, default 60 s). */
    jobLeaseSeconds: number;
    /** Test-only (ROLLBACK_TEST_HOLD_STEP, refused in production): the execution stops before doing this step's work, forever. */
    testHoldStep: string | undefined;
    /** Test-only (ROLLBACK_TEST_FAIL_STEP, refused in production): this step throws instead of doing its work. */
    testFailStep: string | undefined;
  };
  /** S3-compatible store (providers s3, cloudfront, cloudflare/R2). */
  s3: {
    endpoint: string | undefined;
    bucket: string | undefined;
    region: string;
    /** Path-style URLs (`endpoint/bucket/key`), needed by most self-hosted S3 servers (default true when S3_ENDPOINT is set). */
    forcePathStyle: boolean;
  };
  cloudfront: {
    distributionId: string | undefined;
    /** Override of the CloudFront API endpoint (tests point it at a local recorder). */
    endpoint: string | undefined;
  };
  cloudflare: {
    zoneId: string | undefined;
    /** Base of the Cloudflare API (default https://api.cloudflare.com/client/v4). */
    apiUrl: string;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Parses `1048576`, `500MB`, `2GiB`; returns undefined when the text is not a size. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const unit = SIZE_UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500`, `500ms`, `5s`, `2m`, `1h`, `30d` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? '').toLowerCase()]!);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

function isUrl(text: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** Reads the configuration from `env`; throws ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const bad = (name: string, value: string, allowed: string) =>
    problems.push(`${name}=${JSON.stringify(value)} is invalid: ${allowed}`);
  const text = (name: string) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const nodeEnv = text('NODE_ENV') ?? 'development';
  const isProduction = nodeEnv === 'production';

  const databaseUrl = text('DATABASE_URL');
  if (databaseUrl !== undefined && !isUrl(databaseUrl, ['postgres:', 'postgresql:'])) {
    bad('DATABASE_URL', databaseUrl, 'expected postgres://user@host:port/database, or unset for the embedded database');
  }

  let port = 4000;
  const portText = text('PORT');
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) bad('PORT', portText, 'expected a whole number from 0 to 65535');
  }

  const jwtSecret = text('JWT_SECRET');
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    problems.push('JWT_SECRET is too short: use at least 32 characters (e.g. `openssl rand -hex 32`)');
  }
  const jwtJwksUrl = text('JWT_JWKS_URL');
  if (jwtJwksUrl !== undefined && !isUrl(jwtJwksUrl, ['https:', 'http:'])) {
    bad('JWT_JWKS_URL', jwtJwksUrl, 'expected an http(s) URL of a JSON Web Key Set');
  }
  if (isProduction && jwtSecret === undefined && jwtJwksUrl === undefined) {
    problems.push('JWT_SECRET is required when NODE_ENV=production (or set JWT_JWKS_URL)');
  }

  const providerText = (text('CDN_PROVIDER') ?? 'local').toLowerCase();
  if (!CDN_PROVIDERS.includes(providerText as CdnProviderName)) {
    bad('CDN_PROVIDER', providerText, `expected one of ${CDN_PROVIDERS.join(', ')}`);
  }

  const cdnBaseUrl = text('CDN_BASE_URL')?.replace(/\/+$/, '');
  if (cdnBaseUrl !== undefined && !isUrl(cdnBaseUrl, ['https:', 'http:'])) {
    bad('CDN_BASE_URL', cdnBaseUrl, 'expected an http(s) URL such as https://cdn.example.com/files');
  }

  const dataDir = path.resolve(text('DATA_DIR') ?? './data');
  const uploadDir = path.resolve(text('UPLOAD_DIR') ?? path.join(dataDir, 'uploads'));

  let maxFileSize = 2 * 1024 ** 3;
  const maxFileText = text('MAX_FILE_SIZE');
  if (maxFileText !== undefined) {
    const parsed = parseByteSize(maxFileText);
    if (parsed === undefined) bad('MAX_FILE_SIZE', maxFileText, 'expected a positive byte count such as 104857600, 500MB or 2GiB');
    else maxFileSize = parsed;
  }

  let maxRequestBytes = 1024 ** 2;
  const maxRequestText = text('MAX_REQUEST_SIZE');
  if (maxRequestText !== undefined) {
    const parsed = parseByteSize(maxRequestText);
    if (parsed === undefined) bad('MAX_REQUEST_SIZE', maxRequestText, 'expected a positive byte count such as 1MiB');
    else maxRequestBytes = parsed;
  }

  let wsMaxSubscriptions = 100;
  const wsMaxText = text('WS_MAX_SUBSCRIPTIONS');
  if (wsMaxText !== undefined) {
    wsMaxSubscriptions = Number(wsMaxText);
    if (!/^\d+$/.test(wsMaxText) || wsMaxSubscriptions < 1 || wsMaxSubscriptions > 100_000) bad('WS_MAX_SUBSCRIPTIONS', wsMaxText, 'expected a whole number from 1 to 100000');
  }

  const logLevel = (text('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    bad('LOG_LEVEL', logLevel, 'expected one of fatal, error, warn, info, debug, trace, silent');
  }

  const regionsText = text('CDN_REGIONS');
  const cdnRegions = regionsText === undefined ? ['default'] : regionsText.split(',').map((r) => r.trim()).filter(Boolean);
  if (regionsText !== undefined && (cdnRegions.length === 0 || !cdnRegions.every((r) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(r)) || new Set(cdnRegions).size !== cdnRegions.length)) {
    bad('CDN_REGIONS', regionsText, 'expected distinct comma-separated region names of lowercase letters, digits and dashes, e.g. us-east,eu-west');
  }

  const s3Endpoint = text('S3_ENDPOINT');
  if (s3Endpoint !== undefined && !isUrl(s3Endpoint, ['https:', 'http:'])) bad('S3_ENDPOINT', s3Endpoint, 'expected an http(s) URL');
  const s3Bucket = text('S3_BUCKET');
  const usesS3 = providerText === 's3' || providerText === 'cloudfront' || providerText === 'cloudflare';
  if (usesS3 && s3Bucket === undefined) problems.push(`S3_BUCKET is required when CDN_PROVIDER=${providerText}`);
  if (usesS3 && cdnBaseUrl === undefined) problems.push(`CDN_BASE_URL is required when CDN_PROVIDER=${providerText}: the public URL files are served from`);
  const distributionId = text('CLOUDFRONT_DISTRIBUTION_ID');
  if (providerText === 'cloudfront' && distributionId === undefined) problems.push('CLOUDFRONT_DISTRIBUTION_ID is required when CDN_PROVIDER=cloudfront');
  const cloudfrontEndpoint = text('CLOUDFRONT_ENDPOINT');
  if (cloudfrontEndpoint !== undefined && !isUrl(cloudfrontEndpoint, ['https:', 'http:'])) bad('CLOUDFRONT_ENDPOINT', cloudfrontEndpoint, 'expected an http(s) URL');
  const zoneId = text('CLOUDFLARE_ZONE_ID');
  if (providerText === 'cloudflare' && zoneId === undefined) problems.push('CLOUDFLARE_ZONE_ID is required when CDN_PROVIDER=cloudflare');
  if (providerText === 'cloudflare' && text('CDN_API_KEY') === undefined) problems.push('CDN_API_KEY is required when CDN_PROVIDER=cloudflare (an API token with Cache Purge permission)');
  const cloudflareApiUrl = (text('CLOUDFLARE_API_URL') ?? 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '');
  if (!isUrl(cloudflareApiUrl, ['https:', 'http:'])) bad('CLOUDFLARE_API_URL', cloudflareApiUrl, 'expected an http(s) URL');
  const pathStyleText = text('S3_FORCE_PATH_STYLE');
  if (pathStyleText !== undefined && !['true', 'false'].includes(pathStyleText)) bad('S3_FORCE_PATH_STYLE', pathStyleText, 'expected true or false');

  // Timer durations stay below setTimeout's limit (2^31-1 ms, ~24.8 days): past it Node fires at once.
  const duration = (name: string, fallback: number, min: number, max = 2_147_483_647) => {
    const value = text(name);
    if (value === undefined) return fallback;
    const parsed = parseDuration(value);
    if (parsed === undefined || parsed < min || parsed > max) {
      bad(name, value, `expected a duration of at least ${min} ms and at most ${max} ms such as 500ms, 5s or 1m`);
      return fallback;
    }
    return parsed;
  };
  const cdnJobs = {
    statsFlushMs: duration('CDN_STATS_FLUSH_INTERVAL', 5_000, 50),
    retryBaseMs: duration('CDN_RETRY_BASE_DELAY', 5_000, 10),
    sweepIntervalMs: duration('CDN_SWEEP_INTERVAL', 60_000, 50),
  };

  let jwtMaxTtlSeconds: number | undefined = 30 * 86_400;
  const maxTtlText = text('JWT_MAX_TTL');
  if (maxTtlText !== undefined) {
    const parsed = parseDuration(maxTtlText);
    if (maxTtlText.toLowerCase() === 'unlimited') jwtMaxTtlSeconds = undefined;
    else if (parsed === undefined || parsed < 60_000) bad('JWT_MAX_TTL', maxTtlText, 'expected a lifetime of at least 1m such as 12h or 30d, or "unlimited"');
    else jwtMaxTtlSeconds = Math.floor(parsed / 1000);
  }
  const bodyIdleTimeoutMs = duration('BODY_IDLE_TIMEOUT', 30_000, 100, 3_600_000);
  const metricsToken = text('METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 16) {
    problems.push('METRICS_TOKEN is too short: use at least 16 characters (e.g. `openssl rand -hex 16`), or unset it to keep /metrics public');
  }
  const superviseMs = duration('JOBS_SUPERVISE_INTERVAL', 60_000, 1_000);
  const pollMs = duration('JOBS_POLL_INTERVAL', 30_000, 500);
  const testQueuesText = text('JOBS_TEST_QUEUES');
  if (testQueuesText !== undefined && !['0', '1'].includes(testQueuesText)) bad('JOBS_TEST_QUEUES', testQueuesText, 'expected 1 or 0');
  if (testQueuesText === '1' && isProduction) problems.push('JOBS_TEST_QUEUES=1 is for tests only and refused when NODE_ENV=production');
  const jobs = {
    superviseIntervalSeconds: Math.round(superviseMs / 1000),
    pollIntervalSeconds: pollMs / 1000,
    testQueues: testQueuesText === '1',
    testEveryMs: text('JOBS_TEST_EVERY_INTERVAL') === undefined ? undefined : duration('JOBS_TEST_EVERY_INTERVAL', 1_000, 10),
  };
  let autoBases = 3;
  const autoBasesText = text('DELTA_AUTO_BASES');
  if (autoBasesText !== undefined) {
    autoBases = Number(autoBasesText);
    if (!/^\d+$/.test(autoBasesText) || autoBases > 20) bad('DELTA_AUTO_BASES', autoBasesText, 'expected a whole number from 0 to 20');
  }
  let deltaRetries = 2;
  const deltaRetriesText = text('DELTA_RETRIES');
  if (deltaRetriesText !== undefined) {
    deltaRetries = Number(deltaRetriesText);
    if (!/^\d+$/.test(deltaRetriesText) || deltaRetries > 10) bad('DELTA_RETRIES', deltaRetriesText, 'expected a whole number from 0 to 10');
  }
  const deltaRetryDelayMs = duration('DELTA_RETRY_DELAY', 60_000, 100);
  const distribution = {
    reportFlushMs: duration('DISTRIBUTION_REPORT_FLUSH_INTERVAL', 5_000, 50),
    healthGateSweepMs: duration('HEALTH_GATE_SWEEP_INTERVAL', 60_000, 100),
  };

  const secondApproverText = text('ROLLBACK_REQUIRE_SECOND_APPROVER');
  if (secondApproverText !== undefined && !['true', 'false'].includes(secondApproverText)) bad('ROLLBACK_REQUIRE_SECOND_APPROVER', secondApproverText, 'expected true or false');
  const testHoldStep = text('ROLLBACK_TEST_HOLD_STEP');
  if (testHoldStep !== undefined && isProduction) problems.push('ROLLBACK_TEST_HOLD_STEP is for tests only and refused when NODE_ENV=production');
  const testFailStep = text('ROLLBACK_TEST_FAIL_STEP');
  if (testFailStep !== undefined && isProduction) problems.push('ROLLBACK_TEST_FAIL_STEP is for tests only and refused when NODE_ENV=production');
  const rollback = {
    requireSecondApprover: secondApproverText === 'true',
    jobLeaseSeconds: Math.max(1, Math.round(duration('ROLLBACK_JOB_LEASE', 60_000, 1_000, 3_600_000) / 1000)),
    testHoldStep,
    testFailStep,
  };

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    nodeEnv,
    isProduction,
    databaseUrl,
    port,
    host: text('HOST') ?? '0.0.0.0',
    jwtSecret,
    jwtJwksUrl,
    jwtIssuer: text('JWT_ISSUER'),
    jwtAudience: text('JWT_AUDIENCE'),
    jwtMaxTtlSeconds,
    bodyIdleTimeoutMs,
    metricsToken,
    cdnProvider: providerText as CdnProviderName,
    cdnBaseUrl,
    cdnApiKey: text('CDN_API_KEY'),
    uploadDir,
    maxFileSize,
    dataDir,
    logLevel,
    maxRequestBytes,
    wsMaxSubscriptions,
    cdnRegions,
    cdnJobs,
    jobs,
    distribution,
    delta: { autoBases, retries: deltaRetries, retryDelayMs: deltaRetryDelayMs },
    rollback,
    s3: {
      endpoint: s3Endpoint,
      bucket: s3Bucket,
      region: text('S3_REGION') ?? text('AWS_REGION') ?? 'us-east-1',
      forcePathStyle: pathStyleText === undefined ? s3Endpoint !== undefined : pathStyleText === 'true',
    },
    cloudfront: { distributionId, endpoint: cloudfrontEndpoint },
    cloudflare: { zoneId, apiUrl: cloudflareApiUrl },
  };
}
