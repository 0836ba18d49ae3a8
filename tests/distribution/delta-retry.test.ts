import fs from 'node:fs/promises';

import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DeltaError } from '../../src/delta/index.js';
import { cdnFiles, deltaGenerations } from '../../src/db/schema.js';
import { mayPass } from '../../src/services/delta/service.js';
import { AuditLogDocument, CreateUpdatePackageDocument, GenerateDeltaPackageDocument } from '../generated/graphql.js';
import { makeGzip, makeTar, sourceText } from '../helpers/archives.js';
import { putInUploads } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { createVersions } from '../helpers/distribution.js';
import { storedObjectPath } from '../helpers/rollback.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * A generation that fails for a reason that may pass — here a full package whose stored bytes
 * are damaged, then repaired — is asked for again by itself (DELTA_RETRIES, here once, after
 * DELTA_RETRY_DELAY, here 2 s), as the system actor `system:delta-retry`.
 */

let server: TestServer;
let admin: HttpClient;

beforeAll(async () => {
  server = await startTestServer({ DELTA_RETRIES: '1', DELTA_RETRY_DELAY: '2s', JOBS_POLL_INTERVAL: '1s' });
  admin = await server.client('admin');
});
afterAll(() => server?.close());

const release = (minor: number) => makeGzip(makeTar([{ name: 'package/index.js', content: sourceText(5, 2000) + sourceText(500 + minor, 20) }]), { level: 9 });

/** An owner with 1.0.0 and 1.1.0 and their full packages; the stored bytes of 1.0.0's package damaged. */
async function ownerWithDamagedBase() {
  const extensionId = uniqueId('delta-retry');
  await createVersions(admin, extensionId, '0.0.1', '1.0.0', '1.1.0');
  const packages: Record<string, { id: string; cdnFileId: string | null }> = {};
  for (const [minor, version] of ['1.0.0', '1.1.0'].entries()) {
    const packagePath = putInUploads(server, `retry/${extensionId}-${version}.tgz`, release(minor));
    packages[version] = (await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: '0.0.1', toVersion: version, packagePath } })).createUpdatePackage;
  }
  const [file] = await server.app.runtime.db.select().from(cdnFiles).where(eq(cdnFiles.id, packages['1.0.0']!.cdnFileId!));
  const stored = await storedObjectPath(server, file!.storageKey);
  const original = await fs.readFile(stored);
  await fs.writeFile(stored, Buffer.concat([original.subarray(0, 40), Buffer.from('damaged'), original.subarray(47)]));
  return { extensionId, repair: () => fs.writeFile(stored, original) };
}

/** The pair's generations, oldest attempt first. */
const attempts = (extensionId: string) =>
  server.app.runtime.db.select().from(deltaGenerations).where(and(eq(deltaGenerations.extensionId, extensionId), eq(deltaGenerations.toVersion, '1.1.0'))).orderBy(asc(deltaGenerations.attempt));

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

const finished = (status: string) => status === 'SUCCEEDED' || status === 'FAILED';
const RETRY_NOTE = /; asked for again automatically at (\d{4}-\d\d-\d\dT[\d:.]+Z) \(attempt 2 of 2\)$/;

describe('failed delta generations are asked for again', () => {
  it('after the delay, as system:delta-retry: the damaged package repaired meanwhile, the second attempt succeeds', async () => {
    const { extensionId, repair } = await ownerWithDamagedBase();
    const { generateDeltaPackage: started } = await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' } });
    const [first] = await waitFor(() => attempts(extensionId), (rows) => finished(rows[0]!.status));
    await repair();
    expect(first).toMatchObject({ id: started.id, attempt: 1, status: 'FAILED' });
    expect(first!.error).toMatch(/^reading the full packages failed: the full package of 1\.0\.0 .* hashes to [0-9a-f]{64}, not the package's checksum [0-9a-f]{64}/);
    const retryAt = Date.parse(first!.error!.match(RETRY_NOTE)![1]!);
    // The first retry waits DELTA_RETRY_DELAY (2 s) from the failure; marking it FAILED may take a moment of that.
    expect(retryAt - first!.finishedAt!.getTime()).toBeGreaterThan(1_000);
    expect(retryAt - first!.finishedAt!.getTime()).toBeLessThanOrEqual(2_000);

    const rows = await waitFor(() => attempts(extensionId), (list) => list.length === 2 && finished(list[1]!.status));
    expect(rows.map((row) => [row.attempt, row.status])).toEqual([
      [1, 'FAILED'],
      [2, 'SUCCEEDED'],
    ]);
    expect(rows[1]!.createdAt.getTime()).toBeGreaterThanOrEqual(retryAt - 50);
    const { auditLog } = await admin.data(AuditLogDocument, { filter: { operation: 'generateDeltaPackage', targetId: rows[1]!.id } });
    expect(auditLog.nodes.map((entry) => [entry.actor.id, entry.outcome])).toEqual([['system:delta-retry', 'SUCCEEDED']]);
  }, 60_000);

  it('at most DELTA_RETRIES times: still damaged, the last attempt fails without asking again', async () => {
    const { extensionId, repair } = await ownerWithDamagedBase();
    try {
      await admin.data(GenerateDeltaPackageDocument, { input: { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' } });
      const rows = await waitFor(() => attempts(extensionId), (list) => list.length === 2 && finished(list[1]!.status));
      expect(rows.map((row) => [row.attempt, row.status])).toEqual([
        [1, 'FAILED'],
        [2, 'FAILED'],
      ]);
      expect(rows[0]!.error).toMatch(RETRY_NOTE);
      expect(rows[1]!.error).toMatch(/not the package's checksum [0-9a-f]{64}$/);
    } finally {
      await repair();
    }
  }, 60_000);

  it('only failures that may pass: not the delta library\'s refusals (limits, formats)', () => {
    expect(mayPass(new Error('connect ECONNREFUSED'))).toBe(true);
    expect(mayPass(new DeltaError('LIMIT_EXCEEDED', 'The zip archive has 70000 entries'))).toBe(false);
    expect(mayPass(new DeltaError('CORRUPT', 'The target is not a readable gzip stream'))).toBe(false);
  });
});
