import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { versions } from '../../src/db/schema.js';
import { estimateDowntime } from '../../src/services/rollback/estimate.js';
import {
  ApproveRollbackPlanDocument,
  CancelRollbackPlanDocument,
  CreateRollbackPlanDocument,
  ExecuteRollbackPlanDocument,
  RetryRollbackPlanDocument,
  RollbackPlanDocument,
  RollbackPlansDocument,
  RollbackPlanStatusDocument,
  type RollbackPlanFieldsFragment,
  type RollbackStrategy,
} from '../generated/graphql.js';
import { subscribe, type HttpClient } from '../helpers/client.js';
import { ADMIN_ID, startTestServer, uniqueId, type TestServer } from '../helpers/server.js';
import { corruptStoredObject, distributionsOf, restoreStoredObject, rollbackDistributions, seedReleases, waitForPlan } from '../helpers/rollback.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

let server: TestServer;
let admin: HttpClient;

beforeAll(async () => {
  server = await startTestServer({ JOBS_POLL_INTERVAL: '1s' });
  admin = await server.client('admin');
});
afterAll(async () => {
  await server?.close();
});

async function createPlan(input: { fromVersion: string; toVersion: string; extensionId: string; rollbackStrategy?: RollbackStrategy; scheduledAt?: string; reason?: string }) {
  return (await admin.data(CreateRollbackPlanDocument, { input: { reason: 'crash on start-up', ...input } })).createRollbackPlan;
}

function check(plan: RollbackPlanFieldsFragment, name: string) {
  const found = plan.safetyChecks.find((entry) => entry.name === name);
  if (!found) throw new Error(`no check ${name} on ${JSON.stringify(plan.safetyChecks)}`);
  return found;
}

async function errorOf(operation: Parameters<HttpClient['request']>[0], variables: Record<string, unknown>, client = admin) {
  const response = await client.request(operation, variables);
  return { code: response.errors?.[0]?.extensions?.code, message: response.errors?.[0]?.message ?? '' };
}

describe('rollback plan lifecycle', () => {
  it('creates, approves and executes a plan: halts and deprecates the current version, distributes the target as a rollback, with a step log and live status', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0'], {
      changelog: {
        '1.1.0': [
          { type: 'SECURITY', description: 'Escape paths in the sync log' },
          { type: 'CHANGED', description: 'New settings format', breaking: true },
        ],
      },
    });
    const ws = await server.ws('admin');
    const live = await subscribe<{ rollbackPlanStatus: RollbackPlanFieldsFragment }>(ws, RollbackPlanStatusDocument, { extensionId });

    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(plan).toMatchObject({ status: 'PENDING', fromVersion: '1.1.0', toVersion: '1.0.0', extensionId, rollbackStrategy: 'IMMEDIATE', createdBy: ADMIN_ID, steps: [] });
    expect(plan.safetyChecks.map((c) => [c.name, c.status])).toEqual([
      ['target-version-exists', 'PASSED'],
      ['target-older-than-current', 'PASSED'],
      ['target-not-deprecated', 'PASSED'],
      ['target-package-integrity', 'PASSED'],
      ['current-version-live', 'PASSED'],
      ['no-other-open-plan', 'PASSED'],
      ['changelog-risks', 'WARNING'],
    ]);
    expect(check(plan, 'changelog-risks').message).toContain('1.1.0: Escape paths in the sync log');
    expect(check(plan, 'changelog-risks').message).toContain('1.1.0: New settings format');
    expect(check(plan, 'target-package-integrity').message).toContain(`hashes to its sha256`);
    expect(plan.estimatedDowntime).toBe(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: seeded['1.0.0']!.bytes.length, liveClients: 0 }));

    const approved = (await admin.data(ApproveRollbackPlanDocument, { planId: plan.id })).approveRollbackPlan;
    expect(approved).toMatchObject({ status: 'APPROVED', approvedBy: ADMIN_ID });

    const executingAt = Date.now();
    const executing = (await admin.data(ExecuteRollbackPlanDocument, { planId: plan.id })).executeRollbackPlan;
    expect(executing.status).toBe('EXECUTING');
    expectTimestampBetween(executing.executedAt, executingAt);

    const done = await waitForPlan(admin, plan.id, (p) => p.status === 'COMPLETED');
    expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['halt-distributions', 'COMPLETED', 1],
      ['deprecate-version', 'COMPLETED', 1],
      ['distribute-target', 'COMPLETED', 1],
    ]);
    for (const step of done.steps) expect(new Date(step.finishedAt!).getTime()).toBeGreaterThanOrEqual(new Date(step.startedAt!).getTime());
    expectTimestampBetween(done.completedAt, Date.parse(done.steps.at(-1)!.finishedAt!)); // when its last step finished, or just after
    expect(done.error).toBeNull();

    const [current] = await server.app.runtime.db.select().from(versions).where(eq(versions.id, seeded['1.1.0']!.versionId));
    expect(current!.isDeprecated).toBe(true);
    expect(current!.deprecationReason).toContain(plan.id);
    expect((await distributionsOf(server, seeded['1.1.0']!.packageId)).map((d) => d.status)).toEqual(['HALTED']);
    const rollbacks = await rollbackDistributions(server, seeded['1.0.0']!.packageId);
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({ id: done.rollbackDistributionId, status: 'COMPLETED', percentage: 100, isRollback: true });
    const original = (await distributionsOf(server, seeded['1.0.0']!.packageId)).find((d) => d.id === seeded['1.0.0']!.distributionId);
    expect(original!.status).toBe('CANCELLED');

    // Live status: every status and step change, in order.
    const seen: string[] = [];
    for (;;) {
      const event = await live.next(5000);
      const p = event.data!.rollbackPlanStatus;
      const running = p.steps.find((s) => s.status === 'RUNNING');
      seen.push(running ? `${p.status}:${running.name}` : `${p.status}:${p.steps.filter((s) => s.status === 'COMPLETED').length}`);
      if (p.status === 'COMPLETED') break;
    }
    expect(seen).toEqual([
      'PENDING:0',
      'APPROVED:0',
      'EXECUTING:0',
      'EXECUTING:halt-distributions',
      'EXECUTING:1',
      'EXECUTING:deprecate-version',
      'EXECUTING:2',
      'EXECUTING:distribute-target',
      'EXECUTING:3',
      'COMPLETED:3',
    ]);
    live.close();

    // A finished plan refuses every transition, naming its state.
    for (const document of [ExecuteRollbackPlanDocument, ApproveRollbackPlanDocument, CancelRollbackPlanDocument, RetryRollbackPlanDocument]) {
      const { code, message } = await errorOf(document, { planId: plan.id });
      expect(code).toBe('CONFLICT');
      expect(message).toContain('is COMPLETED');
    }

    const list = (await admin.data(RollbackPlansDocument, { extensionId, status: 'COMPLETED' })).rollbackPlans;
    expect(list.totalCount).toBe(1);
    expect(list.nodes[0]!.id).toBe(plan.id);
  });

  it('cancels a PENDING or APPROVED plan, and a cancelled plan cannot be approved or executed', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
    expect((await admin.data(CancelRollbackPlanDocument, { planId: plan.id })).cancelRollbackPlan).toMatchObject({ status: 'CANCELLED', cancelledAt: expect.any(String) });
    expect(await errorOf(ExecuteRollbackPlanDocument, { planId: plan.id })).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('is CANCELLED') });
    expect(await errorOf(ApproveRollbackPlanDocument, { planId: plan.id })).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('is CANCELLED') });
    // A cancelled plan no longer blocks a new one.
    const next = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(check(next, 'no-other-open-plan').status).toBe('PASSED');
  });

  it('executes a PENDING plan only after approval (CONFLICT naming PENDING)', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(await errorOf(ExecuteRollbackPlanDocument, { planId: plan.id })).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('is PENDING') });
    expect(await errorOf(RetryRollbackPlanDocument, { planId: plan.id })).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('is PENDING') });
  });
});

describe('safety checks', () => {
  it('target-version-exists and target-not-deprecated fail for a missing or deprecated target; approval is CONFLICT naming the check', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0', '1.2.0']);
    const missing = await createPlan({ fromVersion: '1.2.0', toVersion: '0.9.0', extensionId });
    expect(check(missing, 'target-version-exists')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('0.9.0 does not exist') });
    const refused = await errorOf(ApproveRollbackPlanDocument, { planId: missing.id });
    expect(refused.code).toBe('CONFLICT');
    expect(refused.message).toContain('target-version-exists FAILED');
    expect((await admin.data(RollbackPlanDocument, { id: missing.id })).rollbackPlan!.status).toBe('PENDING');
    await admin.data(CancelRollbackPlanDocument, { planId: missing.id });

    await admin.request(`mutation($id: ID!) { deprecateVersion(id: $id, reason: "bad build") { id } }`, { id: seeded['1.0.0']!.versionId });
    const deprecated = await createPlan({ fromVersion: '1.2.0', toVersion: '1.0.0', extensionId });
    expect(check(deprecated, 'target-not-deprecated')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('bad build') });
    expect((await errorOf(ApproveRollbackPlanDocument, { planId: deprecated.id })).message).toContain('target-not-deprecated FAILED');
    await admin.data(CancelRollbackPlanDocument, { planId: deprecated.id });

    const ok = await createPlan({ fromVersion: '1.2.0', toVersion: '1.1.0', extensionId });
    expect(check(ok, 'target-version-exists').status).toBe('PASSED');
    expect(check(ok, 'target-not-deprecated').status).toBe('PASSED');
    expect(check(ok, 'changelog-risks').status).toBe('PASSED');
  });

  it('target-package-integrity fails without a full package, and when the stored bytes no longer hash to the checksum; passes again once restored', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['0.9.0', '1.0.0', '1.1.0'], { noPackage: ['0.9.0'] });
    const noPackage = await createPlan({ fromVersion: '1.1.0', toVersion: '0.9.0', extensionId });
    expect(check(noPackage, 'target-package-integrity')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('has no full update package') });
    await admin.data(CancelRollbackPlanDocument, { planId: noPackage.id });

    await corruptStoredObject(server, seeded['1.0.0']!);
    const corrupt = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(check(corrupt, 'target-package-integrity')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('do not match its checksum') });
    expect((await errorOf(ApproveRollbackPlanDocument, { planId: corrupt.id })).message).toContain('target-package-integrity FAILED');

    await restoreStoredObject(server, seeded['1.0.0']!);
    const approved = (await admin.data(ApproveRollbackPlanDocument, { planId: corrupt.id })).approveRollbackPlan;
    expect(approved.status).toBe('APPROVED');
    expect(check(approved, 'target-package-integrity').status).toBe('PASSED');

    // Execution re-runs the checks: bytes damaged after approval stop it, and the plan stays APPROVED.
    await corruptStoredObject(server, seeded['1.0.0']!);
    const stopped = await errorOf(ExecuteRollbackPlanDocument, { planId: corrupt.id });
    expect(stopped.code).toBe('CONFLICT');
    expect(stopped.message).toContain('target-package-integrity FAILED');
    const after = (await admin.data(RollbackPlanDocument, { id: corrupt.id })).rollbackPlan!;
    expect(after.status).toBe('APPROVED');
    expect(check(after, 'target-package-integrity').status).toBe('FAILED');
    await restoreStoredObject(server, seeded['1.0.0']!);
    await admin.data(CancelRollbackPlanDocument, { planId: corrupt.id });
  });

  it('current-version-live fails when the current version has no live distribution', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0'], { notLive: ['1.1.0'] });
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(check(plan, 'current-version-live')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('is not live') });
    const unknown = await createPlan({ fromVersion: '2.0.0', toVersion: '1.0.0', extensionId });
    expect(check(unknown, 'current-version-live')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('2.0.0 does not exist') });
  });

  it('no-other-open-plan fails while another plan of the same owner is open', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const first = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(check(first, 'no-other-open-plan').status).toBe('PASSED');
    const second = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    expect(check(second, 'no-other-open-plan')).toMatchObject({ status: 'FAILED', message: expect.stringContaining(first.id) });
    // Approval re-runs the checks: the second plan, open too, blocks the first until cancelled.
    expect((await errorOf(ApproveRollbackPlanDocument, { planId: first.id })).message).toContain('no-other-open-plan FAILED');
    await admin.data(CancelRollbackPlanDocument, { planId: second.id });
    expect((await admin.data(ApproveRollbackPlanDocument, { planId: first.id })).approveRollbackPlan.status).toBe('APPROVED');
  });

  it('schedule fails for a SCHEDULED plan in the past and passes for a future one', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const past = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId, rollbackStrategy: 'SCHEDULED', scheduledAt: new Date(Date.now() - 60_000).toISOString() });
    expect(check(past, 'schedule')).toMatchObject({ status: 'FAILED', message: expect.stringContaining('is in the past') });
    await admin.data(CancelRollbackPlanDocument, { planId: past.id });
    const future = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId, rollbackStrategy: 'SCHEDULED', scheduledAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect(check(future, 'schedule').status).toBe('PASSED');
    // Executing before its time is refused: it runs at scheduledAt by itself.
    await admin.data(ApproveRollbackPlanDocument, { planId: future.id });
    expect(await errorOf(ExecuteRollbackPlanDocument, { planId: future.id })).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('SCHEDULED for') });
    await admin.data(CancelRollbackPlanDocument, { planId: future.id });
  });

  it('estimatedDowntime grows with the strategy, the package size and the live clients', () => {
    const base = estimateDowntime({ strategy: 'IMMEDIATE', packageSize: 10 * 1024 * 1024, liveClients: 0 });
    expect(base).toBe(30 + 2);
    expect(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: 10 * 1024 * 1024, liveClients: 1000 })).toBe(base + 10);
    expect(estimateDowntime({ strategy: 'GRADUAL', packageSize: 10 * 1024 * 1024, liveClients: 1000 })).toBe(600 + 32 + 5);
    expect(estimateDowntime({ strategy: 'SCHEDULED', packageSize: 10 * 1024 * 1024, liveClients: 1000 })).toBe(base + 10);
  });
});

describe('the scheduled path', () => {
  it('a SCHEDULED plan executes by itself at scheduledAt', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const scheduledAt = new Date(Date.now() + 4_000);
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId, rollbackStrategy: 'SCHEDULED', scheduledAt: scheduledAt.toISOString() });
    await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
    const done = await waitForPlan(admin, plan.id, (p) => p.status === 'COMPLETED', 20_000);
    expect(new Date(done.executedAt!).getTime()).toBeGreaterThanOrEqual(scheduledAt.getTime());
    expect(done.steps.every((s) => s.status === 'COMPLETED' && s.attempts === 1)).toBe(true);
    expect(await rollbackDistributions(server, seeded['1.0.0']!.packageId)).toHaveLength(1);
  });
});

describe('exactly once', () => {
  it('8 concurrent executes: exactly one EXECUTING, seven CONFLICT, and each step runs once', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
    const results = await Promise.all(Array.from({ length: 8 }, () => admin.request(ExecuteRollbackPlanDocument, { planId: plan.id })));
    const wins = results.filter((r) => r.data?.executeRollbackPlan?.status === 'EXECUTING');
    const conflicts = results.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT');
    expect(wins).toHaveLength(1);
    expect(conflicts).toHaveLength(7);
    const done = await waitForPlan(admin, plan.id, (p) => p.status === 'COMPLETED');
    expect(done.steps.map((s) => s.attempts)).toEqual([1, 1, 1]);
    expect(await rollbackDistributions(server, seeded['1.0.0']!.packageId)).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('unknown plans are NOT_FOUND; bad versions, same or newer targets and bad schedules are BAD_USER_INPUT, and nothing is stored', async () => {
    const extensionId = uniqueId();
    const unknown = '00000000-0000-4000-8000-000000000123';
    for (const document of [ApproveRollbackPlanDocument, ExecuteRollbackPlanDocument, CancelRollbackPlanDocument, RetryRollbackPlanDocument]) {
      expect((await errorOf(document, { planId: unknown })).code).toBe('NOT_FOUND');
      expect((await errorOf(document, { planId: 'not-a-uuid' })).code).toBe('NOT_FOUND');
    }
    expect((await admin.data(RollbackPlanDocument, { id: unknown })).rollbackPlan).toBeNull();

    const bad = async (input: Record<string, unknown>) =>
      errorOf(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'r', extensionId, ...input } });
    expect(await bad({ toVersion: '1.1.0' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('same version') });
    expect(await bad({ toVersion: '1.1.0+build.7' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('same version') });
    expect(await bad({ toVersion: '2.0.0' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('newer than fromVersion') });
    expect(await bad({ fromVersion: 'v1.1.0' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('fromVersion') });
    expect(await bad({ toVersion: '1.0' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('toVersion') });
    expect(await bad({ reason: '  ' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('reason') });
    expect(await bad({ extensionId: null })).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(await bad({ rollbackStrategy: 'SCHEDULED' })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('needs scheduledAt') });
    expect(await bad({ scheduledAt: new Date(Date.now() + 60_000).toISOString() })).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringContaining('only applies to SCHEDULED') });
    expect((await admin.data(RollbackPlansDocument, { extensionId })).rollbackPlans.totalCount).toBe(0);
  });

  it('a user token is FORBIDDEN on every rollback operation, the subscription included', async () => {
    const extensionId = uniqueId();
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    const user = await server.client('user');
    for (const document of [ApproveRollbackPlanDocument, ExecuteRollbackPlanDocument, CancelRollbackPlanDocument, RetryRollbackPlanDocument]) {
      expect((await errorOf(document, { planId: plan.id }, user)).code).toBe('FORBIDDEN');
    }
    expect((await errorOf(RollbackPlanDocument, { id: plan.id }, user)).code).toBe('FORBIDDEN');
    expect((await errorOf(RollbackPlansDocument, {}, user)).code).toBe('FORBIDDEN');
    expect((await errorOf(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'r', extensionId } }, user)).code).toBe('FORBIDDEN');
    const ws = await server.ws('user');
    const sub = await subscribe(ws, RollbackPlanStatusDocument, { planId: plan.id });
    const first = await sub.next(2000).catch(() => undefined);
    const errors = (first?.errors ?? sub.errors.flat()) as { extensions?: { code?: string } }[];
    expect(errors[0]?.extensions?.code).toBe('FORBIDDEN');
    sub.close();
    expect((await admin.data(RollbackPlanDocument, { id: plan.id })).rollbackPlan!.status).toBe('PENDING');
  });
});

describe('four eyes (ROLLBACK_REQUIRE_SECOND_APPROVER=true)', () => {
  it('the creator cannot approve their own plan; another admin can', async () => {
    const strict = await startTestServer({ ROLLBACK_REQUIRE_SECOND_APPROVER: 'true' });
    try {
      const extensionId = uniqueId();
      await seedReleases(strict, extensionId, ['1.0.0', '1.1.0']);
      const creator = await strict.client('admin');
      const plan = (await creator.data(CreateRollbackPlanDocument, { input: { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'r', extensionId } })).createRollbackPlan;
      const own = await creator.request(ApproveRollbackPlanDocument, { planId: plan.id });
      expect(own.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(own.errors?.[0]?.message).toContain('another admin must approve it');
      const second = new (creator.constructor as typeof HttpClient)(creator.url, await strict.token('admin', '00000000-0000-4000-8000-00000000a0a1'));
      expect((await second.data(ApproveRollbackPlanDocument, { planId: plan.id })).approveRollbackPlan).toMatchObject({
        status: 'APPROVED',
        approvedBy: '00000000-0000-4000-8000-00000000a0a1',
      });
    } finally {
      await strict.close();
    }
  });
});

describe('clients after a rollback', () => {
  const CHECK = `query($v: String!, $e: ID) { checkForUpdates(currentVersion: $v, extensionId: $e, clientId: "client-1") { fromVersion toVersion isRollback distributionId packageId checksum } }`;
  const AVAILABLE = `subscription($v: String!, $e: ID) { updateAvailable(currentVersion: $v, extensionId: $e, clientId: "client-1") { fromVersion toVersion isRollback distributionId } }`;
  type Offer = { fromVersion: string; toVersion: string; isRollback: boolean; distributionId: string; packageId?: string; checksum?: string } | null;

  it('clients on the rolled-back version are offered the target with isRollback: true, over HTTP and over updateAvailable', async () => {
    const extensionId = uniqueId();
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const user = await server.client('user');
    expect((await user.data<{ checkForUpdates: Offer }>(CHECK, { v: '1.1.0', e: extensionId })).checkForUpdates).toBeNull();
    const ws = await server.ws('user');
    const offers = await subscribe<{ updateAvailable: Offer }>(ws, AVAILABLE, { v: '1.1.0', e: extensionId });

    const plan = await createPlan({ fromVersion: '1.1.0', toVersion: '1.0.0', extensionId });
    await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
    await admin.data(ExecuteRollbackPlanDocument, { planId: plan.id });
    const done = await waitForPlan(admin, plan.id, (p) => p.status === 'COMPLETED');

    const offer = (await user.data<{ checkForUpdates: Offer }>(CHECK, { v: '1.1.0', e: extensionId })).checkForUpdates;
    expect(offer).toMatchObject({ fromVersion: '1.1.0', toVersion: '1.0.0', isRollback: true, distributionId: done.rollbackDistributionId, packageId: seeded['1.0.0']!.packageId });
    const pushed = (await offers.next(10_000)).data!.updateAvailable;
    expect(pushed).toMatchObject({ fromVersion: '1.1.0', toVersion: '1.0.0', isRollback: true, distributionId: done.rollbackDistributionId });
    offers.close();
    // Clients already on the target, or below it, are not sent back and forth.
    expect((await user.data<{ checkForUpdates: Offer }>(CHECK, { v: '1.0.0', e: extensionId })).checkForUpdates).toBeNull();
    expect((await user.data<{ checkForUpdates: Offer }>(CHECK, { v: '0.0.1', e: extensionId })).checkForUpdates).toMatchObject({ toVersion: '1.0.0' });
  });
});
