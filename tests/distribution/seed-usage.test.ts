import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { closeSharedRuntime } from '../../src/services/runtime.js';
import { updateDistributionService } from '../../src/services/updateDistributionService.js';
import { versionManagementService } from '../../src/services/versionManagementService.js';
import { LatestVersionDocument, VersionByIdDocument, VersionPublishedDocument } from '../generated/graphql.js';
import { HttpClient, subscribe } from '../helpers/client.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database.js';
import { spawnServer, startTestServer, TEST_JWT_SECRET, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * The seed's programmatic example, run as written: a release script imports the ready-made
 * service instance and calls it with the seed's argument order. The instance opens its runtime
 * from process.env on first use; what it stores is what the GraphQL API then serves.
 */

const VARIABLES = ['DATA_DIR', 'DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL'] as const;
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
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

const extensionId = uniqueId();
const changelog = [
  { type: 'added', description: 'Offline mode' },
  { type: 'fixed', description: 'Crash when the cache is empty', scope: 'sync' },
];

/**
 * The version the seed example creates, made once by whichever test needs it first: each test
 * of this file also runs alone (`-t`).
 */
let seeded: ReturnType<typeof versionManagementService.createVersion> | undefined;
const seedVersion = () => (seeded ??= versionManagementService.createVersion('1.2.3', extensionId, undefined, changelog, 'notes'));

describe('versionManagementService (the seed usage example)', () => {
  it("createVersion('1.2.3', extensionId, undefined, changelog, 'notes') stores the version", async () => {
    const created = await seedVersion();
    expect(created).toMatchObject({
      version: '1.2.3',
      major: 1,
      minor: 2,
      patch: 3,
      prerelease: null,
      extensionId,
      productId: null,
      releaseNotes: 'notes',
      isStable: true,
      isDeprecated: false,
      releasedBy: null,
      changelog: [
        { type: 'ADDED', description: 'Offline mode', scope: null, breaking: false },
        { type: 'FIXED', description: 'Crash when the cache is empty', scope: 'sync', breaking: false },
      ],
    });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.releasedAt).toBeInstanceOf(Date);
  });

  it('reads it back through the same instance', async () => {
    const created = await seedVersion();
    expect((await versionManagementService.getVersion(created.id))?.version).toBe('1.2.3');
    expect((await versionManagementService.getLatestVersion(extensionId))?.id).toBe(created.id);
    expect((await versionManagementService.getVersions(extensionId)).map((v) => v.version)).toEqual(['1.2.3']);
  });

  it('throws the contract’s errors: CONFLICT for the same version again, BAD_USER_INPUT for a non-SemVer one', async () => {
    await seedVersion();
    await expect(versionManagementService.createVersion('1.2.3', extensionId)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(versionManagementService.createVersion('v1.2.4', extensionId)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(versionManagementService.createVersion('1.2.4')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('compares versions as semver does', () => {
    expect(versionManagementService.compareVersions('1.2.3', '1.10.0')).toMatchObject({ result: -1, newer: '1.10.0', difference: 'MINOR' });
  });
});

describe('updateDistributionService.checkForUpdates (the seed usage example)', () => {
  it("checkForUpdates('1.0.0', extensionId) resolves to the offer with toVersion, or null", async () => {
    const owner = uniqueId('seedcheck');
    await versionManagementService.createVersion('1.0.0', owner);
    await versionManagementService.createVersion('1.1.0', owner, undefined, [], 'faster sync');
    expect(await updateDistributionService.checkForUpdates('1.0.0', owner)).toBeNull();
    const uploads = path.join(process.env.DATA_DIR!, 'uploads');
    fs.mkdirSync(uploads, { recursive: true });
    fs.writeFileSync(path.join(uploads, `${owner}-1.1.0.bin`), crypto.randomBytes(1024));
    const pkg = await updateDistributionService.createUpdatePackage({ fromVersion: '1.0.0', toVersion: '1.1.0', extensionId: owner, packagePath: `${owner}-1.1.0.bin` });
    await updateDistributionService.distributeUpdate({ packageId: pkg.id, strategy: 'IMMEDIATE' });
    let offer = await updateDistributionService.checkForUpdates('1.0.0', owner);
    for (let i = 0; i < 50 && !offer; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // the release event reaches the state asynchronously
      offer = await updateDistributionService.checkForUpdates('1.0.0', owner);
    }
    expect(offer).toMatchObject({ fromVersion: '1.0.0', toVersion: '1.1.0', packageId: pkg.id, checksum: pkg.checksum, isDelta: false, isRollback: false, releaseNotes: 'faster sync' });
    expect(await updateDistributionService.checkForUpdates('1.1.0', owner)).toBeNull();
    await expect(updateDistributionService.checkForUpdates('1.0', owner)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('what the script stored, seen through GraphQL', () => {
  it('is served by a server on the same database (PostgreSQL: alongside the script, whose events its subscribers hear; PGlite: after the script closed it)', async () => {
    await seedVersion();
    if (usingPostgres) await checkWithServerAlongside();
    else await checkWithServerAfterwards();
  });
});

async function checkWithServerAlongside(): Promise<void> {
  const server: TestServer = await startTestServer({}, database);
  try {
    const user = await server.client('user');
    const { latestVersion } = await user.data(LatestVersionDocument, { extensionId });
    expect(latestVersion).toMatchObject({ version: '1.2.3', extensionId, releaseNotes: 'notes', changelog: [{ type: 'ADDED' }, { type: 'FIXED', scope: 'sync' }] });
    expect((await user.data(VersionByIdDocument, { id: latestVersion!.id })).version?.version).toBe('1.2.3');

    const subscription = await subscribe(await server.ws('user'), VersionPublishedDocument, { extensionId });
    const fromScript = await versionManagementService.createVersion('1.3.0', extensionId, undefined, [], 'from a script');
    expect((await subscription.next()).data?.versionPublished).toMatchObject({ id: fromScript.id, releaseNotes: 'from a script' });
    subscription.close();
  } finally {
    await server.close();
  }
}

async function checkWithServerAfterwards(): Promise<void> {
  // One process cannot open a PGlite data dir twice: close the script's runtime, then start a server process on it.
  await closeSharedRuntime();
  const server = await spawnServer({ DATABASE_URL: '' }, database);
  try {
    const user = new HttpClient(`${server.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'user' }));
    const { latestVersion } = await user.data(LatestVersionDocument, { extensionId });
    expect(latestVersion).toMatchObject({ version: '1.2.3', extensionId, releaseNotes: 'notes', releasedBy: null, changelog: [{ type: 'ADDED' }, { type: 'FIXED', scope: 'sync' }] });
  } finally {
    expect(await server.stop()).toBe(0);
  }
}
