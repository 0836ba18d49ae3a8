import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LocalCdnProvider } from '../../src/cdn/local.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { cdnFiles, distributions, rollbackPlans, updatePackages, versionAdoptionDaily, versions } from '../../src/db/schema.js';
import type { CdnFileRecord } from '../../src/services/cdn/types.js';
import { CHECK_NAMES, firstFailed, runSafetyChecks, type CheckInput, type CheckPhase } from '../../src/services/rollback/checks.js';
import { estimateDowntime } from '../../src/services/rollback/estimate.js';
import type { RollbackStrategy } from '../../src/services/rollback/store.js';
import { parseVersion } from '../../src/services/versions/semverOrder.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * A rollback plan's safety checks (contract: "a plan whose safety checks failed cannot be
 * approved; execution re-runs the checks first"), run directly on the pass's real database and
 * the real local CDN store: each check passes in the healthy case and fails, or warns, for the
 * exact problem it names.
 */

let database: TestDatabase;
let handle: DatabaseHandle;
let cdnRoot: string;
let provider: LocalCdnProvider;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = await openDatabase({ databaseUrl: database.url, dataDir: database.dataDir });
  await handle.migrate();
  cdnRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-rollback-checks-'));
  provider = new LocalCdnProvider({ root: cdnRoot, regions: ['us', 'eu'], publicBaseUrl: () => 'http://cdn.test/cdn' });
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
  fs.rmSync(cdnRoot, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');
const NOW = new Date('2030-06-01T12:00:00.000Z');

interface World {
  owner: { extensionId: string; productId: null };
  versionIds: Record<string, string>;
  files: Map<string, CdnFileRecord>;
  packageOf: Record<string, string>;
}

async function addVersion(world: World, version: string, extra: { deprecated?: string; changelog?: { type: string; description: string; breaking?: boolean }[] } = {}) {
  const parsed = parseVersion(version);
  const [row] = await handle.db
    .insert(versions)
    .values({
      version,
      major: parsed.major,
      minor: parsed.minor,
      patch: parsed.patch,
      prerelease: parsed.prerelease,
      sortKey: parsed.sortKey,
      extensionId: world.owner.extensionId,
      isStable: parsed.prerelease === null,
      isDeprecated: extra.deprecated !== undefined,
      deprecationReason: extra.deprecated ?? null,
      changelog: (extra.changelog ?? []).map((entry) => ({ scope: null, breaking: false, ...entry })) as never,
    })
    .returning({ id: versions.id });
  world.versionIds[version] = row!.id;
  return row!.id;
}

/** A full package of `version` whose file holds `bytes` in each listed region (another region's bytes may differ). */
async function addPackage(world: World, version: string, options: { bytes?: Buffer; regionBytes?: Record<string, Buffer>; delta?: string; noFile?: boolean; fileStatus?: 'ACTIVE' | 'DELETED'; regions?: string[] } = {}) {
  const bytes = options.bytes ?? Buffer.from(`package of ${version} ${crypto.randomUUID()}`);
  let cdnFileId: string | null = null;
  if (!options.noFile) {
    const [file] = await handle.db
      .insert(cdnFiles)
      .values({ fileName: 'p.zip', filePath: 'p.zip', fileSize: bytes.length, mimeType: 'application/zip', cdnUrl: 'http://cdn.test/p.zip', checksum: sha256(bytes), storageKey: `key-${crypto.randomUUID()}`, cacheControl: 'public' })
      .returning();
    cdnFileId = file!.id;
    const regions = options.regions ?? ['us', 'eu'];
    for (const region of regions) {
      const body = options.regionBytes?.[region] ?? bytes;
      if (body.length === 0) continue; // nothing stored in this region: reading it fails
      await provider.put(region, file!.storageKey, Readable.from([body]), { size: body.length, checksum: sha256(body), contentType: 'application/zip', cacheControl: 'public' });
    }
    world.files.set(file!.id, {
      ...file!,
      status: options.fileStatus ?? 'ACTIVE',
      regions: regions.map((region) => ({ region, status: 'AVAILABLE', url: `http://cdn.test/${region}`, attempts: 1, lastError: null, nextAttemptAt: null })),
      distributionStatus: 'COMPLETE',
    } as CdnFileRecord);
  }
  const [pkg] = await handle.db
    .insert(updatePackages)
    .values({
      fromVersion: '0.0.0',
      toVersion: version,
      toVersionId: world.versionIds[version],
      toSortKey: parseVersion(version).sortKey,
      extensionId: world.owner.extensionId,
      cdnFileId,
      packageUrl: 'http://cdn.test/p.zip',
      packageSize: bytes.length,
      checksum: sha256(bytes),
      isDelta: options.delta !== undefined,
      fromVersionId: options.delta === undefined ? null : world.versionIds[options.delta],
      deltaFromVersion: options.delta ?? null,
    })
    .returning({ id: updatePackages.id });
  world.packageOf[version] = pkg!.id;
  return pkg!.id;
}

async function distribute(world: World, version: string, status: 'ACTIVE' | 'COMPLETED' | 'PAUSED' | 'HALTED' = 'COMPLETED', percentage = 100) {
  await handle.db.insert(distributions).values({ packageId: world.packageOf[version]!, extensionId: world.owner.extensionId, strategy: 'IMMEDIATE', status, percentage, salt: crypto.randomUUID() });
}

/** 2.0.0 live with 1.0.0 as a healthy target: the case where every check passes. */
async function healthyWorld(): Promise<World> {
  const world: World = { owner: { extensionId: `ext.checks.${crypto.randomBytes(4).toString('hex')}`, productId: null }, versionIds: {}, files: new Map(), packageOf: {} };
  await addVersion(world, '1.0.0');
  await addPackage(world, '1.0.0');
  await addVersion(world, '2.0.0');
  await addPackage(world, '2.0.0');
  await distribute(world, '2.0.0');
  return world;
}

function run(world: World, overrides: Partial<Omit<CheckInput, 'from' | 'to'>> & { from?: string; to?: string; strategy?: RollbackStrategy; phase?: CheckPhase } = {}) {
  const { from = '2.0.0', to = '1.0.0', ...rest } = overrides;
  return runSafetyChecks({
    db: handle.db,
    owner: world.owner,
    from: parseVersion(from),
    to: parseVersion(to),
    strategy: 'IMMEDIATE',
    scheduledAt: null,
    planId: null,
    phase: 'create',
    cdnFile: async (id) => world.files.get(id) ?? null,
    cdnProvider: async () => provider,
    now: NOW,
    ...rest,
  });
}

const statusOf = (checks: { name: string; status: string }[], name: string) => checks.find((check) => check.name === name)?.status;
const messageOf = (checks: { name: string; message: string }[], name: string) => checks.find((check) => check.name === name)?.message ?? '';

describe('runSafetyChecks', () => {
  it('passes every check, in the documented order, for a healthy rollback, and estimates downtime from the live clients', async () => {
    const world = await healthyWorld();
    await handle.db.insert(versionAdoptionDaily).values([
      { versionId: world.versionIds['2.0.0']!, day: '2030-05-30', installed: 700, rolledBack: 0 },
      { versionId: world.versionIds['2.0.0']!, day: '2030-05-31', installed: 400, rolledBack: 100 },
    ]);
    const outcome = await run(world);
    expect(outcome.checks.map((check) => check.name)).toEqual(CHECK_NAMES.filter((name) => name !== 'schedule'));
    expect(outcome.checks.map((check) => check.status)).toEqual(Array(7).fill('PASSED'));
    expect(firstFailed(outcome.checks)).toBeUndefined();
    expect(outcome.fromVersion?.id).toBe(world.versionIds['2.0.0']);
    expect(outcome.toVersion?.id).toBe(world.versionIds['1.0.0']);
    expect(outcome.targetPackage?.id).toBe(world.packageOf['1.0.0']);
    expect(outcome.liveClients).toBe(1000);
    expect(outcome.estimatedDowntime).toBe(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: outcome.targetPackage!.packageSize, liveClients: 1000 }));
    expect(messageOf(outcome.checks, 'target-package-integrity')).toMatch(/read back from us, eu hashes to its sha256/);
    expect(messageOf(outcome.checks, 'current-version-live')).toMatch(/^Version 2\.0\.0 is live in 1 distribution\(s\)/);
  });

  it('fails the target checks when the target version does not exist', async () => {
    const world = await healthyWorld();
    const outcome = await run(world, { to: '0.5.0' });
    expect(statusOf(outcome.checks, 'target-version-exists')).toBe('FAILED');
    expect(statusOf(outcome.checks, 'target-not-deprecated')).toBe('FAILED');
    expect(statusOf(outcome.checks, 'target-package-integrity')).toBe('FAILED');
    expect(firstFailed(outcome.checks)?.name).toBe('target-version-exists');
    expect(outcome.targetPackage).toBeNull();
  });

  it('fails target-not-deprecated for a deprecated target, naming the reason', async () => {
    const world = await healthyWorld();
    await addVersion(world, '1.5.0', { deprecated: 'corrupts settings' });
    await addPackage(world, '1.5.0');
    const outcome = await run(world, { to: '1.5.0' });
    expect(statusOf(outcome.checks, 'target-not-deprecated')).toBe('FAILED');
    expect(messageOf(outcome.checks, 'target-not-deprecated')).toContain('corrupts settings');
    expect(statusOf(outcome.checks, 'target-version-exists')).toBe('PASSED');
  });

  describe('target-package-integrity fails', () => {
    it('when the target has only a delta package', async () => {
      const world = await healthyWorld();
      await addVersion(world, '1.2.0');
      await addPackage(world, '1.2.0', { delta: '1.0.0' });
      const outcome = await run(world, { to: '1.2.0' });
      expect(statusOf(outcome.checks, 'target-package-integrity')).toBe('FAILED');
      expect(messageOf(outcome.checks, 'target-package-integrity')).toMatch(/has no full update package/);
    });

    it('when the package has no stored file', async () => {
      const world = await healthyWorld();
      await addVersion(world, '1.2.0');
      await addPackage(world, '1.2.0', { noFile: true });
      expect(messageOf((await run(world, { to: '1.2.0' })).checks, 'target-package-integrity')).toMatch(/has no stored file on record/);
    });

    it('when the file is deleted or gone', async () => {
      const world = await healthyWorld();
      await addVersion(world, '1.2.0');
      await addPackage(world, '1.2.0', { fileStatus: 'DELETED' });
      const deleted = await run(world, { to: '1.2.0' });
      expect(statusOf(deleted.checks, 'target-package-integrity')).toBe('FAILED');
      expect(messageOf(deleted.checks, 'target-package-integrity')).toMatch(/is deleted: clients could not download it/);
      world.files.clear();
      expect(messageOf((await run(world, { to: '1.2.0' })).checks, 'target-package-integrity')).toMatch(/is gone: clients could not download it/);
    });

    it('when no region holds the file', async () => {
      const world = await healthyWorld();
      await addVersion(world, '1.2.0');
      await addPackage(world, '1.2.0', { regions: [] });
      expect(messageOf((await run(world, { to: '1.2.0' })).checks, 'target-package-integrity')).toMatch(/No region holds the file/);
    });

    it('when one region serves other bytes, or cannot be read, naming that region only', async () => {
      const world = await healthyWorld();
      await addVersion(world, '1.2.0');
      await addPackage(world, '1.2.0', { regionBytes: { eu: Buffer.from('tampered') } });
      const tampered = await run(world, { to: '1.2.0' });
      expect(statusOf(tampered.checks, 'target-package-integrity')).toBe('FAILED');
      const message = messageOf(tampered.checks, 'target-package-integrity');
      expect(message).toContain(`region eu serves 8 bytes hashing to sha256 ${sha256(Buffer.from('tampered'))}`);
      expect(message).not.toContain('region us');

      await addVersion(world, '1.3.0');
      await addPackage(world, '1.3.0', { regionBytes: { us: Buffer.alloc(0) } });
      const unreadable = messageOf((await run(world, { to: '1.3.0' })).checks, 'target-package-integrity');
      expect(unreadable).toMatch(/region us could not be read/);
      expect(unreadable).not.toContain('region eu');
    });
  });

  describe('current-version-live', () => {
    it('fails when the current version does not exist, or no distribution of it is ACTIVE or COMPLETED', async () => {
      const world = await healthyWorld();
      const missing = await run(world, { from: '3.0.0' });
      expect(statusOf(missing.checks, 'current-version-live')).toBe('FAILED');
      expect(messageOf(missing.checks, 'current-version-live')).toMatch(/there is nothing to roll back from/);
      expect(missing.liveClients).toBe(0);
      expect(statusOf(missing.checks, 'changelog-risks')).toBe('PASSED');

      await addVersion(world, '2.5.0');
      await addPackage(world, '2.5.0');
      await distribute(world, '2.5.0', 'PAUSED');
      await distribute(world, '2.5.0', 'HALTED');
      const paused = await run(world, { from: '2.5.0' });
      expect(statusOf(paused.checks, 'current-version-live')).toBe('FAILED');
      expect(messageOf(paused.checks, 'current-version-live')).toMatch(/is not live/);
    });

    it('passes for an ACTIVE gradual distribution, and on resume once this plan halted the distributions', async () => {
      const world = await healthyWorld();
      await addVersion(world, '2.5.0');
      await addPackage(world, '2.5.0');
      await distribute(world, '2.5.0', 'ACTIVE', 30);
      expect(statusOf((await run(world, { from: '2.5.0' })).checks, 'current-version-live')).toBe('PASSED');

      await addVersion(world, '2.6.0');
      await addPackage(world, '2.6.0');
      const resumed = await run(world, { from: '2.6.0', phase: 'resume', completedSteps: ['halt-distributions'] });
      expect(statusOf(resumed.checks, 'current-version-live')).toBe('PASSED');
      expect(statusOf((await run(world, { from: '2.6.0', phase: 'resume', completedSteps: [] })).checks, 'current-version-live')).toBe('FAILED');
      expect(statusOf((await run(world, { from: '2.6.0', phase: 'execute', completedSteps: ['halt-distributions'] })).checks, 'current-version-live')).toBe('FAILED');
    });
  });

  it('no-other-open-plan fails while another plan of the owner is open, and ignores the plan itself and closed plans', async () => {
    const world = await healthyWorld();
    const plan = (status: 'PENDING' | 'APPROVED' | 'EXECUTING' | 'CANCELLED' | 'COMPLETED') =>
      handle.db
        .insert(rollbackPlans)
        .values({ fromVersion: '2.0.0', toVersion: '1.0.0', extensionId: world.owner.extensionId, reason: 'r', status })
        .returning({ id: rollbackPlans.id })
        .then(([row]) => row!.id);
    await plan('CANCELLED');
    await plan('COMPLETED');
    expect(statusOf((await run(world)).checks, 'no-other-open-plan')).toBe('PASSED');
    const open = await plan('APPROVED');
    const outcome = await run(world);
    expect(statusOf(outcome.checks, 'no-other-open-plan')).toBe('FAILED');
    expect(messageOf(outcome.checks, 'no-other-open-plan')).toContain(`${open} (APPROVED, 2.0.0 → 1.0.0)`);
    expect(statusOf((await run(world, { planId: open })).checks, 'no-other-open-plan')).toBe('PASSED');
  });

  it('changelog-risks warns about security fixes and breaking changes in the versions undone, not in the target', async () => {
    const world: World = { owner: { extensionId: `ext.risks.${crypto.randomBytes(4).toString('hex')}`, productId: null }, versionIds: {}, files: new Map(), packageOf: {} };
    await addVersion(world, '1.0.0', { changelog: [{ type: 'SECURITY', description: 'old fix in the target' }, { type: 'CHANGED', description: 'old break', breaking: true }] });
    await addPackage(world, '1.0.0');
    await addVersion(world, '1.5.0', { changelog: [{ type: 'FIXED', description: 'harmless' }] });
    await addVersion(world, '2.0.0', { changelog: [{ type: 'ADDED', description: 'feature' }] });
    await addPackage(world, '2.0.0');
    await distribute(world, '2.0.0');
    const calm = await run(world);
    expect(statusOf(calm.checks, 'changelog-risks')).toBe('PASSED');
    expect(messageOf(calm.checks, 'changelog-risks')).toBe('No breaking changes or security fixes in the 2 version(s) rolled back');

    await addVersion(world, '3.0.0', { changelog: [{ type: 'SECURITY', description: 'CVE fix' }] });
    await addVersion(world, '4.0.0', { changelog: [{ type: 'REMOVED', description: 'old API', breaking: true }] });
    await addPackage(world, '4.0.0');
    await distribute(world, '4.0.0');
    const risky = await run(world, { from: '4.0.0' });
    expect(statusOf(risky.checks, 'changelog-risks')).toBe('WARNING');
    const message = messageOf(risky.checks, 'changelog-risks');
    expect(message).toContain('removes security fix(es) — 3.0.0: CVE fix');
    expect(message).toContain('crosses breaking change(s) — 4.0.0: old API');
    expect(message).not.toContain('old fix in the target');
    expect(firstFailed(risky.checks)).toBeUndefined(); // a warning does not block

    const securityOnly = messageOf((await run(world, { from: '3.0.0' })).checks, 'changelog-risks');
    expect(securityOnly).toContain('3.0.0: CVE fix');
    expect(securityOnly).not.toContain('breaking');
  });

  describe('schedule (SCHEDULED plans only)', () => {
    it('fails without scheduledAt or with a past one at creation and approval; passes a future one', async () => {
      const world = await healthyWorld();
      const without = await run(world, { strategy: 'SCHEDULED' });
      expect(without.checks.at(-1)).toEqual({ name: 'schedule', status: 'FAILED', message: 'A SCHEDULED plan needs scheduledAt' });
      for (const phase of ['create', 'approve'] as const) {
        expect(statusOf((await run(world, { strategy: 'SCHEDULED', scheduledAt: NOW, phase })).checks, 'schedule'), phase).toBe('FAILED');
      }
      const future = new Date(NOW.getTime() + 1000);
      expect((await run(world, { strategy: 'SCHEDULED', scheduledAt: future })).checks.at(-1)).toEqual({ name: 'schedule', status: 'PASSED', message: `Runs at ${future.toISOString()}` });
    });

    it('passes at execution and on resume, when the time has come by design', async () => {
      const world = await healthyWorld();
      const past = new Date(NOW.getTime() - 1000);
      for (const phase of ['execute', 'resume'] as const) {
        expect(statusOf((await run(world, { strategy: 'SCHEDULED', scheduledAt: past, phase })).checks, 'schedule'), phase).toBe('PASSED');
      }
    });

    it('is absent for IMMEDIATE and GRADUAL plans', async () => {
      const world = await healthyWorld();
      for (const strategy of ['IMMEDIATE', 'GRADUAL'] as const) expect(statusOf((await run(world, { strategy })).checks, 'schedule')).toBeUndefined();
    });
  });
});
