import fs from 'node:fs';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { CdnFileDocument, CdnFileStatsDocument, CdnInvalidationsDocument, DeleteCdnFileDocument, UploadCdnFileDocument } from '../generated/graphql.js';
import { cdnStoreOf, download, eventually, putInUploads, randomBytes, rawRequest, sha256, storedFiles } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;
const SIZE = 300_000;
let bytes: Buffer;
let file: { id: string; cdnUrl: string; checksum: string; uploadedAt: string };

beforeAll(async () => {
  server = await startTestServer({ CDN_SWEEP_INTERVAL: '200ms', CDN_STATS_FLUSH_INTERVAL: '1h' });
  admin = await server.client('admin');
  user = await server.client('user');
  bytes = randomBytes(SIZE);
  putInUploads(server, 'served.bin', bytes);
  file = (await admin.data(UploadCdnFileDocument, { input: { filePath: 'served.bin', cacheControl: 'public, max-age=3600' } })).uploadCdnFile;
});
afterAll(() => server?.close());

describe('GET and HEAD', () => {
  it('answers 200 with the bytes, their length, type, ETag = "<sha256>", the file\'s Cache-Control and Last-Modified', async () => {
    const response = await download(file.cdnUrl);
    expect(response.status).toBe(200);
    expect(sha256(response.body)).toBe(file.checksum);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': String(SIZE),
      etag: `"${file.checksum}"`,
      'cache-control': 'public, max-age=3600',
      'accept-ranges': 'bytes',
      'last-modified': new Date(file.uploadedAt).toUTCString(),
      'x-content-type-options': 'nosniff',
      'x-cdn-region': 'default',
    });
  });

  it('answers HEAD with the same headers and no body', async () => {
    const response = await rawRequest(server.url, { method: 'HEAD', path: new URL(file.cdnUrl).pathname });
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(SIZE));
    expect(response.headers.etag).toBe(`"${file.checksum}"`);
    expect(response.body.length).toBe(0);
  });

  it.each([
    ['the exact ETag', (etag: string) => etag],
    ['a weak form of it', (etag: string) => `W/${etag}`],
    ['a list containing it', (etag: string) => `"0000", ${etag}`],
    ['*', () => '*'],
  ])('answers 304 without a body for If-None-Match with %s', async (_label, header) => {
    const response = await download(file.cdnUrl, { 'if-none-match': header(`"${file.checksum}"`) });
    expect(response.status).toBe(304);
    expect(response.body.length).toBe(0);
    expect(response.headers.get('etag')).toBe(`"${file.checksum}"`);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
  });

  it('answers 200 for an If-None-Match that names other content', async () => {
    expect((await download(file.cdnUrl, { 'if-none-match': '"0123"' })).status).toBe(200);
  });

  it('answers 404 for an unknown id, a wrong name, a non-UUID id, an unknown region and a non-GET method', async () => {
    const { pathname } = new URL(file.cdnUrl);
    expect((await download(`${server.url}/cdn/00000000-0000-4000-8000-000000000000/served.bin`)).status).toBe(404);
    expect((await download(`${server.url}/cdn/${file.id}/other.bin`)).status).toBe(404);
    expect((await download(`${server.url}/cdn/not-a-uuid/served.bin`)).status).toBe(404);
    expect((await download(`${server.url}/cdn/mars/${file.id}/served.bin`)).status).toBe(404);
    expect((await download(`${server.url}${pathname}/extra`)).status).toBe(404);
    expect((await rawRequest(server.url, { method: 'DELETE', path: pathname })).status).toBe(405);
  });
});

describe('Range', () => {
  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=1000-1999', 1000, 1999],
    ['bytes=299900-', 299_900, SIZE - 1],
    ['bytes=-100', SIZE - 100, SIZE - 1],
    ['bytes=299990-400000', 299_990, SIZE - 1],
  ])('answers 206 with exactly the bytes of %s', async (range, start, end) => {
    const response = await download(file.cdnUrl, { range });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(response.body.equals(bytes.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=300000-', 'bytes=400000-500000', 'bytes=-0'])('answers 416 with the size for the unsatisfiable %s', async (range) => {
    const response = await download(file.cdnUrl, { range });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${SIZE}`);
  });

  it.each(['bytes=5-1', 'items=0-5', 'bytes=0-1,5-9'])('ignores the invalid or multi-range %s and sends everything', async (range) => {
    const response = await download(file.cdnUrl, { range });
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(SIZE);
  });

  it('sends everything when If-Range names other content, the range when it names this one', async () => {
    expect((await download(file.cdnUrl, { range: 'bytes=0-9', 'if-range': '"stale"' })).status).toBe(200);
    expect((await download(file.cdnUrl, { range: 'bytes=0-9', 'if-range': `"${file.checksum}"` })).status).toBe(206);
  });
});

describe('deleted and expired files', () => {
  it('answers 404 once the file is deleted', async () => {
    const other = putInUploads(server, 'to-delete.bin', randomBytes(5000));
    const { uploadCdnFile } = await admin.data(UploadCdnFileDocument, { input: { filePath: other } });
    expect((await download(uploadCdnFile.cdnUrl)).status).toBe(200);
    await admin.data(DeleteCdnFileDocument, { id: uploadCdnFile.id });
    expect((await download(uploadCdnFile.cdnUrl)).status).toBe(404);
  });

  it('answers 410 once past expiresAt, then the sweep removes the bytes and records an EXPIRY invalidation', async () => {
    const content = randomBytes(7000);
    const filePath = putInUploads(server, 'short-lived.bin', content);
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const { uploadCdnFile: expiring } = await admin.data(UploadCdnFileDocument, { input: { filePath, expiresAt } });
    expect(expiring.expiresAt).toBe(expiresAt);
    const before = await download(expiring.cdnUrl);
    expect(before.status).toBe(200);
    expect(sha256(before.body)).toBe(sha256(content));

    await eventually(async () => ((await download(expiring.cdnUrl)).status === 410 ? true : undefined), 5000, '410 after expiresAt');
    const blob = path.join(cdnStoreOf(server), 'default', 'objects', expiring.checksum.slice(0, 2), expiring.checksum.slice(2, 4), expiring.checksum);
    await eventually(async () => (fs.existsSync(blob) ? undefined : true), 5000, 'expired bytes removed');
    expect(storedFiles(server).some((stored) => stored.includes(expiring.id))).toBe(false);
    expect((await download(expiring.cdnUrl)).status).toBe(410);

    const { cdnFile } = await user.data(CdnFileDocument, { id: expiring.id });
    expect(cdnFile).toMatchObject({ status: 'EXPIRED', distributionStatus: 'NONE', regions: [expect.objectContaining({ region: 'default', status: 'REMOVED' })] });
    const { cdnInvalidations } = await user.data(CdnInvalidationsDocument, { fileId: expiring.id });
    expect(cdnInvalidations.nodes).toEqual([
      expect.objectContaining({ reason: 'EXPIRY', status: 'COMPLETED', paths: [new URL(expiring.cdnUrl).pathname], provider: 'local', reference: null }),
    ]);
  });
});

describe('download statistics', () => {
  // Each test has its own database and servers, so each also runs alone (`-t`) and a failure in
  // one cannot leave a server holding the database the next one opens.
  let database: TestDatabase;
  let counted: TestServer | undefined;

  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await counted?.close();
    counted = undefined;
    await database.drop();
  });

  it('are counted in memory, not written per request, and flushed at shutdown', async () => {
    const testStarted = Date.now();
    counted = await startTestServer({ CDN_STATS_FLUSH_INTERVAL: '1h' }, database);
    const countedAdmin = await counted.client('admin');
    const content = randomBytes(10_000);
    putInUploads(counted, 'counted.bin', content);
    const { uploadCdnFile: target } = await countedAdmin.data(UploadCdnFileDocument, { input: { filePath: 'counted.bin' } });

    for (let i = 0; i < 3; i++) expect((await download(target.cdnUrl)).status).toBe(200);
    expect((await download(target.cdnUrl, { range: 'bytes=0-99' })).status).toBe(206); // from the first byte: a download
    expect((await download(target.cdnUrl, { range: 'bytes=100-199' })).status).toBe(206); // a later piece: bytes only
    expect((await download(target.cdnUrl, { 'if-none-match': `"${target.checksum}"` })).status).toBe(304); // nothing sent
    expect((await rawRequest(counted.url, { method: 'HEAD', path: new URL(target.cdnUrl).pathname })).status).toBe(200);

    const before = await countedAdmin.data(CdnFileStatsDocument, { id: target.id });
    expect(before.cdnFile?.stats).toMatchObject({ downloads: 0, bytesServed: 0, lastDownloadAt: null });

    const first = counted;
    counted = undefined;
    await first.close();
    counted = await startTestServer({ CDN_STATS_FLUSH_INTERVAL: '1h' }, database);
    const after = await (await counted.client('user')).data(CdnFileStatsDocument, { id: target.id, days: 3 });
    const today = new Date().toISOString().slice(0, 10);
    expect(after.cdnFile?.stats).toMatchObject({
      downloads: 4,
      bytesServed: 3 * 10_000 + 100 + 100,
      regions: [expect.objectContaining({ region: 'default', downloads: 4, bytesServed: 30_200 })],
    });
    expectTimestampBetween(after.cdnFile?.stats.lastDownloadAt, testStarted);
    expect(after.cdnFile?.stats.daily).toHaveLength(3);
    expect(after.cdnFile?.stats.daily.at(-1)).toEqual({ date: today, downloads: 4, bytesServed: 30_200 });
    expect(after.cdnFile?.stats.daily.slice(0, 2).every((day) => day.downloads === 0)).toBe(true);
  });

  it('appear within the flush interval while the server runs', async () => {
    counted = await startTestServer({ CDN_STATS_FLUSH_INTERVAL: '300ms' }, database);
    const countedUser = await counted.client('user');
    const countedAdmin = await counted.client('admin');
    putInUploads(counted, 'live.bin', randomBytes(2048));
    const { uploadCdnFile: target } = await countedAdmin.data(UploadCdnFileDocument, { input: { filePath: 'live.bin' } });
    await Promise.all(Array.from({ length: 20 }, () => download(target.cdnUrl)));
    const stats = await eventually(async () => {
      const { cdnFile } = await countedUser.data(CdnFileStatsDocument, { id: target.id });
      return cdnFile?.stats.downloads === 20 ? cdnFile.stats : undefined;
    }, 5000, '20 downloads counted');
    expect(stats.bytesServed).toBe(20 * 2048);
    expect(await countedUser.errorCode(CdnFileStatsDocument, { id: target.id, days: 0 })).toBe('BAD_USER_INPUT');
  });
});
