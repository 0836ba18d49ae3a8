import postgres from 'postgres';
import { describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import {
  ApproveRollbackPlanDocument,
  CreateRollbackPlanDocument,
  ExecuteRollbackPlanDocument,
  RetryRollbackPlanDocument,
  RollbackPlanStatusDocument,
  type RollbackPlanFieldsFragment,
} from '../generated/graphql.js';
import { HttpClient, subscribe, wsClient } from '../helpers/client.js';
import { createPostgresDatabase, createTestDatabase } from '../helpers/database.js';
import { distributionsOf, rollbackDistributions, seedReleases, waitForPlan } from '../helpers/rollback.js';
import { ADMIN_ID, spawnServer, startTestServer, TEST_JWT_SECRET, uniqueId, type SpawnedServer } from '../helpers/server.js';

/**
 * Execution across real server processes: a SIGKILL in the middle of a step, and concurrent
 * executes spread over two instances sharing one PostgreSQL database.
 */

/** Short leases and polls: a dead executor's job comes back within seconds. */
const FAST_RECOVERY = { ROLLBACK_JOB_LEASE: '2s', JOBS_SUPERVISE_INTERVAL: '1s', JOBS_POLL_INTERVAL: '1s' };

const adminClient = async (server: { url: string }) =>
  new HttpClient(`${server.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID }));

describe('crash recovery', () => {
  it('a server killed with SIGKILL while a step runs: the restarted server finishes the plan, each step done once', async () => {
    const database = await createTestDatabase();
    const seeding = await startTestServer({}, database);
    const extensionId = uniqueId();
    const seeded = await seedReleases(seeding, extensionId, ['1.0.0', '1.1.0']);
    await seeding.close();

    let doomed: SpawnedServer | undefined = await spawnServer({ ...FAST_RECOVERY, ROLLBACK_TEST_HOLD_STEP: 'deprecate-version' }, database);
    let restarted: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const client = await adminClient(doomed);
      const plan = (await client.data(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'crash on start-up', extensionId } })).createRollbackPlan;
      await client.data(ApproveRollbackPlanDocument, { planId: plan.id });
      await client.data(ExecuteRollbackPlanDocument, { planId: plan.id });
      const held = await waitForPlan(client, plan.id, (p) => p.steps.some((s) => s.name === 'deprecate-version' && s.status === 'RUNNING'));
      expect(held.steps.map((s) => [s.name, s.status])).toEqual([
        ['halt-distributions', 'COMPLETED'],
        ['deprecate-version', 'RUNNING'],
        ['distribute-target', 'PENDING'],
      ]);
      expect(doomed.output()).toContain('rollback step held by ROLLBACK_TEST_HOLD_STEP');
      await doomed.stop('SIGKILL');
      doomed = undefined;

      restarted = await startTestServer(FAST_RECOVERY, database);
      const admin = await restarted.client('admin');
      const done = await waitForPlan(admin, plan.id, (p) => p.status === 'COMPLETED', 30_000);
      // The held step was started twice (before and after the crash) and done once; the others once.
      expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
        ['halt-distributions', 'COMPLETED', 1],
        ['deprecate-version', 'COMPLETED', 2],
        ['distribute-target', 'COMPLETED', 1],
      ]);
      expect(done.steps[1]!.message).toContain('Deprecated 1.1.0');
      expect((await distributionsOf(restarted, seeded['1.1.0']!.packageId)).map((d) => d.status)).toEqual(['HALTED']);
      expect(await rollbackDistributions(restarted, seeded['1.0.0']!.packageId)).toHaveLength(1);
    } finally {
      await doomed?.stop('SIGKILL');
      await restarted?.close();
      await database.drop();
    }
  }, 180_000);
});

describe('exactly once across instances (PostgreSQL)', () => {
  it('8 concurrent executes over two server processes: one EXECUTING, seven CONFLICT; a subscriber on the other instance sees it complete', async () => {
    const database = await createPostgresDatabase();
    const seeding = await startTestServer({}, database);
    const extensionId = uniqueId();
    const seeded = await seedReleases(seeding, extensionId, ['1.0.0', '1.1.0']);
    const plan = (await (await seeding.client('admin')).data(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'r', extensionId } })).createRollbackPlan;
    await (await seeding.client('admin')).data(ApproveRollbackPlanDocument, { planId: plan.id });
    await seeding.close();

    const servers = await Promise.all([spawnServer(FAST_RECOVERY, database), spawnServer(FAST_RECOVERY, database)]);
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const [a, b] = await Promise.all(servers.map(adminClient));
      const ws = wsClient(`${servers[0]!.url.replace('http', 'ws')}/graphql`, a!.token);
      const live = await subscribe<{ rollbackPlanStatus: RollbackPlanFieldsFragment }>(ws, RollbackPlanStatusDocument, { planId: plan.id });
      expect((await live.next()).data!.rollbackPlanStatus.status).toBe('APPROVED');

      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a! : b!).request(ExecuteRollbackPlanDocument, { planId: plan.id })));
      expect(results.filter((r) => r.data?.executeRollbackPlan?.status === 'EXECUTING')).toHaveLength(1);
      const conflicts = results.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT');
      expect(conflicts).toHaveLength(7);
      for (const conflict of conflicts) expect(conflict.errors![0]!.message).toMatch(/is (EXECUTING|COMPLETED)/);

      const statuses: string[] = [];
      for (;;) {
        const p = (await live.next(15_000)).data!.rollbackPlanStatus;
        statuses.push(p.status);
        if (p.status === 'COMPLETED') {
          expect(p.steps.map((s) => s.attempts)).toEqual([1, 1, 1]);
          break;
        }
      }
      expect(statuses[0]).toBe('EXECUTING');
      live.close();
      await ws.dispose();

      const [{ count }] = await sql<{ count: string }[]>`select count(*)::text as count from distributions where package_id = ${seeded['1.0.0']!.packageId} and is_rollback`;
      expect(count).toBe('1');
      const halted = await sql<{ status: string }[]>`select status from distributions where package_id = ${seeded['1.1.0']!.packageId}`;
      expect(halted.map((row) => row.status)).toEqual(['HALTED']);
    } finally {
      await sql.end();
      await Promise.all(servers.map((server) => server.stop()));
      await database.drop();
    }
  }, 180_000);
});

describe('a failing step', () => {
  it('marks the step and the plan FAILED with an error naming the step; retry resumes from that step without repeating the others', async () => {
    const database = await createTestDatabase();
    let failing: Awaited<ReturnType<typeof startTestServer>> | undefined = await startTestServer({ ROLLBACK_TEST_FAIL_STEP: 'distribute-target', JOBS_POLL_INTERVAL: '1s' }, database);
    let healthy: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const extensionId = uniqueId();
      const seeded = await seedReleases(failing, extensionId, ['1.0.0', '1.1.0']);
      const admin = await failing.client('admin');
      const plan = (await admin.data(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'r', extensionId } })).createRollbackPlan;
      await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
      await admin.data(ExecuteRollbackPlanDocument, { planId: plan.id });
      const failed = await waitForPlan(admin, plan.id, (p) => p.status === 'FAILED');
      expect(failed.error).toBe('step distribute-target failed: failed on purpose by ROLLBACK_TEST_FAIL_STEP (test hook)');
      expect(failed.steps.map((s) => [s.name, s.status])).toEqual([
        ['halt-distributions', 'COMPLETED'],
        ['deprecate-version', 'COMPLETED'],
        ['distribute-target', 'FAILED'],
      ]);
      expect(failed.steps[2]!.message).toContain('failed on purpose');
      // Nothing half-done: the failed step's work rolled back with it.
      expect(await rollbackDistributions(failing, seeded['1.0.0']!.packageId)).toHaveLength(0);
      await failing.close();
      failing = undefined;

      healthy = await startTestServer({ JOBS_POLL_INTERVAL: '1s' }, database);
      const again = await healthy.client('admin');
      expect((await again.data(RetryRollbackPlanDocument, { planId: plan.id })).retryRollbackPlan.status).toBe('EXECUTING');
      const done = await waitForPlan(again, plan.id, (p) => p.status === 'COMPLETED');
      expect(done.error).toBeNull();
      expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
        ['halt-distributions', 'COMPLETED', 1],
        ['deprecate-version', 'COMPLETED', 1],
        ['distribute-target', 'COMPLETED', 2],
      ]);
      expect(await rollbackDistributions(healthy, seeded['1.0.0']!.packageId)).toHaveLength(1);
    } finally {
      await failing?.close();
      await healthy?.close();
      await database.drop();
    }
  }, 180_000);
});
