import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { versions } from '../../src/db/schema.js';
import { PERMISSIONS } from '../../src/graphql/permissions.js';
import { AUDITED_OPERATIONS } from '../../src/services/audit/operations.js';
import {
  ApproveRollbackPlanDocument,
  AuditLogDocument,
  CancelDistributionDocument,
  CancelRollbackPlanDocument,
  CreateRollbackPlanDocument,
  CreateUpdatePackageDocument,
  CreateVersionDocument,
  DeleteCdnFileDocument,
  DeprecateVersionDocument,
  DistributeUpdateDocument,
  ExecuteRollbackPlanDocument,
  GenerateDeltaPackageDocument,
  InvalidateCdnCacheDocument,
  PauseDistributionDocument,
  ResumeDistributionDocument,
  RetryRollbackPlanDocument,
  UpdateDistributionPercentageDocument,
  UploadCdnFileDocument,
  type AuditEntryFieldsFragment,
  type AuditLogFilter,
} from '../generated/graphql.js';
import { putInUploads, randomBytes } from '../helpers/cdnFiles.js';
import { HttpClient } from '../helpers/client.js';
import { createVersions, distribute, ownerWithPackage } from '../helpers/distribution.js';
import { RollbackAutomationSeedApi } from '../../src/services/rollback/seedApi.js';
import { seedReleases, waitForPlan } from '../helpers/rollback.js';
import { ADMIN_ID, startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * The audit trail, end to end: every admin mutation leaves exactly one SUCCEEDED entry written
 * with its change; refusals leave a FAILED entry and change nothing; a change whose transaction
 * rolls back leaves no SUCCEEDED entry; `auditLog` filters, pages and refuses bad input.
 *
 * The server fails the rollback's last step on purpose (ROLLBACK_TEST_FAIL_STEP), so a plan
 * can be brought to FAILED and retried here.
 */

let server: TestServer;
let admin: HttpClient;

beforeAll(async () => {
  server = await startTestServer({ JOBS_POLL_INTERVAL: '1s', ROLLBACK_TEST_FAIL_STEP: 'distribute-target' });
  admin = await server.client('admin');
});
afterAll(async () => {
  await server?.close();
});

async function auditLog(filter: AuditLogFilter = {}, first = 200, after?: string) {
  return (await admin.data(AuditLogDocument, { filter, first, after })).auditLog;
}

async function entriesFor(targetId: string) {
  return (await auditLog({ targetId })).nodes;
}

async function errorOf(operation: Parameters<HttpClient['request']>[0], variables: Record<string, unknown>, client = admin) {
  const response = await client.request(operation, variables);
  return { code: response.errors?.[0]?.extensions?.code, message: response.errors?.[0]?.message ?? '' };
}

const PLAN_INPUT = { fromVersion: '1.1.0', toVersion: '1.0.0', reason: 'crash on start-up' };

async function newPlan() {
  const extensionId = uniqueId('audit');
  await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
  return (await admin.data(CreateRollbackPlanDocument, { input: { ...PLAN_INPUT, extensionId } })).createRollbackPlan;
}

async function approvedPlan() {
  const plan = await newPlan();
  await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
  return plan;
}

async function uploadedFile() {
  const filePath = putInUploads(server, `audit/${uniqueId('f')}.bin`, randomBytes(1024));
  return (await admin.data(UploadCdnFileDocument, { input: { filePath } })).uploadCdnFile;
}

async function liveDistribution(strategy: 'IMMEDIATE' | 'GRADUAL' = 'IMMEDIATE') {
  const { pkg } = await ownerWithPackage(server, admin);
  return distribute(admin, { packageId: pkg.id, strategy, ...(strategy === 'GRADUAL' ? { percentage: 10 } : {}) });
}

/**
 * How to call each admin mutation successfully: `prepare` builds what it needs (its own
 * mutations are not measured), `call` runs the mutation and resolves the id of the object it
 * changed (or created). Adding an admin mutation without a row here fails the first test.
 */
const CALLS: Record<string, () => Promise<() => Promise<string>>> = {
  async createVersion() {
    const extensionId = uniqueId('audit');
    return async () => (await admin.data(CreateVersionDocument, { input: { version: '1.0.0', extensionId, releaseNotes: 'x'.repeat(5000) } })).createVersion.id;
  },
  async deprecateVersion() {
    const { '1.0.0': id } = await createVersions(admin, uniqueId('audit'), '1.0.0');
    return async () => (await admin.data(DeprecateVersionDocument, { id: id!, reason: 'broken build' })).deprecateVersion.id;
  },
  async uploadCdnFile() {
    const filePath = putInUploads(server, `audit/${uniqueId('f')}.bin`, randomBytes(1024));
    return async () => (await admin.data(UploadCdnFileDocument, { input: { filePath } })).uploadCdnFile.id;
  },
  async deleteCdnFile() {
    const file = await uploadedFile();
    return async () => {
      expect((await admin.data(DeleteCdnFileDocument, { id: file.id })).deleteCdnFile).toBe(true);
      return file.id;
    };
  },
  async invalidateCdnCache() {
    const file = await uploadedFile();
    return async () => (await admin.data(InvalidateCdnCacheDocument, { fileId: file.id })).invalidateCdnCache.id;
  },
  async createUpdatePackage() {
    const extensionId = uniqueId('audit');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const packagePath = putInUploads(server, `audit/${uniqueId('p')}.bin`, randomBytes(2048));
    return async () =>
      (await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', isDelta: false, packagePath } })).createUpdatePackage.id;
  },
  async distributeUpdate() {
    const { pkg } = await ownerWithPackage(server, admin);
    return async () => (await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' })).id;
  },
  async updateDistributionPercentage() {
    const distribution = await liveDistribution('GRADUAL');
    return async () => (await admin.data(UpdateDistributionPercentageDocument, { id: distribution.id, percentage: 50 })).updateDistributionPercentage.id;
  },
  async pauseDistribution() {
    const distribution = await liveDistribution();
    return async () => (await admin.data(PauseDistributionDocument, { id: distribution.id })).pauseDistribution.id;
  },
  async resumeDistribution() {
    const distribution = await liveDistribution();
    await admin.data(PauseDistributionDocument, { id: distribution.id });
    return async () => (await admin.data(ResumeDistributionDocument, { id: distribution.id })).resumeDistribution.id;
  },
  async cancelDistribution() {
    const distribution = await liveDistribution();
    return async () => (await admin.data(CancelDistributionDocument, { id: distribution.id, reason: 'wrong build' })).cancelDistribution.id;
  },
  async createRollbackPlan() {
    const extensionId = uniqueId('audit');
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    return async () => (await admin.data(CreateRollbackPlanDocument, { input: { ...PLAN_INPUT, extensionId } })).createRollbackPlan.id;
  },
  async approveRollbackPlan() {
    const plan = await newPlan();
    return async () => (await admin.data(ApproveRollbackPlanDocument, { planId: plan.id })).approveRollbackPlan.id;
  },
  async executeRollbackPlan() {
    const plan = await approvedPlan();
    return async () => (await admin.data(ExecuteRollbackPlanDocument, { planId: plan.id })).executeRollbackPlan.id;
  },
  async cancelRollbackPlan() {
    const plan = await newPlan();
    return async () => (await admin.data(CancelRollbackPlanDocument, { planId: plan.id })).cancelRollbackPlan.id;
  },
  async retryRollbackPlan() {
    const plan = await approvedPlan();
    await admin.data(ExecuteRollbackPlanDocument, { planId: plan.id });
    await waitForPlan(admin, plan.id, (p) => p.status === 'FAILED');
    return async () => (await admin.data(RetryRollbackPlanDocument, { planId: plan.id })).retryRollbackPlan.id;
  },
  async generateDeltaPackage() {
    const extensionId = uniqueId('audit');
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0'], { notLive: ['1.0.0', '1.1.0'] });
    // The job's package is a step of this request: the generation names it, no second entry.
    return async () => (await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' } })).generateDeltaPackage.id;
  },
};

const adminMutations = Object.entries(PERMISSIONS.Mutation)
  .filter(([, access]) => access === 'admin')
  .map(([name]) => name)
  .sort();

describe('every admin mutation is audited', () => {
  it('the call table and the audited operations name exactly the admin mutations of PERMISSIONS', () => {
    expect(Object.keys(CALLS).sort(), 'add a row to CALLS for each admin mutation').toEqual(adminMutations);
    expect(Object.keys(AUDITED_OPERATIONS).sort(), 'add each admin mutation to src/services/audit/operations.ts').toEqual(adminMutations);
  });

  /** The object each mutation's measured call changed, for the checks after the loop. */
  const targets: Record<string, string> = {};

  for (const operation of adminMutations) {
    it(`${operation}: exactly one SUCCEEDED entry naming the caller, the operation, the object and the time`, async () => {
      const prepare = CALLS[operation];
      if (!prepare) throw new Error(`no row in CALLS for ${operation}`);
      const call = await prepare();
      const before = await auditLog({}, 1);
      const startedAt = Date.now();
      const targetId = await call();
      targets[operation] = targetId;
      const finishedAt = Date.now();
      const after = await auditLog({}, 5);
      // One entry for the whole mutation (createUpdatePackage's artifact upload is not a second one).
      expect(after.totalCount - before.totalCount).toBe(1);
      const entry = after.nodes[0]!;
      expect(entry).toMatchObject({
        operation,
        outcome: 'SUCCEEDED',
        actor: { id: ADMIN_ID, role: 'admin' },
        targetType: AUDITED_OPERATIONS[operation as keyof typeof AUDITED_OPERATIONS],
        targetId,
        errorCode: null,
        errorMessage: null,
      });
      const at = Date.parse(entry.at);
      expect(at).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(at).toBeLessThanOrEqual(finishedAt + 1000);
      expect(entry.details.input).toBeTypeOf('object');
    });
  }

  it('keeps the input without secrets or huge text', async () => {
    const [entry] = await entriesFor(targets.createVersion!);
    const input = entry!.details.input as Record<string, unknown>;
    expect(input.version).toBe('1.0.0');
    expect(String(input.releaseNotes)).toMatch(/^x{300}… \(5000 characters\)$/);
    expect(JSON.stringify(entry!.details)).not.toContain('actor');
  });
});

describe('refused and failed mutations', () => {
  it('a refused mutation leaves one FAILED entry with its code and message, and changes nothing else', async () => {
    const extensionId = uniqueId('audit');
    const { '1.0.0': versionId } = await createVersions(admin, extensionId, '1.0.0');
    const versionsBefore = await server.app.runtime.db.select({ n: sql<number>`count(*)::int` }).from(versions);

    const conflict = await errorOf(CreateVersionDocument, { input: { version: '1.0.0', extensionId } });
    expect(conflict.code).toBe('CONFLICT');
    const badInput = await errorOf(CreateVersionDocument, { input: { version: 'not-semver', extensionId } });
    expect(badInput.code).toBe('BAD_USER_INPUT');
    const unknown = '00000000-0000-4000-8000-00000000dead';
    const notFound = await errorOf(PauseDistributionDocument, { id: unknown });
    expect(notFound.code).toBe('NOT_FOUND');
    const deprecated = await admin.data(DeprecateVersionDocument, { id: versionId!, reason: 'first' });
    const again = await errorOf(DeprecateVersionDocument, { id: versionId!, reason: 'second' });
    expect(again.code).toBe('CONFLICT');

    const failed = (await auditLog({ outcome: 'FAILED' }, 4)).nodes;
    expect(failed.map((e) => [e.operation, e.errorCode, e.errorMessage, e.targetId])).toEqual([
      ['deprecateVersion', 'CONFLICT', again.message, versionId],
      ['pauseDistribution', 'NOT_FOUND', notFound.message, unknown],
      ['createVersion', 'BAD_USER_INPUT', badInput.message, null],
      ['createVersion', 'CONFLICT', conflict.message, null],
    ]);
    for (const entry of failed) expect(entry.actor).toEqual({ id: ADMIN_ID, role: 'admin' });
    expect((failed[2]!.details.input as Record<string, unknown>).version).toBe('not-semver');

    // Nothing else changed: no version added, and the version keeps its first deprecation.
    const versionsAfter = await server.app.runtime.db.select({ n: sql<number>`count(*)::int` }).from(versions);
    expect(versionsAfter[0]!.n).toBe(versionsBefore[0]!.n);
    expect(deprecated.deprecateVersion.deprecationReason).toBe('first');
    const targetEntries = await entriesFor(versionId!);
    expect(targetEntries.map((e) => [e.operation, e.outcome])).toEqual([
      ['deprecateVersion', 'FAILED'],
      ['deprecateVersion', 'SUCCEEDED'],
      ['createVersion', 'SUCCEEDED'],
    ]);
  });

  it('a change whose transaction rolls back at commit leaves no SUCCEEDED entry, only a FAILED one', async () => {
    const { db } = server.app.runtime;
    // A deferred constraint trigger fails the transaction at COMMIT, after the mutation wrote
    // its version, its event and its audit entry: all of it must roll back together.
    await db.execute(sql`create or replace function audit_test_refuse_commit() returns trigger language plpgsql as $$
      begin raise exception 'refused at commit by the audit test'; end $$`);
    await db.execute(sql`create constraint trigger audit_test_refuse_commit after insert on versions deferrable initially deferred
      for each row when (new.version = '6.6.6-refused') execute function audit_test_refuse_commit()`);
    try {
      const extensionId = uniqueId('audit');
      const refused = await errorOf(CreateVersionDocument, { input: { version: '6.6.6-refused', extensionId } });
      expect(refused.code).toBe('INTERNAL_SERVER_ERROR');
      const stored = await db.select().from(versions).where(sql`${versions.extensionId} = ${extensionId}`);
      expect(stored).toEqual([]);
      const [latest] = (await auditLog({ operation: 'createVersion' }, 1)).nodes;
      expect(latest).toMatchObject({ outcome: 'FAILED', errorCode: 'INTERNAL_SERVER_ERROR', targetId: null });
      // The internal error's text stays in the server log.
      expect(latest!.errorMessage).not.toContain('refused at commit');
      const succeeded = (await auditLog({ operation: 'createVersion', outcome: 'SUCCEEDED' })).nodes;
      expect(succeeded.filter((e) => (e.details.input as { extensionId?: string }).extensionId === extensionId)).toEqual([]);
    } finally {
      await db.execute(sql`drop trigger if exists audit_test_refuse_commit on versions`);
      await db.execute(sql`drop function if exists audit_test_refuse_commit()`);
    }
  });
});

describe('actors', () => {
  it('a script calling a service directly is recorded as the user it names, or as "script"', async () => {
    const scriptUser = '00000000-0000-4000-8000-00000000c0c0';
    const extensionId = uniqueId('audit');
    const { services } = server.app;
    const created = await services.versions.createVersion({ version: '1.0.0', extensionId, releasedBy: scriptUser });
    const deprecated = await services.versions.deprecateVersion({ id: created.id, reason: 'script said so' });
    const entries = await entriesFor(created.id);
    expect(entries.map((e) => [e.operation, e.actor])).toEqual([
      ['deprecateVersion', { id: 'script', role: 'script' }],
      ['createVersion', { id: scriptUser, role: 'script' }],
    ]);
    expect(deprecated.isDeprecated).toBe(true);
    expect((await auditLog({ actor: scriptUser })).nodes.map((e) => e.targetId)).toEqual([created.id]);
  });

  it("the seed's positional calls record the actor they pass", async () => {
    const creator = '00000000-0000-4000-8000-00000000c1c1';
    const approver = '00000000-0000-4000-8000-00000000c2c2';
    const extensionId = uniqueId('audit');
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const seed = new RollbackAutomationSeedApi(server.app.services.rollback);
    const plan = await seed.createRollbackPlan('1.1.0', '1.0.0', 'crash on start-up', extensionId, undefined, 'immediate', undefined, creator);
    await seed.approveRollbackPlan(plan.id, approver);
    await expect(seed.approveRollbackPlan(plan.id, approver)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await entriesFor(plan.id)).map((e) => [e.operation, e.outcome, e.actor.id, e.actor.role])).toEqual([
      ['approveRollbackPlan', 'FAILED', approver, 'script'],
      ['approveRollbackPlan', 'SUCCEEDED', approver, 'script'],
      ['createRollbackPlan', 'SUCCEEDED', creator, 'script'],
    ]);
  });

  it('a SCHEDULED plan run at its time is recorded as executed by system:rollback-scheduler', async () => {
    const extensionId = uniqueId('audit');
    await seedReleases(server, extensionId, ['1.0.0', '1.1.0']);
    const scheduledAt = new Date(Date.now() + 3_000).toISOString();
    const plan = (await admin.data(CreateRollbackPlanDocument, { input: { ...PLAN_INPUT, extensionId, rollbackStrategy: 'SCHEDULED', scheduledAt } })).createRollbackPlan;
    await admin.data(ApproveRollbackPlanDocument, { planId: plan.id });
    // The plan's last step fails on purpose on this server: the execution started is what counts here.
    await waitForPlan(admin, plan.id, (p) => p.status === 'FAILED', 20_000);
    const [executed] = (await auditLog({ targetId: plan.id, operation: 'executeRollbackPlan' })).nodes;
    expect(executed).toMatchObject({ outcome: 'SUCCEEDED', actor: { id: 'system:rollback-scheduler', role: 'system' } });
    expect(Date.parse(executed!.at)).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
    expect((await auditLog({ actor: 'system:rollback-scheduler', targetId: plan.id })).totalCount).toBe(1);
  });
});

describe('auditLog', () => {
  it('filters by actor, operation, target, outcome and time, newest first, and pages with cursors', async () => {
    const otherAdmin = '00000000-0000-4000-8000-00000000a1a1';
    const other = new HttpClient(server.graphqlUrl, await server.token('admin', otherAdmin));
    const extensionId = uniqueId('audit');
    const since = new Date().toISOString();
    const ids: string[] = [];
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) {
      ids.push((await other.data(CreateVersionDocument, { input: { version, extensionId } })).createVersion.id);
    }
    expect((await errorOf(CreateVersionDocument, { input: { version: '1.4.0', extensionId } }, other)).code).toBe('CONFLICT');
    await other.data(DeprecateVersionDocument, { id: ids[0]!, reason: 'old' });
    const until = new Date(Date.now() + 1000).toISOString();

    const mine = await auditLog({ actor: otherAdmin });
    expect(mine.totalCount).toBe(7);
    expect(mine.nodes.map((e) => [e.operation, e.outcome])).toEqual([
      ['deprecateVersion', 'SUCCEEDED'],
      ['createVersion', 'FAILED'],
      ...ids.map(() => ['createVersion', 'SUCCEEDED']),
    ]);
    expect(mine.nodes.slice(2).map((e) => e.targetId)).toEqual([...ids].reverse());
    const times = mine.nodes.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    // Pages of 3: every entry once, in the same order, then no cursor.
    const paged: AuditEntryFieldsFragment[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await auditLog({ actor: otherAdmin }, 3, after);
      expect(page.totalCount).toBe(7);
      paged.push(...page.nodes);
      if (!page.pageInfo.hasNextPage) {
        expect(page.pageInfo.endCursor).toBeNull();
        break;
      }
      after = page.pageInfo.endCursor!;
    }
    expect(paged.map((e) => e.id)).toEqual(mine.nodes.map((e) => e.id));

    expect((await auditLog({ actor: otherAdmin, operation: 'deprecateVersion' })).nodes.map((e) => e.targetId)).toEqual([ids[0]]);
    expect((await auditLog({ actor: otherAdmin, outcome: 'FAILED' })).nodes.map((e) => e.errorCode)).toEqual(['CONFLICT']);
    expect((await auditLog({ targetId: ids[0]!, targetType: 'Version' })).nodes.map((e) => e.operation)).toEqual(['deprecateVersion', 'createVersion']);
    expect((await auditLog({ targetId: ids[0]!, targetType: 'Distribution' })).totalCount).toBe(0);
    expect((await auditLog({ actor: otherAdmin, since, until })).totalCount).toBe(7);
    expect((await auditLog({ actor: otherAdmin, until: since })).totalCount).toBe(0);
    expect((await auditLog({ actor: otherAdmin, since: until })).totalCount).toBe(0);
  });

  it('refuses bad filter values, page sizes and cursors with BAD_USER_INPUT', async () => {
    const bad = async (variables: Record<string, unknown>) => (await errorOf(AuditLogDocument, variables)).code;
    expect(await bad({ filter: { actor: 'bob' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { operation: 'dropDatabase' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { targetId: 'not-a-uuid' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { targetType: 'Planet' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { outcome: 'MAYBE' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { since: 'yesterday' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ filter: { since: '2030-01-02T00:00:00Z', until: '2030-01-01T00:00:00Z' } })).toBe('BAD_USER_INPUT');
    expect(await bad({ first: 0 })).toBe('BAD_USER_INPUT');
    expect(await bad({ first: 201 })).toBe('BAD_USER_INPUT');
    expect(await bad({ after: 'garbage!' })).toBe('BAD_USER_INPUT');
    expect(await bad({ after: Buffer.from(JSON.stringify(['not-a-uuid'])).toString('base64url') })).toBe('BAD_USER_INPUT');
  });

  it('is for admins only: a user token gets FORBIDDEN, and a user refused an admin mutation leaves no entry', async () => {
    const user = await server.client('user');
    expect((await errorOf(AuditLogDocument, {}, user)).code).toBe('FORBIDDEN');
    const anonymous = await server.client(null);
    expect((await errorOf(AuditLogDocument, {}, anonymous)).code).toBe('UNAUTHENTICATED');
    const before = (await auditLog({}, 1)).totalCount;
    expect((await errorOf(CreateVersionDocument, { input: { version: '1.0.0', extensionId: uniqueId('audit') } }, user)).code).toBe('FORBIDDEN');
    expect((await auditLog({}, 1)).totalCount).toBe(before);
  });
});

describe('concurrency', () => {
  it('concurrent mutations are each recorded once: 8 executes of one plan leave one SUCCEEDED and seven FAILED CONFLICT entries', async () => {
    const plan = await approvedPlan();
    const results = await Promise.all(Array.from({ length: 8 }, () => admin.request(ExecuteRollbackPlanDocument, { planId: plan.id })));
    expect(results.filter((r) => !r.errors).length).toBe(1);
    const entries = (await auditLog({ targetId: plan.id, operation: 'executeRollbackPlan' })).nodes;
    expect(entries.filter((e) => e.outcome === 'SUCCEEDED')).toHaveLength(1);
    expect(entries.filter((e) => e.outcome === 'FAILED').map((e) => e.errorCode)).toEqual(Array(7).fill('CONFLICT'));
  });

  it('concurrent creates are each recorded once with their own target', async () => {
    const extensionId = uniqueId('audit');
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) => admin.data(CreateVersionDocument, { input: { version: `2.${i}.0`, extensionId } }).then((r) => r.createVersion.id)),
    );
    const entries = (await auditLog({ operation: 'createVersion', outcome: 'SUCCEEDED' }, 50)).nodes.filter((e) => created.includes(e.targetId!));
    expect(entries.map((e) => e.targetId).sort()).toEqual([...created].sort());
  });
});
