import type { Services } from '../services/index.js';
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

type AnyQueueDefinition = { [Q in QueueName]: QueueDefinition<Q> }[QueueName];

/**
 * Every job queue of the application and its handler: the one list. A queue is declared with
 * its data type in queues.ts and gets its entry here, e.g.
 * `{ queue: 'distribution.ramp-step', options: { expireInSeconds: 60 }, handle: ({ services }, data) => services.distribution.runRampStep(data) }`.
 */
const QUEUES: AnyQueueDefinition[] = [];

/**
 * Registers every queue and the recurring work, then starts the engine: with `work` (servers)
 * it also runs jobs and recurring tasks; without (scripts) it only makes `send` available.
 */
export async function startJobs({ runtime, services, work = true }: JobContext & { work?: boolean }): Promise<void> {
  const { jobs, config } = runtime;
  const context: JobContext = { runtime, services };
  const definitions = config.jobs.testQueues ? [...QUEUES, testRecordQueue] : QUEUES;
  for (const definition of definitions) register(definition, context);
  scheduleCdnJobs(jobs, services.cdn, config);
  if (config.jobs.testQueues) addTestRecurringTask(runtime);
  await jobs.start({ work });
}

function register<Q extends QueueName>(definition: QueueDefinition<Q>, context: JobContext): void {
  context.runtime.jobs.register(definition.queue, (data, job) => definition.handle(context, data, job), definition.options);
}
