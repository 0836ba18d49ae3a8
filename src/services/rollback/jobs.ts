import type { Config } from '../../config.js';
import type { QueueDefinition } from '../../jobs/registry.js';

/**
 * The rollback queues and their handlers. The lease (ROLLBACK_JOB_LEASE) is how long a plan
 * whose executing process died waits before another instance (or the restarted one) resumes it;
 * steps are short database transactions, so a minute is generous.
 */
export function rollbackQueues(config: Config): [QueueDefinition<'rollback.execute'>, QueueDefinition<'rollback.scheduled'>, QueueDefinition<'rollback.health-gate-execute'>] {
  const lease = { expireInSeconds: config.rollback.jobLeaseSeconds, retryLimit: 5 };
  return [
    { queue: 'rollback.execute', options: { ...lease, retryDelaySeconds: 1 }, handle: ({ services }, data) => services.rollback.runExecutionJob(data) },
    { queue: 'rollback.scheduled', options: { ...lease, retryDelaySeconds: 5 }, handle: ({ services }, data) => services.rollback.runScheduledJob(data) },
    // Approve + execute of a plan the health gate created (autoExecute): each step only from the state before it.
    { queue: 'rollback.health-gate-execute', options: { ...lease, retryDelaySeconds: 2 }, handle: ({ services }, data) => services.rollback.runHealthGateExecutionJob(data) },
  ];
}
