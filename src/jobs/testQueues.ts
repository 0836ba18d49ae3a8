import { setTimeout as sleep } from 'node:timers/promises';

import { TransactionRollbackError } from 'drizzle-orm';

import type { Route } from '../server/app.js';
import { readBody, sendJson } from '../server/httpUtil.js';
import type { ServiceRuntime } from '../services/runtime.js';
import type { QueueDefinition } from './registry.js';

/**
 * Test-only jobs, present only when JOBS_TEST_QUEUES=1 (refused in production): a queue whose
 * handler logs its start and end, a route that sends to it, and — with
 * JOBS_TEST_EVERY_INTERVAL — a recurring task that logs each run. tests/distribution/jobs.test.ts
 * drives real server processes through them and reads their structured logs.
 */

/** Lease of the test queue: short, so a killed holder's job comes back within seconds. */
export const TEST_QUEUE_EXPIRE_SECONDS = 3;

export const testRecordQueue: QueueDefinition<'test.record'> = {
  queue: 'test.record',
  options: { expireInSeconds: TEST_QUEUE_EXPIRE_SECONDS, retryLimit: 3 },
  async handle({ runtime }, data, job) {
    const log = runtime.log.child({ testJob: data.marker, jobId: job.id, pid: process.pid });
    log.info({ latencyMs: data.sentAt ? Date.now() - data.sentAt : undefined }, 'test job started');
    if (data.sleepMs) await sleep(data.sleepMs);
    log.info('test job finished');
  },
};

export function addTestRecurringTask(runtime: ServiceRuntime): void {
  const intervalMs = runtime.config.jobs.testEveryMs;
  if (intervalMs === undefined) return;
  runtime.jobs.every('test.every', intervalMs, async () => {
    const startedAt = Date.now();
    await sleep(100);
    runtime.log.info({ testEvery: { startedAt, endedAt: Date.now() }, pid: process.pid }, 'test recurring task ran');
  });
}

interface SendRequest {
  data: { marker: string; sleepMs?: number };
  key?: string;
  /** Delay from now, in ms. */
  startAfterMs?: number;
  /** Send inside a transaction that then commits or rolls back. */
  tx?: 'commit' | 'rollback';
}

/** POST /__test/jobs: sends one test.record job as the body says; answers { sent }. */
export function testJobRoute(runtime: ServiceRuntime): Route {
  return {
    name: 'test-jobs',
    method: 'POST',
    match: (pathname) => pathname === '/__test/jobs',
    async handle(req, res) {
      const request = JSON.parse(await readBody(req, 64 * 1024)) as SendRequest;
      const data = { ...request.data, sentAt: Date.now() };
      const options = {
        key: request.key,
        startAfter: request.startAfterMs === undefined ? undefined : new Date(Date.now() + request.startAfterMs),
      };
      let sent = false;
      if (!request.tx) {
        sent = await runtime.jobs.send('test.record', data, options);
      } else {
        try {
          await runtime.db.transaction(async (tx) => {
            sent = await runtime.jobs.send('test.record', data, { ...options, tx });
            if (request.tx === 'rollback') tx.rollback();
          });
        } catch (error) {
          if (!(error instanceof TransactionRollbackError)) throw error;
        }
      }
      sendJson(res, 200, { sent });
    },
  };
}
