import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isInRollout } from '../../src/services/distribution/bucketing.js';
import type { HttpClient } from '../helpers/client.js';
import { createPackage, createVersions, distribute } from '../helpers/distribution.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';
import { check, checkUntil, CHECK_FOR_UPDATES } from '../helpers/updateCheck.js';

/**
 * checkForUpdates end to end (real server, real HTTP): the contract's rules — highest eligible
 * live non-deprecated version above the client's, deltas only from their base and preferred
 * there, prereleases only when asked, mandatory propagation, gradual eligibility by clientId —
 * and no SQL at steady state.
 */

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(async () => server?.close());

const immediate = (packageId: string, extra: Record<string, unknown> = {}) => distribute(admin, { packageId, strategy: 'IMMEDIATE' as never, ...extra });

describe('checkForUpdates', () => {
  it('answers null when nothing is distributed, and BAD_USER_INPUT for a version that is not strict SemVer', async () => {
    const extensionId = uniqueId('check');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' }); // created, never distributed
    expect(await check(user, { currentVersion: '1.0.0', extensionId })).toBeNull();
    for (const bad of ['1.0', 'v1.0.0', '01.0.0', '']) {
      const response = await user.request(CHECK_FOR_UPDATES, { currentVersion: bad, extensionId });
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'currentVersion' });
    }
    const noOwner = await user.request(CHECK_FOR_UPDATES, { currentVersion: '1.0.0' });
    expect(noOwner.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('offers the highest live version above the client’s, with the package’s fields; nothing to a client already there', async () => {
    const extensionId = uniqueId('check');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0');
    const { pkg: p11 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: p12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0' });
    const d11 = await immediate(p11.id);
    expect(await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.toVersion === '1.1.0')).toMatchObject({
      fromVersion: '1.0.0', toVersion: '1.1.0', packageId: p11.id, packageUrl: p11.packageUrl, checksum: p11.checksum, packageSize: p11.packageSize,
      isDelta: false, deltaFromVersion: null, isRollback: false, mandatory: false, distributionId: d11.id,
    });
    await immediate(p12.id);
    expect((await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.toVersion === '1.2.0'))?.packageId).toBe(p12.id);
    expect((await check(user, { currentVersion: '1.1.0', extensionId }))?.toVersion).toBe('1.2.0');
    expect(await check(user, { currentVersion: '1.2.0', extensionId })).toBeNull();
    expect(await check(user, { currentVersion: '9.0.0', extensionId })).toBeNull();
  });

  it('offers a delta only on its base version and prefers it there; a full package to any lower version', async () => {
    const extensionId = uniqueId('delta');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0', '1.3.0');
    const { pkg: full12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0' });
    const { pkg: delta12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.1.0', toVersion: '1.2.0', isDelta: true });
    const { pkg: delta13 } = await createPackage(server, admin, { extensionId, fromVersion: '1.1.0', toVersion: '1.3.0', isDelta: true });
    await immediate(full12.id);
    await immediate(delta12.id);
    await checkUntil(user, { currentVersion: '1.1.0', extensionId }, (o) => o?.packageId === delta12.id);
    expect(await check(user, { currentVersion: '1.1.0', extensionId })).toMatchObject({ toVersion: '1.2.0', isDelta: true, deltaFromVersion: '1.1.0' });
    expect(await check(user, { currentVersion: '1.0.0', extensionId })).toMatchObject({ packageId: full12.id, isDelta: false });
    // A delta to a higher version that only applies on 1.1.0: 1.1.0 takes it, 1.0.0 keeps the full 1.2.0.
    await immediate(delta13.id);
    await checkUntil(user, { currentVersion: '1.1.0', extensionId }, (o) => o?.packageId === delta13.id);
    expect(await check(user, { currentVersion: '1.0.0', extensionId })).toMatchObject({ packageId: full12.id });
    // Build metadata does not change precedence: 1.1.0+build is on the delta's base.
    expect((await check(user, { currentVersion: '1.1.0+local.7', extensionId }))?.packageId).toBe(delta13.id);
  });

  it('offers prereleases only when asked', async () => {
    const extensionId = uniqueId('pre');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '2.0.0-rc.1');
    const { pkg: stable } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: rc } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '2.0.0-rc.1' });
    await immediate(stable.id);
    await immediate(rc.id);
    await checkUntil(user, { currentVersion: '1.0.0', extensionId, includePrerelease: true }, (o) => o?.packageId === rc.id);
    expect((await check(user, { currentVersion: '1.0.0', extensionId }))?.packageId).toBe(stable.id);
    expect((await check(user, { currentVersion: '1.0.0', extensionId, includePrerelease: false }))?.toVersion).toBe('1.1.0');
    expect(await check(user, { currentVersion: '1.1.0', extensionId })).toBeNull();
    expect((await check(user, { currentVersion: '1.1.0', extensionId, includePrerelease: true }))?.toVersion).toBe('2.0.0-rc.1');
  });

  it('never offers a deprecated version (the deprecation reaches the release state through its event)', async () => {
    const extensionId = uniqueId('depr');
    const ids = await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0');
    const { pkg: p11 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: p12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0' });
    await immediate(p11.id);
    await immediate(p12.id);
    await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.toVersion === '1.2.0');
    await admin.data('mutation ($id: ID!) { deprecateVersion(id: $id, reason: "data loss on upgrade") { id } }', { id: ids['1.2.0'] });
    await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.toVersion === '1.1.0', 2000);
    expect(await check(user, { currentVersion: '1.1.0', extensionId })).toBeNull();
  });

  it('marks an offer mandatory when a mandatory release lies in (current, offer]', async () => {
    const extensionId = uniqueId('mand');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0', '1.2.0');
    const { pkg: p11 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: p12 } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.2.0' });
    await immediate(p11.id, { mandatory: true });
    await immediate(p12.id);
    await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.toVersion === '1.2.0');
    expect(await check(user, { currentVersion: '1.0.0', extensionId })).toMatchObject({ toVersion: '1.2.0', mandatory: true });
    expect(await check(user, { currentVersion: '1.1.0', extensionId })).toMatchObject({ toVersion: '1.2.0', mandatory: false });
  });

  it('decides a gradual rollout per clientId: exactly the contract’s buckets, stable, growing with the percentage; no clientId sees none', { timeout: 120_000 }, async () => {
    const extensionId = uniqueId('grad');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const created = await distribute(admin, { packageId: pkg.id, strategy: 'GRADUAL' as never, percentage: 30 });
    const { salt } = (await server.app.services.distribution.getDistribution({ id: created.id }))!;
    const clients = Array.from({ length: 200 }, (_, i) => `installation-${i}`);
    const expected = (percentage: number) => new Set(clients.filter((clientId) => isInRollout(salt, clientId, percentage)));
    const eligible = async () => {
      const answers = await Promise.all(clients.map((clientId) => check(user, { currentVersion: '1.0.0', extensionId, clientId })));
      return new Set(clients.filter((_, i) => answers[i]?.packageId === pkg.id));
    };
    const eligibleUntil = async (want: Set<string>) => {
      const deadline = Date.now() + 5000;
      let got = await eligible();
      while (!sameSet(got, want) && Date.now() < deadline) got = await eligible();
      return got;
    };

    const at30 = await eligibleUntil(expected(30));
    expect(at30).toEqual(expected(30));
    expect(at30.size).toBeGreaterThan(30); // ~60 of 200
    expect(await eligible()).toEqual(at30); // stable between checks
    expect(await check(user, { currentVersion: '1.0.0', extensionId })).toBeNull(); // no clientId: only 100 % rollouts

    await admin.data('mutation ($id: ID!, $p: Float!) { updateDistributionPercentage(id: $id, percentage: $p) { id } }', { id: created.id, p: 70 });
    const at70 = await eligibleUntil(expected(70));
    expect(at70).toEqual(expected(70));
    for (const client of at30) expect(at70.has(client)).toBe(true); // nobody leaves
  });

  it('answers from memory at steady state: no SQL statement per check', async () => {
    const extensionId = uniqueId('nosql');
    // The release changes this test makes (package created, distribution created) reach the
    // release state as events; the measurement starts once both have arrived, so a late one
    // cannot count as a statement at steady state.
    const arrived: string[] = [];
    const stopListening = server.app.runtime.events.on('RELEASE_CHANGED', (event) => {
      if (event.extensionId === extensionId) arrived.push(event.reason);
    });
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    await immediate(pkg.id);
    const deadline = Date.now() + 5000;
    while (!arrived.includes('distribution-created') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    stopListening();
    expect(arrived).toEqual(['package-created', 'distribution-created']);
    await checkUntil(user, { currentVersion: '1.0.0', extensionId }, (o) => o?.packageId === pkg.id);
    const distributionService = server.app.services.distribution;
    // Every statement the server runs through Drizzle that reads the release tables.
    const session = (server.app.runtime.db as unknown as { session: { prepareQuery: (...args: unknown[]) => unknown } }).session;
    const original = session.prepareQuery;
    const statements: string[] = [];
    session.prepareQuery = function (this: unknown, ...args: unknown[]) {
      const text = (args[0] as { sql?: string })?.sql ?? '';
      if (/distributions|update_packages|versions/.test(text)) statements.push(text);
      return original.apply(this, args);
    };
    try {
      const before = distributionService.releaseStateStatements;
      for (let i = 0; i < 200; i++) {
        const offer = await check(user, { currentVersion: i % 2 ? '1.0.0' : '1.0.0+b', extensionId, clientId: `c-${i}` });
        expect(offer?.packageId).toBe(pkg.id);
      }
      expect(distributionService.releaseStateStatements - before).toBe(0);
      expect(statements).toEqual([]);
    } finally {
      session.prepareQuery = original;
    }
  });
});

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}
