import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rollbackAutomationService } from '../../src/services/rollbackAutomationService.js';
import { closeSharedRuntime } from '../../src/services/runtime.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { rollbackDistributions, seedReleases, waitForPlan, type SeededVersion } from '../helpers/rollback.js';
import { ADMIN_ID, startTestServer, TEST_JWT_SECRET, uniqueId } from '../helpers/server.js';

/**
 * The seed's programmatic rollback example, run as written: a release script imports the
 * ready-made instance and calls it with the seed's argument order. Execution is a durable job:
 * the script's runtime enqueues it, and a server on the same database runs it (here, the server
 * started after the script has exited, as after a deploy).
 */

const VARIABLES = ['DATA_DIR', 'DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL'] as const;
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
let database: TestDatabase;
const extensionId = uniqueId();
let seeded: Record<string, SeededVersion>;

beforeAll(async () => {
  database = await createTestDatabase();
  const seeding = await startTestServer({}, database);
  seeded = await seedReleases(seeding, extensionId, ['1.0.0', '1.1.0']);
  await seeding.close();
  process.env.DATA_DIR = database.dataDir;
  process.env.JWT_SECRET = TEST_JWT_SECRET;
  process.env.LOG_LEVEL = 'silent';
  if (database.url) process.env.DATABASE_URL = database.url;
  else delete process.env.DATABASE_URL;
});
afterAll(async () => {
  await closeSharedRuntime();
  for (const name of VARIABLES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  await database?.drop();
});

describe('rollbackAutomationService (the seed usage example)', () => {
  it("createRollbackPlan(from, to, reason, extensionId, undefined, 'immediate', undefined, adminId) → approveRollbackPlan(planId, adminId) → executeRollback(planId)", async () => {
    const adminId = ADMIN_ID;
    const plan = await rollbackAutomationService.createRollbackPlan('1.1.0', '1.0.0', 'Crash on start-up', extensionId, undefined, 'immediate', undefined, adminId);
    expect(plan).toMatchObject({ status: 'PENDING', fromVersion: '1.1.0', toVersion: '1.0.0', extensionId, productId: null, rollbackStrategy: 'IMMEDIATE', createdBy: adminId });
    expect(plan.safetyChecks.filter((check) => check.status === 'FAILED')).toEqual([]);
    expect(plan.estimatedDowntime).toBeGreaterThan(0);

    const approved = await rollbackAutomationService.approveRollbackPlan(plan.id, adminId);
    expect(approved).toMatchObject({ status: 'APPROVED', approvedBy: adminId });

    const executing = await rollbackAutomationService.executeRollback(plan.id);
    expect(executing.status).toBe('EXECUTING');

    // The contract's errors, as thrown values with `code`.
    await expect(rollbackAutomationService.executeRollback(plan.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(rollbackAutomationService.approveRollbackPlan('00000000-0000-4000-8000-000000000999', adminId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(rollbackAutomationService.createRollbackPlan('1.1.0', '1.1.0', 'r', extensionId)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(rollbackAutomationService.createRollbackPlan('1.1', '1.0.0', 'r', extensionId)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });

    // The script exits; a server on the same database runs the enqueued execution.
    await closeSharedRuntime();
    const server = await startTestServer({ JOBS_POLL_INTERVAL: '1s' }, database);
    try {
      const done = await waitForPlan(await server.client('admin'), plan.id, (p) => p.status === 'COMPLETED', 30_000);
      expect(done.steps.map((s) => s.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
      expect(await rollbackDistributions(server, seeded['1.0.0']!.packageId)).toHaveLength(1);
    } finally {
      await server.close();
    }
  }, 120_000);
});
