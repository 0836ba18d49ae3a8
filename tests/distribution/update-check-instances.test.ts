import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { HttpClient, subscribe, wsClient } from '../helpers/client.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/database.js';
import { ADMIN_ID, spawnServer, TEST_JWT_SECRET, uniqueId, USER_ID, type SpawnedServer } from '../helpers/server.js';
import { check, checkUntil, UPDATE_AVAILABLE, type Offer } from '../helpers/updateCheck.js';

/**
 * Update checks and offers across server processes on one PostgreSQL database (runs in the
 * PGlite pass too, against the machine's PostgreSQL): a distribution made through one instance
 * reaches a subscriber on the other, and a notification lost while the LISTEN connection was
 * down never leaves an instance answering from a stale release state.
 */

let database: TestDatabase & { url: string };
let instanceA: SpawnedServer;
let instanceB: SpawnedServer;
let adminA: HttpClient;
let userA: HttpClient;
let userB: HttpClient;
let userToken: string;
const sockets: ReturnType<typeof wsClient>[] = [];

beforeAll(async () => {
  database = await createPostgresDatabase();
  [instanceA, instanceB] = await Promise.all([spawnServer({}, database), spawnServer({}, database)]);
  adminA = new HttpClient(`${instanceA.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID }));
  userToken = await mintToken({ secret: TEST_JWT_SECRET, role: 'user', sub: USER_ID });
  userA = new HttpClient(`${instanceA.url}/graphql`, userToken);
  userB = new HttpClient(`${instanceB.url}/graphql`, userToken);
});
afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await Promise.all([instanceA?.stop(), instanceB?.stop()]);
  await database?.drop();
});

/** An extension with 1.0.0 and `target`, and an undistributed full package to `target`, made through instance A. */
async function release(extensionId: string, target: string): Promise<string> {
  for (const version of ['1.0.0', target]) {
    await adminA.request('mutation ($input: CreateVersionInput!) { createVersion(input: $input) { id } }', { input: { version, extensionId } });
  }
  const file = `${extensionId}-${target}.bin`;
  fs.mkdirSync(path.join(database.dataDir, 'uploads'), { recursive: true });
  fs.writeFileSync(path.join(database.dataDir, 'uploads', file), crypto.randomBytes(1024));
  const { createUpdatePackage } = await adminA.data<{ createUpdatePackage: { id: string } }>(
    'mutation ($input: CreateUpdatePackageInput!) { createUpdatePackage(input: $input) { id } }',
    { input: { extensionId, fromVersion: '1.0.0', toVersion: target, packagePath: file } },
  );
  return createUpdatePackage.id;
}

const distributeOnA = (packageId: string) =>
  adminA.data<{ distributeUpdate: { id: string } }>('mutation ($input: DistributeUpdateInput!) { distributeUpdate(input: $input) { id } }', {
    input: { packageId, strategy: 'IMMEDIATE' },
  });

describe('update checks across instances (PostgreSQL)', () => {
  it('a distribution made on one instance reaches a subscriber on the other within a second', async () => {
    const extensionId = uniqueId('multi');
    const packageId = await release(extensionId, '1.1.0');
    expect(await check(userB, { currentVersion: '1.0.0', extensionId })).toBeNull(); // B caches "nothing"
    const socket = wsClient(`${instanceB.url.replace('http', 'ws')}/graphql`, userToken);
    sockets.push(socket);
    const subscription = await subscribe<{ updateAvailable: Offer }>(socket, UPDATE_AVAILABLE, { currentVersion: '1.0.0', extensionId, clientId: 'pc-1' });
    const started = Date.now();
    await distributeOnA(packageId);
    const pushed = await subscription.next(3000);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(pushed.data?.updateAvailable).toMatchObject({ toVersion: '1.1.0', packageId });
    expect((await check(userB, { currentVersion: '1.0.0', extensionId }))?.packageId).toBe(packageId);
    subscription.close();
  });

  it('after a forced LISTEN reconnect no instance answers from a stale release state', async () => {
    const extensionId = uniqueId('resync');
    const packageId = await release(extensionId, '1.1.0');
    await distributeOnA(packageId);
    for (const user of [userA, userB]) await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (offer) => offer?.packageId === packageId);
    // The release's own events (package-created, distribution-created) may still be on their way
    // to an instance; let them land and be answered from before the silent change below, or a
    // late one would reload the state and hide the staleness this test is about.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const user of [userA, userB]) await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (offer) => offer?.packageId === packageId);

    // A change that sends no event (as if its notification were lost): both instances still
    // answer from memory, which is what makes the resync necessary.
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await sql`update distributions set status = 'PAUSED', paused_at = now() where package_id = ${packageId}`;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await check(userA, { currentVersion: '1.0.0', extensionId }))?.packageId).toBe(packageId);
      expect((await check(userB, { currentVersion: '1.0.0', extensionId }))?.packageId).toBe(packageId);

      // Drop every instance's LISTEN connection: each reconnects, resyncs and flushes its state.
      const terminated = await sql`
        select pg_terminate_backend(pid) as done from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen%'`;
      expect(terminated.length).toBeGreaterThanOrEqual(2);
    } finally {
      await sql.end();
    }
    for (const user of [userA, userB]) {
      expect(await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (offer) => offer === null, 10_000)).toBeNull();
    }
  });
});
