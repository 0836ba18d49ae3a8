import type { Config } from '../config.js';
import type { CdnIntegrationService } from '../services/cdn/service.js';
import type { JobEngine } from './engine.js';

/**
 * The CDN's background work. Retries poll at the retry base delay (bounded to 0.05–5 s), so a
 * due row waits at most one poll past its backoff. Each pass claims its rows in the database, so
 * running one twice is harmless; `every` still keeps them on one instance at a time.
 */
export function scheduleCdnJobs(jobs: JobEngine, cdn: CdnIntegrationService, config: Config): void {
  const poll = Math.min(Math.max(config.cdnJobs.retryBaseMs, 50), 5_000);
  // Download counts are this instance's in-memory tallies, so every instance flushes its own:
  // a per-instance timer, not deployment-wide work. cdn.close() flushes a last time at shutdown.
  jobs.everyOnThisInstance('cdn.download-stats-flush', config.cdnJobs.statsFlushMs, () => cdn.flushDownloadStats());
  // Re-replicates FAILED regions and finishes REMOVING ones whose backoff is over.
  jobs.every('cdn.region-retry', poll, () => cdn.retryRegions());
  // Retries PENDING invalidations whose backoff is over.
  jobs.every('cdn.invalidation-retry', poll, () => cdn.retryInvalidations());
  // Expires files past expiresAt and cleans up crashed uploads.
  jobs.every('cdn.expiry-sweep', config.cdnJobs.sweepIntervalMs, () => cdn.sweepExpired());
}
