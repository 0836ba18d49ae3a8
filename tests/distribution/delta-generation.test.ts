import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { and, asc, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cdnFiles, deltaGenerations, updatePackages } from '../../src/db/schema.js';
import {
  CreateUpdatePackageDocument,
  DeltaGenerationDocument,
  DeltaGenerationProgressDocument,
  GenerateDeltaPackageDocument,
  ReportUpdateStatusDocument,
  type DeltaGenerationFieldsFragment,
} from '../generated/graphql.js';
import { makeGzip, makeTar, sourceText } from '../helpers/archives.js';
import { putInUploads, sha256 } from '../helpers/cdnFiles.js';
import { subscribe, type HttpClient } from '../helpers/client.js';
import { createVersions, distribute } from '../helpers/distribution.js';
import { storedObjectPath } from '../helpers/rollback.js';
import { repoRoot, startTestServer, uniqueId, type TestServer } from '../helpers/server.js';
import { check, type Offer } from '../helpers/updateCheck.js';

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;
let tmp: string;

beforeAll(async () => {
  // Automatic mode from 2 bases (the default is 3): only the last describe reports installs.
  // Failed generations are not asked for again here (DELTA_RETRIES=0): delta-retry.test.ts covers that.
  server = await startTestServer({ DELTA_AUTO_BASES: '2', DELTA_RETRIES: '0' });
  admin = await server.client('admin');
  user = await server.client('user');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dfd-delta-e2e-'));
});
afterAll(async () => {
  await server?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * An npm-style .tgz of a package at a version: mostly the same files from version to version.
 * `lines` sizes it: the live-progress test uses ~2 MB of source so that generation lasts long
 * enough (zstd level 19 over megabytes) for a subscriber to see it RUNNING on any machine.
 */
function release(minor: number, lines = 4000): Buffer {
  return makeGzip(
    makeTar([
      { name: 'package/package.json', content: JSON.stringify({ name: 'demo', version: `1.${minor}.0` }) },
      { name: 'package/lib/index.js', content: sourceText(1, lines) + sourceText(100 + minor, 30) },
      { name: 'package/lib/util.js', content: sourceText(2, lines) },
    ]),
    { level: 9, mtime: 1_700_000_000 + minor },
  );
}

async function fullPackage(extensionId: string, version: string, bytes: Buffer) {
  const packagePath = putInUploads(server, `delta-e2e/${uniqueId('p')}-${version}.tgz`, bytes);
  return (await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '0.0.1', toVersion: version, packagePath } })).createUpdatePackage;
}

/** An owner with versions and full packages of `versions` (release(i) for the i-th). */
async function ownerWithReleases(versions: string[], lines?: number) {
  const extensionId = uniqueId('delta');
  await createVersions(admin, extensionId, '0.0.1', ...versions);
  const bytes: Record<string, Buffer> = {};
  const packages: Record<string, Awaited<ReturnType<typeof fullPackage>>> = {};
  for (const [index, version] of versions.entries()) {
    bytes[version] = release(index, lines);
    packages[version] = await fullPackage(extensionId, version, bytes[version]!);
  }
  return { extensionId, bytes, packages };
}

async function waitForGeneration(id: string, timeoutMs = 60_000): Promise<DeltaGenerationFieldsFragment> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { deltaGeneration } = await admin.data(DeltaGenerationDocument, { id });
    if (deltaGeneration && (deltaGeneration.status === 'SUCCEEDED' || deltaGeneration.status === 'FAILED')) return deltaGeneration;
    if (Date.now() > deadline) throw new Error(`generation ${id} did not finish: ${JSON.stringify(deltaGeneration)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const generationCount = async () => (await server.app.runtime.db.select({ n: count() }).from(deltaGenerations))[0]!.n;

describe('generateDeltaPackage', () => {
  it('builds a verified delta in the background; the base is offered it; apply-delta rebuilds the full package', async () => {
    const { extensionId, bytes, packages } = await ownerWithReleases(['1.0.0', '1.1.0'], 20_000);
    const { generateDeltaPackage: started } = await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' } });
    expect(started).toMatchObject({ status: 'PENDING', progress: 0, error: null, package: null, fromVersion: '1.0.0', toVersion: '1.1.0', extensionId });

    // Live progress: the state now, then every change until it is done.
    const ws = await server.ws('admin');
    const feed = await subscribe(ws, DeltaGenerationProgressDocument, { id: started.id });
    const seen: { status: string; progress: number }[] = [];
    for (;;) {
      const event = await feed.next(60_000);
      const generation = event.data!.deltaGenerationProgress;
      seen.push({ status: generation.status, progress: generation.progress });
      if (generation.status === 'SUCCEEDED' || generation.status === 'FAILED') break;
    }
    feed.close();
    expect(seen.at(-1)).toEqual({ status: 'SUCCEEDED', progress: 100 });
    expect(seen.map((event) => event.progress)).toEqual([...seen.map((event) => event.progress)].sort((a, b) => a - b));
    expect(seen.some((event) => event.status === 'RUNNING' && event.progress > 0 && event.progress < 100)).toBe(true);

    const done = (await admin.data(DeltaGenerationDocument, { id: started.id })).deltaGeneration!;
    expect(done).toMatchObject({ status: 'SUCCEEDED', progress: 100, error: null });
    const delta = done.package!;
    expect(delta).toMatchObject({ isDelta: true, fromVersion: '1.0.0', deltaFromVersion: '1.0.0', toVersion: '1.1.0', deltaFormat: 'dfd1-gzip', targetChecksum: packages['1.1.0']!.checksum });
    expect(delta.packageSize).toBeLessThan(bytes['1.1.0']!.length * 0.15);

    // Only the full package is distributed: the delta rides on its distribution, offered where it applies.
    const full = await distribute(admin, { packageId: packages['1.1.0']!.id, strategy: 'IMMEDIATE' });
    const offer = (
      await user.data<{ checkForUpdates: { toVersion: string; isDelta: boolean; packageId: string; packageUrl: string; checksum: string; deltaFormat: string; targetChecksum: string; distributionId: string } | null }>(
        `query($extensionId: ID) { checkForUpdates(currentVersion: "1.0.0", extensionId: $extensionId) { toVersion isDelta packageId packageUrl checksum deltaFormat targetChecksum distributionId } }` as never,
        { extensionId } as never,
      )
    ).checkForUpdates;
    expect(offer).toEqual({
      toVersion: '1.1.0',
      isDelta: true,
      packageId: delta.id,
      packageUrl: delta.packageUrl,
      checksum: delta.checksum,
      deltaFormat: 'dfd1-gzip',
      targetChecksum: packages['1.1.0']!.checksum,
      distributionId: full.id,
    });
    expect(await check(user, { currentVersion: '0.0.1', extensionId })).toMatchObject({ isDelta: false, packageId: packages['1.1.0']!.id });

    // The client's side: download over HTTP, apply with the package's command, compare.
    const downloaded = Buffer.from(await (await fetch(offer!.packageUrl)).arrayBuffer());
    expect(sha256(downloaded)).toBe(offer!.checksum);
    await fs.writeFile(path.join(tmp, 'old.tgz'), bytes['1.0.0']!);
    await fs.writeFile(path.join(tmp, 'update.delta'), downloaded);
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist/src/bin/dev-forge-distribution.js'), 'apply-delta', '--base', 'old.tgz', '--delta', 'update.delta', '--out', 'new.tgz'], { cwd: tmp });
    expect(stdout).toContain(packages['1.1.0']!.checksum);
    const rebuilt = await fs.readFile(path.join(tmp, 'new.tgz'));
    expect(sha256(rebuilt)).toBe(packages['1.1.0']!.checksum);
    expect(rebuilt.equals(bytes['1.1.0']!)).toBe(true);
  }, 120_000);

  it('answers concurrent requests for one pair with one generation (one job, one package)', async () => {
    const { extensionId } = await ownerWithReleases(['2.0.0', '2.1.0']);
    const input = { extensionId, fromVersion: '2.0.0', toVersion: '2.1.0' };
    const answers = await Promise.all(Array.from({ length: 4 }, () => admin.data(GenerateDeltaPackageDocument, { input })));
    expect(new Set(answers.map((answer) => answer.generateDeltaPackage.id)).size).toBe(1);
    const done = await waitForGeneration(answers[0]!.generateDeltaPackage.id);
    expect(done.status).toBe('SUCCEEDED');
    const db = server.app.runtime.db;
    const [deltas] = await db.select({ n: count() }).from(updatePackages).where(and(eq(updatePackages.extensionId, extensionId), eq(updatePackages.isDelta, true)));
    expect(deltas!.n).toBe(1);
    // Once it exists, asking again is a CONFLICT naming it.
    const again = await admin.request(GenerateDeltaPackageDocument, { input });
    expect(again.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', existingId: done.package!.id } });
  });

  it('ends FAILED with an error naming what failed when a full package cannot be read', async () => {
    const { extensionId, packages } = await ownerWithReleases(['3.0.0', '3.1.0']);
    const [file] = await server.app.runtime.db.select().from(cdnFiles).where(eq(cdnFiles.id, packages['3.0.0']!.cdnFileId!));
    const stored = await storedObjectPath(server, file!.storageKey);
    const original = await fs.readFile(stored);
    await fs.writeFile(stored, Buffer.concat([original.subarray(0, 50), Buffer.from('damaged'), original.subarray(57)]));
    try {
      const { generateDeltaPackage: started } = await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '3.0.0', toVersion: '3.1.0' } });
      const failed = await waitForGeneration(started.id);
      expect(failed).toMatchObject({ status: 'FAILED', package: null });
      expect(failed.error).toMatch(new RegExp(`^reading the full packages failed: the full package of 3\\.0\\.0 \\(id ${packages['3.0.0']!.id}\\): its CDN file .* hashes to [0-9a-f]{64}, not the package's checksum ${packages['3.0.0']!.checksum}$`));
    } finally {
      await fs.writeFile(stored, original);
    }
    // Fixed: a new request is a new attempt, and succeeds.
    const { generateDeltaPackage: retried } = await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '3.0.0', toVersion: '3.1.0' } });
    expect((await waitForGeneration(retried.id)).status).toBe('SUCCEEDED');
  });

  it('refuses bad requests with the right code and records nothing', async () => {
    const { extensionId } = await ownerWithReleases(['4.0.0', '4.1.0']);
    await createVersions(admin, extensionId, '4.2.0');
    const before = await generationCount();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ extensionId, fromVersion: '4.0.0', toVersion: '4.0.0' }, 'BAD_USER_INPUT', /both 4\.0\.0/],
      [{ extensionId, fromVersion: '4.1.0', toVersion: '4.0.0' }, 'BAD_USER_INPUT', /above toVersion/],
      [{ extensionId, fromVersion: 'one', toVersion: '4.1.0' }, 'BAD_USER_INPUT', /fromVersion/],
      [{ fromVersion: '4.0.0', toVersion: '4.1.0' }, 'BAD_USER_INPUT', /extensionId or productId/],
      [{ extensionId, fromVersion: '4.0.0', toVersion: '9.9.9' }, 'NOT_FOUND', /Version 9\.9\.9 .* was not found/],
      [{ extensionId: uniqueId('nobody'), fromVersion: '4.0.0', toVersion: '4.1.0' }, 'NOT_FOUND', /was not found/],
      [{ extensionId, fromVersion: '4.1.0', toVersion: '4.2.0' }, 'NOT_FOUND', /Version 4\.2\.0 of .* has no full package/],
    ];
    for (const [input, code, message] of cases) {
      const response = await admin.request(GenerateDeltaPackageDocument, { input } as never);
      expect(response.errors?.[0]?.extensions?.code, JSON.stringify(input)).toBe(code);
      expect(response.errors?.[0]?.message).toMatch(message);
    }
    expect(await user.errorCode(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '4.0.0', toVersion: '4.1.0' } })).toBe('FORBIDDEN');
    expect(await user.errorCode(DeltaGenerationDocument, { id: '00000000-0000-4000-8000-000000000000' })).toBe('FORBIDDEN');
    expect((await admin.data(DeltaGenerationDocument, { id: '00000000-0000-4000-8000-000000000000' })).deltaGeneration).toBeNull();
    expect(await generationCount()).toBe(before);
  });
});

describe('automatic mode (DELTA_AUTO_BASES)', () => {
  it('generates deltas to a new full package from the most-installed earlier versions only', async () => {
    const { extensionId } = await ownerWithReleases(['1.0.0', '1.1.0', '1.2.0', '1.3.0']);
    // Installs reported: 1.1.0 most, then 1.3.0, then 1.0.0; 1.2.0 none.
    const installs: Record<string, number> = { '1.1.0': 5, '1.3.0': 3, '1.0.0': 1 };
    for (const [version, times] of Object.entries(installs)) {
      for (let i = 0; i < times; i++) {
        await user.data(ReportUpdateStatusDocument, { clientId: `c-${version}-${i}`, extensionId, fromVersion: '0.0.1', toVersion: version, status: 'INSTALLED' });
      }
    }
    await server.app.services.distribution.flushReports();
    await createVersions(admin, extensionId, '2.0.0');
    const target = await fullPackage(extensionId, '2.0.0', release(4));
    // The hook runs after the mutation answered: wait for its generations to appear.
    const deadline = Date.now() + 20_000;
    while ((await generationsTo(extensionId, '2.0.0')).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const generations = await generationsTo(extensionId, '2.0.0');
    expect(generations.map((generation) => generation.fromVersion).sort()).toEqual(['1.1.0', '1.3.0']);
    for (const generation of generations) expect((await waitForGeneration(generation.id)).status).toBe('SUCCEEDED');
    const deltas = await server.app.runtime.db
      .select({ from: updatePackages.deltaFromVersion, targetChecksum: updatePackages.targetChecksum })
      .from(updatePackages)
      .where(and(eq(updatePackages.extensionId, extensionId), eq(updatePackages.isDelta, true), eq(updatePackages.toVersion, '2.0.0')))
      .orderBy(asc(updatePackages.deltaFromVersion));
    expect(deltas).toEqual([
      { from: '1.1.0', targetChecksum: target.checksum },
      { from: '1.3.0', targetChecksum: target.checksum },
    ]);
    // Distributing the full package is all it takes: clients on those bases are offered their deltas, live too.
    const ws = await server.ws('user');
    const feed = await subscribe<{ updateAvailable: Offer }>(
      ws,
      'subscription ($e: ID, $v: String!, $c: String) { updateAvailable(extensionId: $e, currentVersion: $v, clientId: $c) { toVersion isDelta deltaFromVersion distributionId targetChecksum } }',
      { e: extensionId, v: '1.3.0', c: 'live-on-1.3.0' },
    );
    const full = await distribute(admin, { packageId: target.id, strategy: 'IMMEDIATE' });
    const pushed = (await feed.next(20_000)).data!.updateAvailable;
    feed.close();
    expect(pushed).toMatchObject({ toVersion: '2.0.0', isDelta: true, deltaFromVersion: '1.3.0', distributionId: full.id, targetChecksum: target.checksum });
    expect(await check(user, { currentVersion: '1.1.0', extensionId })).toMatchObject({ toVersion: '2.0.0', isDelta: true, deltaFromVersion: '1.1.0', distributionId: full.id });
    expect(await check(user, { currentVersion: '1.2.0', extensionId })).toMatchObject({ toVersion: '2.0.0', isDelta: false, packageId: target.id });
  }, 120_000);
});

async function generationsTo(extensionId: string, toVersion: string) {
  return server.app.runtime.db
    .select()
    .from(deltaGenerations)
    .where(and(eq(deltaGenerations.extensionId, extensionId), eq(deltaGenerations.toVersion, toVersion)));
}
