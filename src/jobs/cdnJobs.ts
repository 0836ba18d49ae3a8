import type { Logger } from 'pino';

import type { Config } from '../config.js';
import type { CdnIntegrationService } from '../services/cdnIntegrationService.js';
import { PeriodicJob } from './periodicJob.js';

/** Writes batched download counts (every CDN_STATS_FLUSH_INTERVAL). */
class DownloadStatsFlushJob extends PeriodicJob {
  readonly name = 'cdn-download-stats-flush';
  constructor(private readonly cdn: CdnIntegrationService, intervalMs: number, log: Logger) {
    super(intervalMs, log);
  }
  protected async perform(): Promise<void> {
    await this.cdn.flushDownloadStats();
  }
}

/** Re-replicates FAILED regions and finishes REMOVING ones whose backoff is over. */
class RegionRetryJob extends PeriodicJob {
  readonly name = 'cdn-region-retry';
  constructor(private readonly cdn: CdnIntegrationService, intervalMs: number, log: Logger) {
    super(intervalMs, log);
  }
  protected async perform(): Promise<void> {
    await this.cdn.retryRegions();
  }
}

/** Retries PENDING invalidations whose backoff is over. */
class InvalidationRetryJob extends PeriodicJob {
  readonly name = 'cdn-invalidation-retry';
  constructor(private readonly cdn: CdnIntegrationService, intervalMs: number, log: Logger) {
    super(intervalMs, log);
  }
  protected async perform(): Promise<void> {
    await this.cdn.retryInvalidations();
  }
}

/** Expires files past expiresAt and cleans up crashed uploads. */
class ExpirySweepJob extends PeriodicJob {
  readonly name = 'cdn-expiry-sweep';
  constructor(private readonly cdn: CdnIntegrationService, intervalMs: number, log: Logger) {
    super(intervalMs, log);
  }
  protected async perform(): Promise<void> {
    await this.cdn.sweepExpired();
  }
}

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
    new DownloadStatsFlushJob(cdn, config.cdnJobs.statsFlushMs, log),
    new RegionRetryJob(cdn, poll, log),
    new InvalidationRetryJob(cdn, poll, log),
    new ExpirySweepJob(cdn, config.cdnJobs.sweepIntervalMs, log),
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
