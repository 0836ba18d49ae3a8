import postgres from 'postgres';
import WebSocket from 'ws';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VersionPublishedEvent } from '../../src/services/versions/service.js';
import { CreateVersionDocument, VersionPublishedDocument } from '../generated/graphql.js';
import { subscribe } from '../helpers/client.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * Events are sent iff their change commits (publish inside the writing transaction), and a
 * LISTEN connection that drops and comes back triggers onResync while delivery carries on.
 */

type VersionEventsResult = { versionEvents: { action: string; version: { id: string; releaseNotes: string | null; deprecationReason: string | null } } };
const VersionEvents = `subscription VersionEvents($extensionId: ID) {
  versionEvents(extensionId: $extensionId) { action version { id releaseNotes deprecationReason } }
}`;

async function createVersion(server: TestServer, extensionId: string, version = '1.0.0') {
  const admin = await server.client('admin');
  return (await admin.data(CreateVersionDocument, { input: { version, extensionId } })).createVersion;
}

describe('events of a transaction', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('are never delivered when the transaction rolls back, and delivered at commit otherwise', async () => {
    const extensionId = uniqueId();
    const { events, db } = server.app.runtime;
    const heard: VersionPublishedEvent[] = [];
    const off = events.on('VERSION_PUBLISHED', (event) => {
      if (event.version.extensionId === extensionId) heard.push(event);
    });
    const subscription = await subscribe<VersionEventsResult>(await server.ws('user'), VersionEvents, { extensionId });
    const created = await createVersion(server, extensionId);
    expect((await subscription.next()).data?.versionEvents).toMatchObject({ action: 'CREATED', version: { id: created.id } });

    const [record] = await server.app.services.versions.getVersionsByIds({ ids: [created.id] });
    const rolledBack = db.transaction(async (tx) => {
      await events.publish('VERSION_PUBLISHED', { action: 'DEPRECATED', version: { ...record!, deprecationReason: 'rolled back' } }, { tx });
      // Held open a moment: an event sent before commit would arrive meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 200));
      throw new Error('roll back');
    });
    await expect(rolledBack).rejects.toThrow('roll back');
    await db.transaction(async (tx) => {
      await events.publish('VERSION_PUBLISHED', { action: 'DEPRECATED', version: { ...record!, deprecationReason: 'committed' } }, { tx });
    });

    const next = await subscription.next();
    expect(next.data?.versionEvents).toMatchObject({ action: 'DEPRECATED', version: { id: created.id, deprecationReason: 'committed' } });
    expect(await subscription.quietFor(300)).toBe(true);
    expect(heard.map((event) => event.version.deprecationReason ?? event.action)).toEqual(['CREATED', 'committed']);
    off();
  });

  it('a large payload (over NOTIFY’s 8000 bytes) rolls back with its transaction too', async () => {
    const extensionId = uniqueId();
    const { events, db } = server.app.runtime;
    const subscription = await subscribe<VersionEventsResult>(await server.ws('user'), VersionEvents, { extensionId });
    const created = await createVersion(server, extensionId);
    await subscription.next();
    const [record] = await server.app.services.versions.getVersionsByIds({ ids: [created.id] });
    const releaseNotes = 'x'.repeat(20_000);
    await expect(
      db.transaction(async (tx) => {
        await events.publish('VERSION_PUBLISHED', { action: 'DEPRECATED', version: { ...record!, releaseNotes, deprecationReason: 'rolled back' } }, { tx });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await db.transaction(async (tx) => {
      await events.publish('VERSION_PUBLISHED', { action: 'DEPRECATED', version: { ...record!, releaseNotes, deprecationReason: 'committed' } }, { tx });
    });
    const next = await subscription.next();
    expect(next.data?.versionEvents).toMatchObject({ action: 'DEPRECATED', version: { deprecationReason: 'committed', releaseNotes } });
  });
});

describe('subscription acknowledgements (connectionParams.subscriptionAcks)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A bare graphql-transport-ws client: every message the server sends, in order. */
  async function bareSubscriber(connectionParams: Record<string, unknown>, extensionId: string) {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const messages: { type: string; id?: string; payload?: Record<string, unknown> }[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
    await until(() => messages.some((m) => m.type === 'connection_ack'));
    socket.send(JSON.stringify({ id: 'sub-1', type: 'subscribe', payload: { query: print(VersionPublishedDocument), variables: { extensionId } } }));
    return { socket, messages };
  }

  it('a client that asks is sent a ping naming the subscription once it listens; an event published right after reaches it', async () => {
    const extensionId = uniqueId();
    const authorization = `Bearer ${await server.token('user')}`;
    const { socket, messages } = await bareSubscriber({ authorization, subscriptionAcks: true }, extensionId);
    try {
      await until(() => messages.some((m) => m.type === 'ping'));
      expect(messages.filter((m) => m.type !== 'connection_ack')).toEqual([{ type: 'ping', payload: { subscribed: 'sub-1' } }]);
      await createVersion(server, extensionId, '2.0.0'); // at once: no grace period after the acknowledgement
      await until(() => messages.some((m) => m.type === 'next'));
      expect(messages.find((m) => m.type === 'next')).toMatchObject({ id: 'sub-1', payload: { data: { versionPublished: { version: '2.0.0' } } } });
    } finally {
      socket.close();
    }
  });

  it('a client that does not ask gets no ping, only its events', async () => {
    const extensionId = uniqueId();
    const authorization = `Bearer ${await server.token('user')}`;
    const { socket, messages } = await bareSubscriber({ authorization }, extensionId);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await createVersion(server, extensionId, '2.0.0');
      await until(() => messages.some((m) => m.type === 'next'));
      expect(messages.map((m) => m.type)).toEqual(['connection_ack', 'next']);
    } finally {
      socket.close();
    }
  });
});

async function until(condition: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a WebSocket message');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('a forced LISTEN reconnect on PostgreSQL', () => {
  let database: TestDatabase & { url: string };
  let server: TestServer;
  beforeAll(async () => {
    database = await createPostgresDatabase();
    server = await startTestServer({}, database);
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  it('calls onResync when the listening backend is terminated, and delivery continues', async () => {
    const resynced = new Promise<void>((resolve) => server.app.runtime.events.onResync(resolve));
    const extensionId = uniqueId();
    const subscription = await subscribe(await server.ws('user'), VersionPublishedDocument, { extensionId });

    const admin = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      // postgres.js keeps every LISTEN of a client (events, jobs) on one connection of its own.
      const listening = () => admin<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen %'`;
      const before = (await listening()).map((row) => row.pid);
      expect(before.length).toBeGreaterThanOrEqual(1);
      for (const pid of before) await admin`select pg_terminate_backend(${pid})`;
      await Promise.race([
        resynced,
        new Promise((_, reject) => setTimeout(() => reject(new Error('onResync was not called within 10 s')), 10_000)),
      ]);
      const after = (await listening()).map((row) => row.pid);
      expect(after.filter((pid) => !before.includes(pid)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.end();
    }

    const created = await createVersion(server, extensionId, '2.0.0');
    const event = await subscription.next();
    expect(event.data?.versionPublished).toMatchObject({ id: created.id, version: '2.0.0' });
  });
});
