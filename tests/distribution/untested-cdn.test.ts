import fs from 'node:fs';
import http from 'node:http';

import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cdnFiles } from '../../src/db/schema.js';
import { CdnFileDocument, CdnFileStatsDocument, UploadCdnFileDocument } from '../generated/graphql.js';
import { download, eventually, putInUploads, randomBytes } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { storedObjectPath } from '../helpers/rollback.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Issue 11.3: CDN behaviour users rely on that no other test touched — downloads cut off by the
 * client, uploads a crashed process left half done.
 */

let server: TestServer;
let admin: HttpClient;
let counter = 0;

beforeAll(async () => {
  server = await startTestServer({ CDN_STATS_FLUSH_INTERVAL: '200ms' });
  admin = await server.client('admin');
});
afterAll(() => server?.close());

async function upload(size: number) {
  const filePath = putInUploads(server, `untested-cdn-${++counter}.bin`, randomBytes(size));
  return (await admin.data(UploadCdnFileDocument, { input: { filePath } })).uploadCdnFile;
}

/** GETs `url`, takes the first chunk of the body and cuts the connection. Resolves the bytes it read. */
function abortAfterFirstChunk(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => {
      expect(response.statusCode).toBe(200);
      response.once('data', (chunk: Buffer) => {
        request.destroy();
        resolve(chunk.length);
      });
    });
    request.on('error', (error) => {
      if (!request.destroyed) reject(error);
    });
  });
}

describe('downloads the client cuts off', () => {
  it('count their bytes but not as a download; the full download afterwards counts once', async () => {
    const size = 16 * 1024 * 1024; // far more than the socket buffers hold, so the cut lands mid-file
    const file = await upload(size);
    expect(await abortAfterFirstChunk(file.cdnUrl)).toBeGreaterThan(0);

    const afterAbort = await eventually(async () => {
      const stats = (await admin.data(CdnFileStatsDocument, { id: file.id })).cdnFile?.stats;
      return stats && stats.bytesServed > 0 ? stats : undefined;
    }, 15_000, 'the aborted response recorded');
    expect(afterAbort.downloads).toBe(0);
    expect(afterAbort.bytesServed).toBeLessThan(size);
    expect(afterAbort.regions).toEqual([expect.objectContaining({ region: 'default', downloads: 0, bytesServed: afterAbort.bytesServed })]);

    expect((await download(file.cdnUrl)).body.length).toBe(size);
    const afterFull = await eventually(async () => {
      const stats = (await admin.data(CdnFileStatsDocument, { id: file.id })).cdnFile?.stats;
      return stats && stats.downloads > 0 ? stats : undefined;
    }, 15_000, 'the full download recorded');
    expect(afterFull).toMatchObject({ downloads: 1, bytesServed: afterAbort.bytesServed + size });
  });
});

describe('the stale-upload sweep', () => {
  it('removes an upload left UPLOADING for over an hour (row and stored bytes), keeps one still in progress', async () => {
    const crashed = await upload(5000);
    const running = await upload(6000);
    const db = server.app.runtime.db;
    // What a process that died between storing the bytes and committing the row leaves behind.
    await db.update(cdnFiles).set({ status: 'UPLOADING', uploadedAt: new Date(Date.now() - 61 * 60_000) }).where(eq(cdnFiles.id, crashed.id));
    await db.update(cdnFiles).set({ status: 'UPLOADING', uploadedAt: new Date(Date.now() - 10 * 60_000) }).where(eq(cdnFiles.id, running.id));
    const [crashedRow] = await db.select().from(cdnFiles).where(eq(cdnFiles.id, crashed.id));
    const [runningRow] = await db.select().from(cdnFiles).where(eq(cdnFiles.id, running.id));
    const crashedBytes = await storedObjectPath(server, crashedRow!.storageKey);
    const runningBytes = await storedObjectPath(server, runningRow!.storageKey);
    expect(fs.existsSync(crashedBytes)).toBe(true);

    const result = await server.app.services.cdn.sweepExpired();
    expect(result.staleUploads).toBe(1);
    expect(result.expired).toBe(0);

    expect(await db.select().from(cdnFiles).where(eq(cdnFiles.id, crashed.id))).toEqual([]);
    expect((await admin.data(CdnFileDocument, { id: crashed.id, includeDeleted: true })).cdnFile).toBeNull();
    expect(fs.existsSync(crashedBytes)).toBe(false);
    expect((await download(crashed.cdnUrl)).status).toBe(404);

    const [kept] = await db.select().from(cdnFiles).where(eq(cdnFiles.id, running.id));
    expect(kept?.status).toBe('UPLOADING');
    expect(fs.existsSync(runningBytes)).toBe(true);

    expect((await server.app.services.cdn.sweepExpired()).staleUploads).toBe(0); // safe to run again
  });
});
