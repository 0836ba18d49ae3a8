import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applyDelta } from '../../src/delta/index.js';
import { closeSharedRuntime } from '../../src/services/runtime.js';
import { updateDistributionService } from '../../src/services/updateDistributionService.js';
import { AuditLogDocument, CreateUpdatePackageDocument, ReportUpdateStatusDocument, UpdatePackagesDocument, type UpdatePackageFieldsFragment } from '../generated/graphql.js';
import { makeGzip, makeTar, sourceText } from '../helpers/archives.js';
import { putInUploads, sha256 } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createVersions } from '../helpers/distribution.js';
import { startTestServer, TEST_JWT_SECRET, uniqueId } from '../helpers/server.js';

/**
 * Automatic deltas (DELTA_AUTO_BASES) are asked for by a job enqueued in the transaction that
 * records the full package. So a release script that creates the package and exits at once —
 * as after a crash right after the commit — still gets its deltas: the request waits in the
 * queue, and the next server on the database generates them.
 */

const VARIABLES = ['DATA_DIR', 'DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL', 'DELTA_AUTO_BASES'] as const;
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
let database: TestDatabase;
const extensionId = uniqueId('delta-auto');

const release = (minor: number) =>
  makeGzip(
    makeTar([
      { name: 'package/package.json', content: JSON.stringify({ name: 'demo', version: `${minor}.0.0` }) },
      { name: 'package/lib/index.js', content: sourceText(3, 3000) + sourceText(300 + minor, 20) },
    ]),
    { level: 9, mtime: 1_700_000_000 + minor },
  );

const bytes = { '1.0.0': release(1), '2.0.0': release(2) };
let targetPath: string;

beforeAll(async () => {
  database = await createTestDatabase();
  // Before the release: 1.0.0 has a full package and installs; 2.0.0 exists as a version and its file is uploaded.
  const seeding = await startTestServer({ DELTA_AUTO_BASES: '2' }, database);
  try {
    const admin = await seeding.client('admin');
    const user = await seeding.client('user');
    await createVersions(admin, extensionId, '0.0.1', '1.0.0', '2.0.0');
    const packagePath = putInUploads(seeding, `auto/${extensionId}-1.0.0.tgz`, bytes['1.0.0']);
    await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '0.0.1', toVersion: '1.0.0', packagePath } });
    for (const clientId of ['a', 'b', 'c']) await user.data(ReportUpdateStatusDocument, { clientId, extensionId, fromVersion: '0.0.1', toVersion: '1.0.0', status: 'INSTALLED' });
    await seeding.app.services.distribution.flushReports();
    targetPath = putInUploads(seeding, `auto/${extensionId}-2.0.0.tgz`, bytes['2.0.0']);
  } finally {
    await seeding.close();
  }
  process.env.DATA_DIR = database.dataDir;
  process.env.JWT_SECRET = TEST_JWT_SECRET;
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  process.env.DELTA_AUTO_BASES = '2';
  if (database.url) process.env.DATABASE_URL = database.url;
  else delete process.env.DATABASE_URL;
}, 120_000);
afterAll(async () => {
  await closeSharedRuntime();
  for (const name of VARIABLES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  await database?.drop();
});

async function packagesTo(admin: HttpClient, version: string): Promise<UpdatePackageFieldsFragment[]> {
  return (await admin.data(UpdatePackagesDocument, { extensionId, version })).updatePackages.nodes;
}

describe('automatic deltas survive the process that created the package', () => {
  it('a script creates the full package and exits at once; the next server generates the delta from the most-installed base', async () => {
    // The release script: the seed's service instance over its own runtime, which runs no jobs.
    const full = await updateDistributionService.createUpdatePackage({ extensionId, fromVersion: '0.0.1', toVersion: '2.0.0', packagePath: targetPath });
    expect(full).toMatchObject({ isDelta: false, toVersion: '2.0.0', checksum: sha256(bytes['2.0.0']) });
    await closeSharedRuntime();

    const server = await startTestServer({ DELTA_AUTO_BASES: '2', JOBS_POLL_INTERVAL: '1s' }, database);
    try {
      const admin = await server.client('admin');
      const deadline = Date.now() + 60_000;
      let delta: UpdatePackageFieldsFragment | undefined;
      while (!delta && Date.now() < deadline) {
        delta = (await packagesTo(admin, '2.0.0')).find((pkg) => pkg.isDelta);
        if (!delta) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(delta).toMatchObject({ isDelta: true, deltaFromVersion: '1.0.0', deltaFormat: 'dfd1-gzip', targetChecksum: full.checksum });
      const downloaded = Buffer.from(await (await fetch(delta!.packageUrl)).arrayBuffer());
      expect(applyDelta(bytes['1.0.0'], downloaded).equals(bytes['2.0.0'])).toBe(true);
      // Asked for once, by the system actor, although the package's creator had exited.
      const { auditLog } = await admin.data(AuditLogDocument, { filter: { operation: 'generateDeltaPackage' } });
      expect(auditLog.nodes.map((entry) => [entry.actor.id, entry.outcome])).toEqual([['system:delta-auto', 'SUCCEEDED']]);
    } finally {
      await server.close();
    }
  }, 120_000);
});
