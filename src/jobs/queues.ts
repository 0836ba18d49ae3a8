import type { DeltaAutoJob, DeltaGenerationJob, DeltaRetryJob } from '../services/delta/jobs.js';
import type { GoLiveJob, RampStepJob } from '../services/distribution/jobs.js';

/**
 * The one module that declares job queues: queue name → the data its jobs carry. A queue
 * gets its handler (and lease/retry options) in `registry.ts`; `runtime.jobs.send` is typed
 * from this map, so a job can only be sent with the data its handler expects.
 *
 * Job data travels as JSON: use strings, numbers, booleans, arrays and plain objects (a Date
 * arrives as its ISO string).
 */
export interface QueuePayloads {
  /** Applies one step of a distribution's ramp (services/distribution/jobs.ts). */
  'distribution.ramp-step': RampStepJob;
  /** Takes a scheduled distribution live. */
  'distribution.go-live': GoLiveJob;
  /** Runs (or resumes) a rollback plan's steps; `generation` is the plan's execution generation it was sent for. */
  'rollback.execute': { planId: string; generation: number };
  /** Executes an approved SCHEDULED rollback plan at its scheduledAt (sent with startAfter). */
  'rollback.scheduled': { planId: string };
  /** Approves and executes the rollback plan a distribution's health gate created (autoExecute); sent in the trip's transaction. */
  'rollback.health-gate-execute': { planId: string; distributionId: string };
  /** Builds, verifies and stores one delta package (services/delta); keyed by version pair and attempt. */
  'delta.generate': DeltaGenerationJob;
  /** Asks for deltas to a new full package from the most-installed earlier versions (DELTA_AUTO_BASES); sent in the package's transaction, keyed by its id. */
  'delta.auto': DeltaAutoJob;
  /** Asks again for a delta whose generation failed for a reason that may pass (DELTA_RETRIES); sent, delayed, with the FAILED mark. */
  'delta.retry': DeltaRetryJob;

  /** Test-only (registered when JOBS_TEST_QUEUES=1): logs its start and end, sleeps in between. */
  'test.record': { marker: string; sleepMs?: number; sentAt?: number };
}

export type QueueName = keyof QueuePayloads;
