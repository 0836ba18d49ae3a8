import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Client } from 'graphql-ws';

import { subscribe, type HttpClient, type Subscription } from '../helpers/client.js';
import { createPackage, createVersions, distribute } from '../helpers/distribution.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';
import { check, UPDATE_AVAILABLE, type Offer } from '../helpers/updateCheck.js';

/**
 * updateAvailable end to end (real server, real graphql-ws clients): the current offer first,
 * then each new offer for this client — a gradual step tells exactly the clients it takes in,
 * a pause tells no one.
 */

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;
let ws: Client;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.client('admin');
  user = await server.client('user');
  ws = await server.ws('user');
});
afterAll(async () => server?.close());

type Event = { data?: { updateAvailable: Offer }; errors?: unknown[] };

async function offers(variables: Record<string, unknown>): Promise<Subscription<Event>> {
  return (await subscribe(ws, UPDATE_AVAILABLE, variables)) as unknown as Subscription<Event>;
}

describe('updateAvailable', () => {
  it('pushes a new offer when a distribution goes live, and first sends the current offer to a (re)connecting subscriber', async () => {
    const extensionId = uniqueId('sub');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0');
    const { pkg: p11 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: p12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0' });
    const subscription = await offers({ currentVersion: '1.0.0', extensionId, clientId: 'laptop-1' });
    expect(await subscription.quietFor(300)).toBe(true); // nothing to offer yet

    const started = Date.now();
    const d11 = await distribute(admin, { packageId: p11.id, strategy: 'IMMEDIATE' as never });
    const first = await subscription.next(3000);
    expect(Date.now() - started).toBeLessThan(1000 + 500); // the contract: within a second of the mutation (plus the mutation itself)
    expect(first.data?.updateAvailable).toMatchObject({ fromVersion: '1.0.0', toVersion: '1.1.0', packageId: p11.id, distributionId: d11.id, isRollback: false });

    await distribute(admin, { packageId: p12.id, strategy: 'IMMEDIATE' as never });
    expect((await subscription.next(3000)).data?.updateAvailable).toMatchObject({ toVersion: '1.2.0', packageId: p12.id });
    subscription.close();

    // A client that reconnects gets the current offer at once.
    const again = await offers({ currentVersion: '1.0.0', extensionId, clientId: 'laptop-1' });
    expect((await again.next(3000)).data?.updateAvailable).toMatchObject({ toVersion: '1.2.0', packageId: p12.id });
    expect(await again.quietFor(300)).toBe(true);
    again.close();
  });

  it('refuses an invalid version with BAD_USER_INPUT', async () => {
    const subscription = await offers({ currentVersion: 'v1', extensionId: 'x.y' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(JSON.stringify(subscription.errors)).toContain('BAD_USER_INPUT');
    subscription.close();
  });

  it('a gradual step tells exactly the clients it takes in; a pause and a lowered percentage tell no one', { timeout: 120_000 }, async () => {
    const extensionId = uniqueId('step');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const clients = Array.from({ length: 30 }, (_, i) => `device-${i}`);
    const subscriptions = new Map<string, Subscription<Event>>();
    for (const clientId of clients) subscriptions.set(clientId, await offers({ currentVersion: '1.0.0', extensionId, clientId }));

    const eligible = async () => {
      const answers = await Promise.all(clients.map((clientId) => check(user, { currentVersion: '1.0.0', extensionId, clientId })));
      return new Set(clients.filter((_, i) => answers[i]?.packageId === pkg.id));
    };
    /** Which subscribers were told within `ms` (each at most once is expected). */
    const told = async (ms: number) => {
      const results = await Promise.all(clients.map(async (clientId) => ((await subscriptions.get(clientId)!.quietFor(ms)) ? null : clientId)));
      return new Set(results.filter((id): id is string => id !== null));
    };

    const distribution = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL' as never, percentage: 30 });
    const toldAt30 = await told(1500);
    const at30 = await eligible();
    expect(toldAt30).toEqual(at30);
    expect(at30.size).toBeGreaterThan(0);

    await admin.data('mutation ($id: ID!, $p: Float!) { updateDistributionPercentage(id: $id, percentage: $p) { id } }', { id: distribution.id, p: 70 });
    const toldAt70 = await told(1500);
    const at70 = await eligible();
    expect(toldAt70).toEqual(new Set([...at70].filter((client) => !at30.has(client)))); // exactly the newly eligible
    expect(toldAt70.size).toBeGreaterThan(0);

    await admin.data('mutation ($id: ID!, $p: Float!) { updateDistributionPercentage(id: $id, percentage: $p) { id } }', { id: distribution.id, p: 20 });
    expect((await told(800)).size).toBe(0);
    await admin.data('mutation ($id: ID!) { pauseDistribution(id: $id) { id } }', { id: distribution.id });
    expect((await told(800)).size).toBe(0);
    for (const subscription of subscriptions.values()) subscription.close();
  });
});
