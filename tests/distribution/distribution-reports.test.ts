import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distributionDailyStats, versionAdoptionDaily } from '../../src/db/schema.js';
import { AdoptionDocument, DistributionStatsDocument, ReportUpdateStatusDocument } from '../generated/graphql.js';
import type { HttpClient } from '../helpers/client.js';
import { createTestDatabase } from '../helpers/database.js';
import { createPackage, createVersions, distribute, ownerWithPackage, recordStatements } from '../helpers/distribution.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/** Flushes only when the test says so (or at shutdown). */
const NO_TIMED_FLUSH = { DISTRIBUTION_REPORT_FLUSH_INTERVAL: '1h' };

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer(NO_TIMED_FLUSH);
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

const today = () => new Date().toISOString().slice(0, 10);

async function statsRows(target = server) {
  const db = target.app.runtime.db;
  const [[stats], [adoption]] = await Promise.all([db.select({ n: count() }).from(distributionDailyStats), db.select({ n: count() }).from(versionAdoptionDaily)]);
  return { stats: stats!.n, adoption: adoption!.n };
}

function report(client: HttpClient, extensionId: string, clientId: string, status: 'DOWNLOADED' | 'INSTALLED' | 'FAILED' | 'ROLLED_BACK', fromVersion = '1.0.0', toVersion = '1.1.0') {
  return client.data(ReportUpdateStatusDocument, { clientId, extensionId, fromVersion, toVersion, status });
}

describe('reportUpdateStatus', () => {
  it('counts reports in memory and writes them in one batch: 205 reports from 100 clients become one row per distribution and day, in three statements', async () => {
    const { extensionId, pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' });
    await server.app.services.distribution.flushReports();
    const before = await statsRows();

    const { result: answers, statements: perReport } = await recordStatements(server, () => {
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        sent.push(report(user, extensionId, `client-${i}`, 'DOWNLOADED'));
        sent.push(report(user, extensionId, `client-${i}`, i < 90 ? 'INSTALLED' : 'FAILED'));
        if (i >= 95) sent.push(report(user, extensionId, `client-${i}`, 'ROLLED_BACK'));
      }
      for (let i = 0; i < 95; i++) server.app.services.distribution.recordOffer({ distributionId: d.id });
      return Promise.all(sent);
    });
    expect(answers).toHaveLength(205);
    // No statement per report (background CDN passes may run meanwhile: only distribution tables count).
    expect(perReport.filter((text) => /distribution|update_packages|versions|adoption/.test(text))).toEqual([]);
    expect(await statsRows()).toEqual(before);

    const { result: flushed, statements } = await recordStatements(server, () => server.app.services.distribution.flushReports());
    expect(flushed).toEqual({ reportRows: 1, offerRows: 1, reports: 205, offers: 95, statements: 3, gatedDistributionIds: [] });
    expect(statements.filter((text) => /distribution_daily_stats|version_adoption_daily/.test(text))).toHaveLength(3);
    expect(await statsRows()).toEqual({ stats: before.stats + 1, adoption: before.adoption + 1 });

    const { distribution } = await admin.data(DistributionStatsDocument, { id: d.id, days: 7 });
    expect(distribution!.stats).toEqual({
      offered: 95,
      downloaded: 100,
      installed: 90,
      failed: 10,
      rolledBack: 5,
      daily: [{ date: today(), offered: 95, downloaded: 100, installed: 90, failed: 10, rolledBack: 5 }],
    });
    const { adoption } = await admin.data(AdoptionDocument, { extensionId, days: 7 });
    expect(adoption).toEqual([{ version: '1.1.0', versionId: pkg.toVersionId, date: today(), downloaded: 100, installed: 90, failed: 10, rolledBack: 5 }]);

    // A second batch adds to the same rows.
    await report(user, extensionId, 'late-client', 'INSTALLED');
    await server.app.services.distribution.flushReports();
    expect((await admin.data(DistributionStatsDocument, { id: d.id })).distribution!.stats.installed).toBe(91);
    expect(await statsRows()).toEqual({ stats: before.stats + 1, adoption: before.adoption + 1 });
  });

  it('attributes a report to the delta from the client’s version when there is one, else to the full package', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0', '1.0.1', '1.1.0');
    const { pkg: full } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    const { pkg: delta } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.1', toVersion: '1.1.0', isDelta: true });
    const fullDistribution = await distribute(admin, { packageId: full.id, strategy: 'IMMEDIATE' });
    const deltaDistribution = await distribute(admin, { packageId: delta.id, strategy: 'IMMEDIATE' });
    await report(user, extensionId, 'a', 'INSTALLED', '1.0.1');
    await report(user, extensionId, 'b', 'INSTALLED', '1.0.1');
    await report(user, extensionId, 'c', 'INSTALLED', '1.0.0');
    await report(user, extensionId, 'd', 'INSTALLED', '0.9.0');
    await server.app.services.distribution.flushReports();
    const installed = async (id: string) => (await admin.data(DistributionStatsDocument, { id })).distribution!.stats.installed;
    expect(await installed(deltaDistribution.id)).toBe(2);
    expect(await installed(fullDistribution.id)).toBe(2);
  });

  it('drops reports for versions the owner does not have from adoption', async () => {
    const extensionId = uniqueId();
    await createVersions(admin, extensionId, '1.0.0');
    await report(user, extensionId, 'x', 'INSTALLED', '1.0.0', '9.9.9');
    await server.app.services.distribution.flushReports();
    expect((await admin.data(AdoptionDocument, { extensionId })).adoption).toEqual([]);
  });

  it('answers BAD_USER_INPUT for unbounded or malformed input, counting nothing', async () => {
    const extensionId = uniqueId();
    const base = { clientId: 'client-1', extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', status: 'INSTALLED' as const };
    const cases = [
      { ...base, clientId: '' },
      { ...base, clientId: 'x'.repeat(201) },
      { ...base, clientId: 'has space' },
      { ...base, toVersion: 'v1.1.0' },
      { ...base, fromVersion: '1.0' },
      { ...base, extensionId: null },
      { ...base, details: { log: 'x'.repeat(5000) } },
    ];
    await server.app.services.distribution.flushReports();
    for (const variables of cases) {
      const response = await user.request(ReportUpdateStatusDocument, variables);
      expect({ variables: JSON.stringify(variables).slice(0, 120), code: response.errors?.[0]?.extensions?.code }).toEqual({
        variables: JSON.stringify(variables).slice(0, 120),
        code: 'BAD_USER_INPUT',
      });
    }
    expect(await server.app.services.distribution.flushReports()).toMatchObject({ reports: 0 });
    expect(await user.data(ReportUpdateStatusDocument, { ...base, clientId: 'x'.repeat(200), details: { error: 'disk full' } })).toEqual({ reportUpdateStatus: true });
  });

  it('is open to any authenticated caller; the counts are for admins', async () => {
    const { extensionId, pkg } = await ownerWithPackage(server, admin);
    const d = await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' });
    const anonymous = await server.client(null);
    expect(await anonymous.errorCode(ReportUpdateStatusDocument, { clientId: 'c', extensionId, fromVersion: '1.0.0', toVersion: '1.1.0', status: 'INSTALLED' })).toBe('UNAUTHENTICATED');
    expect(await user.errorCode(DistributionStatsDocument, { id: d.id })).toBe('FORBIDDEN');
    expect(await user.errorCode(AdoptionDocument, { extensionId })).toBe('FORBIDDEN');
    expect(await admin.errorCode(AdoptionDocument, { extensionId, days: 0 })).toBe('BAD_USER_INPUT');
  });
});

describe('at shutdown', () => {
  it('writes the counts still in memory, so a restart shows them', async () => {
    const database = await createTestDatabase();
    try {
      const first = await startTestServer(NO_TIMED_FLUSH, database);
      const firstAdmin = await first.client('admin');
      const { extensionId, pkg } = await ownerWithPackage(first, firstAdmin);
      const d = await distribute(firstAdmin, { packageId: pkg.id, strategy: 'IMMEDIATE' });
      for (let i = 0; i < 7; i++) await report(await first.client('user'), extensionId, `c${i}`, 'INSTALLED');
      expect(await statsRows(first)).toEqual({ stats: 0, adoption: 0 });
      await first.close();

      const second = await startTestServer(NO_TIMED_FLUSH, database);
      try {
        const { distribution } = await (await second.client('admin')).data(DistributionStatsDocument, { id: d.id });
        expect(distribution!.stats).toMatchObject({ installed: 7 });
      } finally {
        await second.close();
      }
    } finally {
      await database.drop();
    }
  });
});
