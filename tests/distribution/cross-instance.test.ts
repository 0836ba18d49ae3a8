import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { CreateVersionDocument, DeprecateVersionDocument, VersionPublishedDocument } from '../generated/graphql.js';
import { HttpClient, subscribe, wsClient } from '../helpers/client.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/database.js';
import { ADMIN_ID, spawnServer, TEST_JWT_SECRET, uniqueId, USER_ID, type SpawnedServer } from '../helpers/server.js';

/**
 * Two server processes on one PostgreSQL database, as a scaled deployment runs: a dashboard
 * subscribed on one instance hears what an admin does through the other. Runs in the PGlite
 * pass too (against the machine's PostgreSQL), since only PostgreSQL can be shared.
 */

let database: TestDatabase;
let instanceA: SpawnedServer;
let instanceB: SpawnedServer;
let adminToken: string;
let userToken: string;
const sockets: ReturnType<typeof wsClient>[] = [];

beforeAll(async () => {
  database = await createPostgresDatabase();
  // Started together: both run migrations at once (serialised by an advisory lock).
  [instanceA, instanceB] = await Promise.all([spawnServer({}, database), spawnServer({}, database)]);
  adminToken = await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID });
  userToken = await mintToken({ secret: TEST_JWT_SECRET, role: 'user', sub: USER_ID });
});
afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await Promise.all([instanceA?.stop(), instanceB?.stop()]);
  await database?.drop();
});

const graphql = (server: SpawnedServer, token: string) => new HttpClient(`${server.url}/graphql`, token);
function socketTo(server: SpawnedServer) {
  const socket = wsClient(`${server.url.replace('http', 'ws')}/graphql`, userToken);
  sockets.push(socket);
  return socket;
}

describe('versionPublished across instances', () => {
  it('runs two separate processes on one database', () => {
    expect(instanceA.url).not.toBe(instanceB.url);
    expect(instanceA.process.pid).not.toBe(instanceB.process.pid);
  });

  it('pushes a version created through A to a subscriber on B, once, and to a subscriber on A, once', async () => {
    const extensionId = uniqueId();
    const onB = await subscribe(socketTo(instanceB), VersionPublishedDocument, { extensionId });
    const onA = await subscribe(socketTo(instanceA), VersionPublishedDocument, { extensionId });
    const { createVersion } = await graphql(instanceA, adminToken).data(CreateVersionDocument, {
      input: { version: '2.0.0', extensionId, changelog: [{ type: 'CHANGED', description: 'Across instances', breaking: true }] },
    });
    for (const subscription of [onB, onA]) {
      const event = await subscription.next();
      expect(event.errors).toBeUndefined();
      expect(event.data?.versionPublished).toEqual(createVersion);
    }
    expect(await onB.quietFor(300)).toBe(true);
    expect(await onA.quietFor(0)).toBe(true);
    onA.close();
    onB.close();
  });

  it('pushes a deprecation made through B to a subscriber on A', async () => {
    const extensionId = uniqueId();
    const { createVersion } = await graphql(instanceA, adminToken).data(CreateVersionDocument, { input: { version: '1.0.0', extensionId } });
    const onA = await subscribe(socketTo(instanceA), VersionPublishedDocument, { extensionId });
    await graphql(instanceB, adminToken).data(DeprecateVersionDocument, { id: createVersion.id, reason: 'breaks on B' });
    const event = await onA.next();
    expect(event.data?.versionPublished).toMatchObject({ id: createVersion.id, isDeprecated: true, deprecationReason: 'breaks on B' });
    onA.close();
  });

  it('delivers a payload above NOTIFY’s 8000-byte limit intact (20 KB of release notes)', async () => {
    const extensionId = uniqueId();
    const releaseNotes = Array.from({ length: 400 }, (_, i) => `line ${i}: ünïcødé ✓ "quoted" \\ back\\slash\n`).join('').padEnd(20_000, '.');
    expect(Buffer.byteLength(releaseNotes)).toBeGreaterThan(20_000);
    const onB = await subscribe(socketTo(instanceB), VersionPublishedDocument, { extensionId });
    const changelog = Array.from({ length: 30 }, (_, i) => ({ type: 'FIXED' as const, description: `Fix number ${i} ${'x'.repeat(100)}` }));
    const { createVersion } = await graphql(instanceA, adminToken).data(CreateVersionDocument, {
      input: { version: '3.0.0-rc.1', extensionId, releaseNotes, changelog, metadata: { big: 'y'.repeat(5000) } },
    });
    const event = await onB.next();
    expect(event.errors).toBeUndefined();
    expect(event.data?.versionPublished).toEqual(createVersion);
    expect(event.data?.versionPublished.releaseNotes).toBe(releaseNotes);
    onB.close();
  });
});
