import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { reportCounter } from '../../src/services/distribution/reports.js';
import { SYSTEM_ACTOR_ID } from '../../src/services/systemActor.js';
import {
  ApproveRollbackPlanDocument,
  AuditLogDocument,
  DistributeUpdateDocument,
  ExecuteRollbackPlanDocument,
  DistributionHealthDocument,
  ReportUpdateStatusDocument,
  RollbackPlanDocument,
  RollbackPlansDocument,
  RollbackPlanStatusDocument,
  type HealthGateInput,
  type RollbackPlanFieldsFragment,
  type UpdateReportStatus,
} from '../generated/graphql.js';
import { HttpClient, subscribe } from '../helpers/client.js';
import { createPostgresDatabase } from '../helpers/database.js';
import { seedReleases, waitForPlan } from '../helpers/rollback.js';
import { ADMIN_ID, spawnServer, startTestServer, TEST_JWT_SECRET, uniqueId, USER_ID, type TestServer } from '../helpers/server.js';
import { check, UPDATE_AVAILABLE, type Offer } from '../helpers/updateCheck.js';
import { mintToken } from '../../src/auth/tokens.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

/**
 * The health gate (automatic rollback): client reports sent over HTTP, counted in memory and
 * flushed in a batch; the flush hands the gated distributions to the gate, which pauses the
 * release and plans (and with autoExecute runs) a rollback exactly once.
 */

/** Flushes only when a test says so — the same method the recurring flush task calls. */
const CONTROLLED = { DISTRIBUTION_REPORT_FLUSH_INTERVAL: '1h', HEALTH_GATE_SWEEP_INTERVAL: '1h', JOBS_POLL_INTERVAL: '1s' };

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer(CONTROLLED);
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

/** 1.0.0 (good, live) and 1.1.0 distributed IMMEDIATE with the given gate. */
async function gatedRelease(target: TestServer, healthGate: HealthGateInput, releases = ['1.0.0', '1.1.0']) {
  const extensionId = uniqueId('gate');
  const bad = releases.at(-1)!;
  const seeded = await seedReleases(target, extensionId, releases, { notLive: [bad] });
  const client = await target.client('admin');
  const { distributeUpdate } = await client.data(DistributeUpdateDocument, { input: { packageId: seeded[bad]!.packageId, strategy: 'IMMEDIATE', healthGate } });
  return { extensionId, seeded, distribution: distributeUpdate, bad };
}

/** Client reports over HTTP, as extensions send them: `counts` of each status, each from its own client id. */
async function sendReports(client: HttpClient, extensionId: string, counts: Partial<Record<UpdateReportStatus, number>>, toVersion = '1.1.0', fromVersion = '1.0.0') {
  const sent: Promise<unknown>[] = [];
  for (const [status, n] of Object.entries(counts) as [UpdateReportStatus, number][]) {
    for (let i = 0; i < n; i++) {
      sent.push(client.data(ReportUpdateStatusDocument, { clientId: `${status.toLowerCase()}-${i}`, extensionId, fromVersion, toVersion, status, details: status === 'INSTALLED' ? null : { error: 'crash on start-up' } }));
    }
  }
  await Promise.all(sent);
}

const flush = () => server.app.services.distribution.flushReports();
const healthOf = async (id: string, client = admin) => (await client.data(DistributionHealthDocument, { id })).distribution!;
const auditOf = async (targetId: string) =>
  (await admin.data(AuditLogDocument, { filter: { targetId } })).auditLog.nodes.map((e) => ({ actor: e.actor.id, role: e.actor.role, operation: e.operation, outcome: e.outcome })).reverse();
const plansOf = async (extensionId: string, client = admin) => (await client.data(RollbackPlansDocument, { extensionId })).rollbackPlans.nodes;

describe('automatic rollback on a breach', () => {
  it('with autoExecute: reports over HTTP trip the gate at the flush → distribution PAUSED, a plan quoting the numbers by the system actor, approved and executed; clients on the bad version are offered the target with isRollback', async () => {
    const { extensionId, seeded, distribution } = await gatedRelease(server, { minSamples: 20, maxFailureRate: 0.05, autoExecute: true });
    expect(distribution.status).toBe('COMPLETED');
    expect(await check(user, { currentVersion: '1.0.0', extensionId, clientId: 'c-1' })).toMatchObject({ toVersion: '1.1.0', isRollback: false });

    // Subscribers: the plan's life on rollbackPlanStatus, and a client on 1.1.0 on updateAvailable.
    const ws = await server.ws('admin');
    const plans = await subscribe<{ rollbackPlanStatus: RollbackPlanFieldsFragment }>(ws, RollbackPlanStatusDocument, { extensionId });
    const offers = await subscribe<{ updateAvailable: Offer }>(await server.ws('user'), UPDATE_AVAILABLE, { currentVersion: '1.1.0', extensionId, clientId: 'on-bad' });

    await sendReports(user, extensionId, { INSTALLED: 33, FAILED: 5, ROLLED_BACK: 2, DOWNLOADED: 40 });
    await flush();

    const after = await healthOf(distribution.id);
    expect(after.healthGate).toEqual({ minSamples: 20, maxFailureRate: 0.05, autoExecute: true });
    expect(after.health).toMatchObject({ samples: 40, failures: 7, observedFailureRate: 0.175, breached: true, trippedAt: expect.any(String), rollbackPlanId: expect.any(String) });
    expect(after.health!.wilsonLowerBound).toBeCloseTo(0.0978, 4);
    // Paused by the gate (the executed plan then halts it for good).
    expectTimestampBetween(after.pausedAt, Date.parse(distribution.startedAt!));
    expect(after.pausedAt).toBe(after.health!.trippedAt); // paused by the trip, in its transaction
    expect(['PAUSED', 'HALTED']).toContain(after.status);

    const planId = after.health!.rollbackPlanId!;
    const done = await waitForPlan(admin, planId, (p) => p.status === 'COMPLETED');
    expect(done).toMatchObject({
      fromVersion: '1.1.0',
      toVersion: '1.0.0',
      extensionId,
      rollbackStrategy: 'IMMEDIATE',
      createdBy: SYSTEM_ACTOR_ID,
      approvedBy: SYSTEM_ACTOR_ID,
      error: null,
    });
    expect(done.reason).toBe(`health gate: 7 failures in 40 installs (17.5 %, Wilson lower bound 9.8 % > 5 %) of 1.1.0 (distribution ${distribution.id})`);
    expect(done.steps.map((s) => [s.name, s.status])).toEqual([
      ['halt-distributions', 'COMPLETED'],
      ['deprecate-version', 'COMPLETED'],
      ['distribute-target', 'COMPLETED'],
    ]);
    expect(after.health!.note).toContain(`rollback plan ${planId} to 1.0.0 created, to be approved and executed automatically`);
    expect((await healthOf(distribution.id)).status).toBe('HALTED');

    // Subscribers saw it live: created PENDING, approved, executing, completed.
    const seen: string[] = [];
    while (seen.at(-1) !== 'COMPLETED') {
      const status = (await plans.next(10_000)).data!.rollbackPlanStatus.status;
      if (seen.at(-1) !== status) seen.push(status);
    }
    expect(seen).toEqual(['PENDING', 'APPROVED', 'EXECUTING', 'COMPLETED']);
    const pushed = (await offers.next(10_000)).data!.updateAvailable;
    expect(pushed).toMatchObject({ fromVersion: '1.1.0', toVersion: '1.0.0', isRollback: true, distributionId: done.rollbackDistributionId });
    plans.close();
    offers.close();

    // The audit trail names the system as the actor of each step it took, oldest first.
    const system = { actor: 'system:health-gate', role: 'system', outcome: 'SUCCEEDED' };
    expect(await auditOf(planId)).toEqual([
      { ...system, operation: 'createRollbackPlan' },
      { ...system, operation: 'approveRollbackPlan' },
      { ...system, operation: 'executeRollbackPlan' },
    ]);
    expect(await auditOf(distribution.id)).toEqual([
      { actor: ADMIN_ID, role: 'admin', operation: 'distributeUpdate', outcome: 'SUCCEEDED' },
      { ...system, operation: 'pauseDistribution' },
    ]);
    const pauseEntry = (await admin.data(AuditLogDocument, { filter: { targetId: distribution.id, operation: 'pauseDistribution' } })).auditLog.nodes[0]!;
    expect(pauseEntry.details).toMatchObject({ from: { status: 'COMPLETED' }, to: { status: 'PAUSED' }, health: { samples: 40, failures: 7, minSamples: 20 }, rollbackPlanId: planId });

    // Over HTTP too; and 1.1.0 is never offered again.
    expect(await check(user, { currentVersion: '1.1.0', extensionId, clientId: 'on-bad' })).toMatchObject({ toVersion: '1.0.0', isRollback: true, packageId: seeded['1.0.0']!.packageId });
    expect(await check(user, { currentVersion: '1.0.0', extensionId, clientId: 'c-1' })).toBeNull();
  });

  it('without autoExecute the plan stays PENDING for an admin; the paused release is no longer offered; later flushes act no more', async () => {
    const { extensionId, distribution } = await gatedRelease(server, { minSamples: 30, maxFailureRate: 0.1 });
    expect(distribution.status).toBe('COMPLETED');
    await sendReports(user, extensionId, { INSTALLED: 20, FAILED: 10 });
    await flush();

    const tripped = await healthOf(distribution.id);
    expect(tripped.status).toBe('PAUSED');
    expect(tripped.healthGate).toEqual({ minSamples: 30, maxFailureRate: 0.1, autoExecute: false });
    const planId = tripped.health!.rollbackPlanId!;
    const plan = (await admin.data(RollbackPlanDocument, { id: planId })).rollbackPlan!;
    expect(plan).toMatchObject({ status: 'PENDING', fromVersion: '1.1.0', toVersion: '1.0.0', createdBy: SYSTEM_ACTOR_ID, approvedBy: null });
    expect(plan.reason).toMatch(/^health gate: 10 failures in 30 installs \(33\.3 %, Wilson lower bound 2\d\.\d % > 10 %\) of 1\.1\.0/);
    expect(plan.safetyChecks.filter((c) => c.status === 'FAILED')).toEqual([]);
    expect(tripped.health!.note).toContain('waiting for an admin to approve it');
    // Paused like pauseDistribution: a client below is offered the previous release again.
    expect(await check(user, { currentVersion: '0.0.1', extensionId, clientId: 'c-2' })).toMatchObject({ toVersion: '1.0.0' });
    expect(await check(user, { currentVersion: '1.0.0', extensionId, clientId: 'c-2' })).toBeNull();

    // More failures later: the gate has tripped once and does not act again.
    await sendReports(user, extensionId, { FAILED: 20 });
    await flush();
    const later = await healthOf(distribution.id);
    expect(later.health).toMatchObject({ samples: 50, failures: 30, trippedAt: tripped.health!.trippedAt, rollbackPlanId: planId });
    expect((await plansOf(extensionId)).map((p) => [p.id, p.status])).toEqual([[planId, 'PENDING']]);

    // An admin approves it like any plan (the paused version still counts as live for the checks).
    await admin.data(ApproveRollbackPlanDocument, { planId });
    await admin.data(ExecuteRollbackPlanDocument, { planId });
    expect((await waitForPlan(admin, planId, (p) => p.status === 'COMPLETED')).approvedBy).toBe(ADMIN_ID);
    expect((await auditOf(planId)).map((e) => [e.operation, e.actor])).toEqual([
      ['createRollbackPlan', 'system:health-gate'],
      ['approveRollbackPlan', ADMIN_ID],
      ['executeRollbackPlan', ADMIN_ID],
    ]);
  });

  it('with no earlier good version: pauses, records the breach without a plan, and says so', async () => {
    const { extensionId, distribution } = await gatedRelease(server, { minSamples: 10 }, ['1.0.0']);
    await sendReports(user, extensionId, { INSTALLED: 5, FAILED: 10 }, '1.0.0', '0.0.1');
    await flush();
    const tripped = await healthOf(distribution.id);
    expect(tripped.status).toBe('PAUSED');
    expect(tripped.health).toMatchObject({ breached: true, trippedAt: expect.any(String), rollbackPlanId: null });
    expect(tripped.health!.note).toContain('no rollback plan: there is no earlier version of 1.0.0 to go back to');
    expect(await plansOf(extensionId)).toEqual([]);
  });
});

describe('no rollback on thin or inconclusive evidence', () => {
  it('3 failures in the first 4 installs stay below minSamples (default 50): nothing happens', async () => {
    const { extensionId, distribution } = await gatedRelease(server, {});
    await sendReports(user, extensionId, { INSTALLED: 1, FAILED: 3 });
    await flush();
    const now = await healthOf(distribution.id);
    expect(now.healthGate).toEqual({ minSamples: 50, maxFailureRate: 0.05, autoExecute: false });
    expect(now.status).toBe('COMPLETED');
    expect(now.health).toMatchObject({ samples: 4, failures: 3, observedFailureRate: 0.75, breached: false, trippedAt: null, note: null, rollbackPlanId: null });
    expect(await plansOf(extensionId)).toEqual([]);
  });

  it('a raw ratio above maxFailureRate whose Wilson lower bound is not (4 of 50 = 8 % > 5 %, bound 3.6 %): nothing happens', async () => {
    const { extensionId, distribution } = await gatedRelease(server, { minSamples: 50, maxFailureRate: 0.05, autoExecute: true });
    await sendReports(user, extensionId, { INSTALLED: 46, FAILED: 2, ROLLED_BACK: 2 });
    await flush();
    const now = await healthOf(distribution.id);
    expect(now.status).toBe('COMPLETED');
    expect(now.health).toMatchObject({ samples: 50, failures: 4, observedFailureRate: 0.08, breached: false, trippedAt: null });
    expect(now.health!.wilsonLowerBound).toBeCloseTo(0.0364, 4);
    expect(await plansOf(extensionId)).toEqual([]);
  });
});

describe('exactly once', () => {
  it('concurrent evaluations (8 calls and 2 flushes at once) trip the gate once: one plan, one pause', async () => {
    const { extensionId, distribution } = await gatedRelease(server, { minSamples: 20, maxFailureRate: 0.05 });
    await sendReports(user, extensionId, { INSTALLED: 20, FAILED: 10 });
    // Counts into the database without the flush's own evaluation, so every caller below races on the breach.
    await reportCounter(server.app.runtime).flush(server.app.runtime.db);
    await sendReports(user, extensionId, { FAILED: 2 });
    const [first, second, ...evaluations] = await Promise.all([
      flush(),
      flush(),
      ...Array.from({ length: 8 }, () => server.app.services.rollback.evaluateHealthGates({ distributionIds: [distribution.id] })),
    ]);
    // Concurrent flushes share one write; whoever evaluated first acted, nobody else did.
    expect(second).toBe(first);
    expect(evaluations.flat().length).toBeLessThanOrEqual(1);
    const plans = await plansOf(extensionId);
    expect(plans).toHaveLength(1);
    const now = await healthOf(distribution.id);
    expect(now).toMatchObject({ status: 'PAUSED', health: { rollbackPlanId: plans[0]!.id, samples: 32, failures: 12 } });
    // One pause and one plan in the audit trail too: the instances that lost the race wrote nothing.
    expect((await auditOf(distribution.id)).map((e) => e.operation)).toEqual(['distributeUpdate', 'pauseDistribution']);
    expect((await auditOf(plans[0]!.id)).map((e) => [e.operation, e.actor])).toEqual([['createRollbackPlan', 'system:health-gate']]);
  });

  it('two server processes on one PostgreSQL database, each flushing its own share of the reports: one plan', async () => {
    const database = await createPostgresDatabase();
    const seeding = await startTestServer(CONTROLLED, database);
    const { extensionId, distribution } = await gatedRelease(seeding, { minSamples: 20, maxFailureRate: 0.05 });
    await seeding.close();
    const fast = { DISTRIBUTION_REPORT_FLUSH_INTERVAL: '100ms', JOBS_POLL_INTERVAL: '1s' };
    const instances = await Promise.all([spawnServer(fast, database), spawnServer(fast, database)]);
    try {
      const [userToken, adminToken] = await Promise.all([mintToken({ secret: TEST_JWT_SECRET, role: 'user', sub: USER_ID }), mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID })]);
      const [a, b] = instances.map((instance) => new HttpClient(`${instance.url}/graphql`, userToken));
      const adminA = new HttpClient(`${instances[0]!.url}/graphql`, adminToken);
      // Both instances hold failures past the threshold in every round, so both evaluate a breach.
      for (let round = 0; round < 4; round++) {
        await Promise.all([sendReports(a!, extensionId, { INSTALLED: 5, FAILED: 3 }), sendReports(b!, extensionId, { INSTALLED: 5, FAILED: 3 })]);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      const deadline = Date.now() + 10_000;
      let now = await healthOf(distribution.id, adminA);
      while (!now.health?.trippedAt && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        now = await healthOf(distribution.id, adminA);
      }
      // Let both instances flush what they still hold.
      await new Promise((resolve) => setTimeout(resolve, 500));
      now = await healthOf(distribution.id, adminA);
      expect(now.status).toBe('PAUSED');
      const plans = await plansOf(extensionId, adminA);
      expect(plans.map((p) => [p.id, p.status, p.createdBy])).toEqual([[now.health!.rollbackPlanId, 'PENDING', SYSTEM_ACTOR_ID]]);
      expect(now.health!.samples).toBe(64);
      const tripLogs = instances.map((instance) => (instance.output().match(/health gate tripped/g) ?? []).length);
      expect(tripLogs.reduce((sum, n) => sum + n, 0)).toBe(1);
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await database.drop();
    }
  }, 90_000);
});

describe('bad input', () => {
  it('refuses a gate with minSamples below 1 or fractional, or maxFailureRate outside (0, 1), with BAD_USER_INPUT, creating nothing', async () => {
    const extensionId = uniqueId('gate');
    const seeded = await seedReleases(server, extensionId, ['1.0.0'], { notLive: ['1.0.0'] });
    const packageId = seeded['1.0.0']!.packageId;
    const cases: HealthGateInput[] = [{ minSamples: 0 }, { minSamples: -1 }, { maxFailureRate: 0 }, { maxFailureRate: 1 }, { maxFailureRate: -0.05 }, { maxFailureRate: 1.5 }];
    for (const healthGate of cases) {
      const response = await admin.request(DistributeUpdateDocument, { input: { packageId, strategy: 'IMMEDIATE', healthGate } });
      expect({ healthGate, code: response.errors?.[0]?.extensions?.code }).toEqual({ healthGate, code: 'BAD_USER_INPUT' });
    }
    const fractional = await admin.request(DistributeUpdateDocument, { input: { packageId, strategy: 'IMMEDIATE', healthGate: { minSamples: 2.5 } } } as never);
    expect(fractional.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await plansOf(extensionId)).toEqual([]);
    // Nothing was created: the package can still be distributed, with the defaults.
    const { distributeUpdate } = await admin.data(DistributeUpdateDocument, { input: { packageId, strategy: 'IMMEDIATE', healthGate: {} } });
    expect((await healthOf(distributeUpdate.id)).healthGate).toEqual({ minSamples: 50, maxFailureRate: 0.05, autoExecute: false });
  });

  it('a distribution without a gate shows no gate and no health, and is never paused by reports', async () => {
    const extensionId = uniqueId('gate');
    const seeded = await seedReleases(server, extensionId, ['1.0.0', '1.1.0'], { notLive: ['1.1.0'] });
    const { distributeUpdate } = await admin.data(DistributeUpdateDocument, { input: { packageId: seeded['1.1.0']!.packageId, strategy: 'IMMEDIATE' } });
    await sendReports(user, extensionId, { INSTALLED: 10, FAILED: 90 });
    expect((await flush()).gatedDistributionIds).toEqual([]);
    expect(await healthOf(distributeUpdate.id)).toMatchObject({ status: 'COMPLETED', healthGate: null, health: null });
  });
});

describe('a server with four eyes and a fast sweep', () => {
  let strict: TestServer;
  let strictAdmin: HttpClient;
  const SECOND_ADMIN_ID = '00000000-0000-4000-8000-00000000a0a1';

  beforeAll(async () => {
    strict = await startTestServer({ ...CONTROLLED, ROLLBACK_REQUIRE_SECOND_APPROVER: 'true', HEALTH_GATE_SWEEP_INTERVAL: '200ms' });
    strictAdmin = await strict.client('admin');
  });
  afterAll(() => strict?.close());

  async function waitForTrip(id: string) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const now = await healthOf(id, strictAdmin);
      if (now.health?.trippedAt) return now;
      if (Date.now() > deadline) throw new Error(`gate of ${id} never tripped; last: ${JSON.stringify(now)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('the sweep trips a gate whose counts reached the database without an evaluation (as after the last flush at shutdown)', async () => {
    const { extensionId, distribution } = await gatedRelease(strict, { minSamples: 20 });
    await sendReports(await strict.client('user'), extensionId, { INSTALLED: 10, FAILED: 10 });
    await reportCounter(strict.app.runtime).flush(strict.app.runtime.db);
    const tripped = await waitForTrip(distribution.id);
    expect(tripped).toMatchObject({ status: 'PAUSED', health: { samples: 20, failures: 10, rollbackPlanId: expect.any(String) } });
  });

  it('autoExecute under ROLLBACK_REQUIRE_SECOND_APPROVER: the system cannot be the second approver, so the plan waits PENDING, the note and the audit trail say why, and another admin approves it', async () => {
    const { extensionId, distribution } = await gatedRelease(strict, { minSamples: 20, autoExecute: true });
    await sendReports(await strict.client('user'), extensionId, { INSTALLED: 10, FAILED: 10 });
    await strict.app.services.distribution.flushReports();
    const planId = (await healthOf(distribution.id, strictAdmin)).health!.rollbackPlanId!;
    const deadline = Date.now() + 15_000;
    let note = '';
    while (!note.includes('Automatic execution refused') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      note = (await healthOf(distribution.id, strictAdmin)).health!.note ?? '';
    }
    expect(note).toContain('Automatic execution refused');
    expect(note).toContain('another admin must approve it');
    expect((await strictAdmin.data(RollbackPlanDocument, { id: planId })).rollbackPlan!.status).toBe('PENDING');
    const entries = (await strictAdmin.data(AuditLogDocument, { filter: { targetId: planId } })).auditLog.nodes.map((e) => [e.operation, e.actor.id, e.outcome, e.errorCode]).reverse();
    expect(entries).toEqual([
      ['createRollbackPlan', 'system:health-gate', 'SUCCEEDED', null],
      ['approveRollbackPlan', 'system:health-gate', 'FAILED', 'FORBIDDEN'],
    ]);
    const second = new HttpClient(strictAdmin.url, await strict.token('admin', SECOND_ADMIN_ID));
    expect((await second.data(ApproveRollbackPlanDocument, { planId })).approveRollbackPlan).toMatchObject({ status: 'APPROVED', approvedBy: SECOND_ADMIN_ID });
  });
});
