import type { Services } from '../services/index.js';
import { rollbackQueues } from '../services/rollback/jobs.js';
import type { ServiceRuntime } from '../services/runtime.js';
import { scheduleCdnJobs } from './cdnJobs.js';
import type { JobRegistration } from './engine.js';
import type { QueueName, QueuePayloads } from './queues.js';
import { addTestRecurringTask, testRecordQueue } from './testQueues.js';

/** What a handler works with: the same runtime and services as resolvers. */
export interface JobContext {
  runtime: ServiceRuntime;
  services: Services;
}

export interface QueueDefinition<Q extends QueueName> {
  queue: Q;
  /** Lease (`expireInSeconds`) and retries; see JobRegistration. */
  options?: JobRegistration;
  /** Runs at least once per job: must be idempotent (check the row's state before acting). */
  handle(context: JobContext, data: QueuePayloads[Q], job: { id: string }): Promise<void>;
}

/** A step is one short transaction: a 30 s lease retries it soon after its holder died; retries cover a database blip. */
const DISTRIBUTION_JOB_OPTIONS: JobRegistration = { expireInSeconds: 30, retryLimit: 10, retryDelaySeconds: 2 };

type AnyQueueDefinition = { [Q in QueueName]: QueueDefinition<Q> }[QueueName];

/**
 * Every job queue of the application and its handler: the one list. A queue is declared with
 * its data type in queues.ts and gets its entry here, e.g.
 * `{ queue: 'distribution.ramp-step', options: { expireInSeconds: 60 }, handle: ({ services }, data) => services.distribution.runRampStep(data) }`.
 */
const QUEUES: AnyQueueDefinition[] = [
  // Steps and go-lives are compare-and-set on the distribution row: a repeat or a stale job does nothing.
  { queue: 'distribution.ramp-step', options: DISTRIBUTION_JOB_OPTIONS, handle: ({ services }, data) => services.distribution.applyRampStep(data).then(() => undefined) },
  { queue: 'distribution.go-live', options: DISTRIBUTION_JOB_OPTIONS, handle: ({ services }, data) => services.distribution.goLive(data).then(() => undefined) },
  // Generation takes seconds to minutes (zstd level 19 over the whole package): a 15-minute lease;
  // a claimed generation is compare-and-set, and a failed one ends FAILED rather than retrying.
  { queue: 'delta.generate', options: { expireInSeconds: 900, retryLimit: 2, retryDelaySeconds: 5 }, handle: ({ services }, data) => services.delta.runGenerationJob(data) },
  // Only requests generations (short transactions); a repeat joins or skips what the first run started.
  { queue: 'delta.auto', options: { expireInSeconds: 120, retryLimit: 10, retryDelaySeconds: 5 }, handle: ({ services }, data) => services.delta.runAutomaticJob(data).then(() => undefined) },
  { queue: 'delta.retry', options: { expireInSeconds: 120, retryLimit: 10, retryDelaySeconds: 5 }, handle: ({ services }, data) => services.delta.runRetryJob(data).then(() => undefined) },
];

/**
 * Registers every queue and the recurring work, then starts the engine: with `work` (servers)
 * it also runs jobs and recurring tasks; without (scripts) it only makes `send` available.
 */
export async function startJobs({ runtime, services, work = true }: JobContext & { work?: boolean }): Promise<void> {
  const { jobs, config } = runtime;
  const context: JobContext = { runtime, services };
  const definitions: AnyQueueDefinition[] = [...QUEUES, ...rollbackQueues(config), ...(config.jobs.testQueues ? [testRecordQueue] : [])];
  for (const definition of definitions) register(definition, context);
  scheduleCdnJobs(jobs, services.cdn, config);
  // Client report and offer counts are this instance's in-memory tallies: each instance writes its own.
  // Each flush hands the gated distributions it wrote counts for to the health gate (createServices wires it).
  jobs.everyOnThisInstance('distribution.report-flush', config.distribution.reportFlushMs, () => services.distribution.flushReports());
  // Backstop for evaluations a flush could not run (at shutdown, after an error): one instance re-evaluates every untripped gate.
  jobs.every('rollback.health-gate-sweep', config.distribution.healthGateSweepMs, () => services.rollback.evaluateHealthGates());
  if (config.jobs.testQueues) addTestRecurringTask(runtime);
  await jobs.start({ work });
}

function register<Q extends QueueName>(definition: QueueDefinition<Q>, context: JobContext): void {
  context.runtime.jobs.register(definition.queue, (data, job) => definition.handle(context, data, job), definition.options);
}
