import type { Logger } from 'pino';

import type { Config } from '../config.js';
import type { CdnIntegrationService } from '../services/cdn/service.js';
import { PeriodicJob } from './periodicJob.js';

export interface CdnJobs {
  /** Runs every job once now (tests, and the final pass at shutdown for stats). */
  runAll(): Promise<void>;
  /** Stops the timers, waits for running passes, then flushes download counts a last time. */
  stop(): Promise<void>;
}

/**
 * Starts the CDN's background work for one server instance. Retries poll at the retry base
 * delay (bounded to 0.05–5 s), so a due row waits at most one poll past its backoff.
 */
export function startCdnJobs(cdn: CdnIntegrationService, config: Config, log: Logger): CdnJobs {
  const poll = Math.min(Math.max(config.cdnJobs.retryBaseMs, 50), 5_000);
  const jobs = [
    // Writes batched download counts.
    new PeriodicJob('cdn-download-stats-flush', config.cdnJobs.statsFlushMs, () => cdn.flushDownloadStats(), log),
    // Re-replicates FAILED regions and finishes REMOVING ones whose backoff is over.
    new PeriodicJob('cdn-region-retry', poll, () => cdn.retryRegions(), log),
    // Retries PENDING invalidations whose backoff is over.
    new PeriodicJob('cdn-invalidation-retry', poll, () => cdn.retryInvalidations(), log),
    // Expires files past expiresAt and cleans up crashed uploads.
    new PeriodicJob('cdn-expiry-sweep', config.cdnJobs.sweepIntervalMs, () => cdn.sweepExpired(), log),
  ];
  for (const job of jobs) job.start();
  return {
    async runAll() {
      for (const job of jobs) await job.runNow();
    },
    async stop() {
      await Promise.all(jobs.map((job) => job.stop()));
      await cdn.close();
    },
  };
}
