import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DeleteCdnFileDocument, UploadCdnFileDocument } from '../generated/graphql.js';
import { cdnFileRowCount, download, putInUploads, randomBytes, sha256 } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3rver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startStallingProxy, type StallingProxy } from '../helpers/stallingProxy.js';

/**
 * uploadCdnFile end to end with CDN_PROVIDER=s3: a real server whose S3 store is a real
 * S3-speaking server (s3rver, checking signatures), reached through a TCP proxy so a test can
 * cut the store off at a chosen byte of an upload. s3rver also serves the objects at
 * path-style URLs, so CDN_BASE_URL points at it and cdnUrl is downloaded from the store itself.
 */

const BUCKET = 'artifacts';
const MIB = 1024 * 1024;

let s3: S3Server;
let proxy: StallingProxy;
let server: TestServer;
let admin: HttpClient;
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  s3 = await startS3Server([BUCKET]);
  proxy = await startStallingProxy(s3.port);
  // The provider takes credentials from the SDK's default chain, as in production.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  server = await startTestServer({
    CDN_PROVIDER: 's3',
    S3_ENDPOINT: proxy.url,
    S3_BUCKET: BUCKET,
    CDN_BASE_URL: `${s3.endpoint}/${BUCKET}`,
    MAX_FILE_SIZE: String(64 * MIB),
  });
  admin = await server.client('admin');
});

afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await s3?.close();
  for (const [name, value] of [['AWS_ACCESS_KEY_ID', savedEnv.id], ['AWS_SECRET_ACCESS_KEY', savedEnv.secret]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Objects s3rver holds (its files named `<key>._S3rver_object`), relative to the bucket. */
function storedObjects(): string[] {
  const bucketDir = path.join(s3.directory, BUCKET);
  const walk = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)])) : [];
  return walk(bucketDir)
    .filter((file) => file.endsWith('._S3rver_object'))
    .map((file) => path.relative(bucketDir, file).replace(/\._S3rver_object$/, ''));
}

describe('uploadCdnFile on CDN_PROVIDER=s3', () => {
  it('stores the file in the bucket; the bytes at cdnUrl hash to the returned checksum, and deleteCdnFile removes them', async () => {
    const bytes = randomBytes(20 * MIB + 123);
    const filePath = putInUploads(server, 'releases/extension-2.0.0.bin', bytes);
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath, fileName: 'extension-2.0.0.bin', cacheControl: 'public, max-age=600' } });

    expect(file.checksum).toBe(sha256(bytes));
    expect(file.cdnUrl.startsWith(`${s3.endpoint}/${BUCKET}/`)).toBe(true);
    expect(file.regions).toEqual([expect.objectContaining({ region: 'default', status: 'AVAILABLE', url: file.cdnUrl })]);

    const served = await download(file.cdnUrl);
    expect(served.status).toBe(200);
    expect(sha256(served.body)).toBe(file.checksum);
    expect(served.headers.get('content-type')).toBe(file.mimeType);
    expect(served.headers.get('cache-control')).toBe('public, max-age=600');
    expect(served.headers.get('x-amz-meta-sha256')).toBe(file.checksum);

    const { deleteCdnFile } = await admin.data(DeleteCdnFileDocument, { id: file.id });
    expect(deleteCdnFile).toBe(true);
    expect((await download(file.cdnUrl)).status).toBe(404);
  });

  it('an S3 server killed mid-upload fails the mutation clearly and leaves no cdn_files row and no object', async () => {
    const rowsBefore = await cdnFileRowCount(server);
    const objectsBefore = storedObjects();
    const bytes = randomBytes(40 * MIB);
    const filePath = putInUploads(server, 'releases/extension-3.0.0.bin', bytes);

    // Let 12 MiB of the upload reach the store (the first part and some of the next), then pull the plug.
    const cut = proxy.stallAfter(12 * MIB);
    const pending = admin.request(UploadCdnFileDocument, { input: { filePath, fileName: 'extension-3.0.0.bin' } });
    await cut;
    await s3.kill();
    const response = await pending;
    proxy.disarm();

    expect(response.data?.uploadCdnFile ?? null).toBeNull();
    expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(response.errors?.[0]?.message).toContain('extension-3.0.0.bin');
    // The store's failure, as the provider reported it: a network failure, not a bad file.
    expect(response.errors?.[0]?.message).toMatch(/cannot reach .*ECONN(RESET|REFUSED)/);
    expect(await cdnFileRowCount(server)).toBe(rowsBefore);

    await s3.restart();
    expect(storedObjects()).toEqual(objectsBefore);
  });
});
