import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { HttpClient } from '../helpers/client.js';
import { randomBytes } from '../helpers/cdnFiles.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/database.js';
import { createVersions, distribute, readDistribution, waitForDistribution } from '../helpers/distribution.js';
import { ADMIN_ID, spawnServer, TEST_JWT_SECRET, uniqueId, type SpawnedServer } from '../helpers/server.js';
import { CreateUpdatePackageDocument } from '../generated/graphql.js';

/**
 * Ramps across server processes sharing one PostgreSQL database: each step is a job with a
 * deterministic key, applied by a compare-and-set, so it runs exactly once whichever instance
 * takes it, and an instance killed mid-ramp leaves the rest to the other. What ran is read from
 * the processes' structured logs ("distribution advanced by job", one line per applied step).
 */

const FAST = { JOBS_SUPERVISE_INTERVAL: '1s', JOBS_POLL_INTERVAL: '1s' };

let database: TestDatabase & { url: string };
const servers: SpawnedServer[] = [];

beforeAll(async () => {
  database = await createPostgresDatabase();
  // One after the other: the first applies the migrations.
  servers.push(await spawnServer(FAST, database, 60_000));
  servers.push(await spawnServer(FAST, database, 60_000));
}, 150_000);
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')));
  await database?.drop();
});

async function adminOf(server: SpawnedServer) {
  return new HttpClient(`${server.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID }));
}

/** Steps applied per distribution, from every process's log. */
function appliedSteps(distributionId: string): number[] {
  return servers
    .flatMap((server) => server.output().split('\n'))
    .filter((line) => line.includes('distribution advanced by job') && line.includes(distributionId))
    .map((line) => (JSON.parse(line) as { step: number }).step)
    .sort((a, b) => a - b);
}

async function rampedDistribution(admin: HttpClient, holdSeconds: number) {
  const extensionId = uniqueId('multi');
  await createVersions(admin, extensionId, '1.0.0', '2.0.0');
  // Both processes run with the database's DATA_DIR, so UPLOAD_DIR is DATA_DIR/uploads for both.
  const packagePath = `${extensionId}.bin`;
  fs.mkdirSync(path.join(database.dataDir, 'uploads'), { recursive: true });
  fs.writeFileSync(path.join(database.dataDir, 'uploads', packagePath), randomBytes(256));
  const { createUpdatePackage: pkg } = await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '2.0.0', packagePath } });
  const steps = [10, 20, 30, 40, 60, 100].map((percentage) => ({ percentage, holdSeconds }));
  return distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL', steps });
}

describe('ramps across two server processes (PostgreSQL)', () => {
  it('runs every step exactly once with both instances taking jobs', async () => {
    const admin = await adminOf(servers[0]!);
    const d = await rampedDistribution(admin, 1);
    const done = await waitForDistribution(await adminOf(servers[1]!), d.id, (x) => x.status === 'COMPLETED', 30_000);
    expect(done).toMatchObject({ currentStep: 5, percentage: 100 });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // any duplicate would have logged by now
    expect(appliedSteps(d.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('finishes a ramp on the other instance after one is killed with SIGKILL mid-ramp, losing and repeating no step', async () => {
    const admin = await adminOf(servers[1]!);
    const d = await rampedDistribution(admin, 2);
    await waitForDistribution(admin, d.id, (x) => x.currentStep >= 2, 30_000);
    await servers[0]!.stop('SIGKILL');
    const killedAt = await readDistribution(admin, d.id);
    const done = await waitForDistribution(admin, d.id, (x) => x.status === 'COMPLETED', 60_000);
    expect(done).toMatchObject({ currentStep: 5, percentage: 100 });
    expect(appliedSteps(d.id)).toEqual([1, 2, 3, 4, 5]);
    console.log(`[distribution] SIGKILL at step ${killedAt!.currentStep}; the other instance completed the ramp`);
  });
});
