import crypto from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { updatePackages } from '../../src/db/schema.js';
import {
  CdnFileDocument,
  CdnInvalidationDocument,
  CdnInvalidationsDocument,
  DeleteCdnFileDocument,
  InvalidateCdnCacheDocument,
  UploadCdnFileDocument,
} from '../generated/graphql.js';
import { download, eventually, putInUploads, randomBytes, sha256, storedFiles } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3rver.js';
import { ADMIN_ID, startTestServer, type TestServer } from '../helpers/server.js';
import { expectTimestampBetween } from '../helpers/timestamps.js';

let counter = 0;

async function uploadTo(server: TestServer, admin: HttpClient, size = 4096) {
  const bytes = randomBytes(size);
  const filePath = putInUploads(server, `artifact-${++counter}.zip`, bytes);
  return { bytes, file: (await admin.data(UploadCdnFileDocument, { input: { filePath } })).uploadCdnFile };
}

describe('on the local provider', () => {
  let server: TestServer;
  let admin: HttpClient;
  let user: HttpClient;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await server.client('admin');
    user = await server.client('user');
  });
  afterAll(() => server?.close());

  /** An update package as the distribution side stores it, pointing at a file by id or by URL. */
  async function packagePointingAt(link: { cdnFileId?: string; packageUrl: string; checksum: string }) {
    const [row] = await server.app.runtime.db
      .insert(updatePackages)
      .values({ fromVersion: '1.0.0', toVersion: '1.1.0', extensionId: `ext.${counter}`, packageSize: 4096, cdnFileId: link.cdnFileId ?? null, packageUrl: link.packageUrl, checksum: link.checksum })
      .returning({ id: updatePackages.id });
    return row!.id;
  }

  describe('deleteCdnFile', () => {
    it('removes the file: cdnFile answers null, its URL 404, its bytes are gone, its URL is invalidated, and a second delete is NOT_FOUND', async () => {
      const { file } = await uploadTo(server, admin);
      expect(await admin.data(DeleteCdnFileDocument, { id: file.id })).toEqual({ deleteCdnFile: true });
      expect((await user.data(CdnFileDocument, { id: file.id })).cdnFile).toBeNull();
      expect((await download(file.cdnUrl)).status).toBe(404);
      expect(storedFiles(server).filter((f) => f.includes(file.id) || f.endsWith(file.checksum))).toEqual([]);

      const { cdnFile: record } = await user.data(CdnFileDocument, { id: file.id, includeDeleted: true });
      expect(record).toMatchObject({ status: 'DELETED', deletedBy: ADMIN_ID, deletionForced: false, distributionStatus: 'NONE' });
      const { cdnInvalidations } = await user.data(CdnInvalidationsDocument, { fileId: file.id });
      expect(cdnInvalidations.nodes).toEqual([expect.objectContaining({ reason: 'DELETE', status: 'COMPLETED', requestedBy: ADMIN_ID, paths: [new URL(file.cdnUrl).pathname] })]);

      expect(await admin.errorCode(DeleteCdnFileDocument, { id: file.id })).toBe('NOT_FOUND');
    });

    it('answers NOT_FOUND for an unknown or malformed id, FORBIDDEN for a user', async () => {
      const { file } = await uploadTo(server, admin);
      expect(await admin.errorCode(DeleteCdnFileDocument, { id: crypto.randomUUID() })).toBe('NOT_FOUND');
      expect(await admin.errorCode(DeleteCdnFileDocument, { id: 'not-a-uuid' })).toBe('NOT_FOUND');
      expect(await user.errorCode(DeleteCdnFileDocument, { id: file.id })).toBe('FORBIDDEN');
      expect((await download(file.cdnUrl)).status).toBe(200);
    });

    it('refuses with CONFLICT while an update package points at the file by id, and keeps serving it', async () => {
      const { file, bytes } = await uploadTo(server, admin);
      const packageId = await packagePointingAt({ cdnFileId: file.id, packageUrl: file.cdnUrl, checksum: file.checksum });
      const response = await admin.request(DeleteCdnFileDocument, { id: file.id });
      expect(response.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(response.errors?.[0]?.extensions?.packageIds).toEqual([packageId]);
      expect(response.errors?.[0]?.message).toMatch(/still used by 1 update package.*force: true/);
      const served = await download(file.cdnUrl);
      expect(sha256(served.body)).toBe(sha256(bytes));
      expect((await user.data(CdnFileDocument, { id: file.id })).cdnFile?.status).toBe('ACTIVE');
    });

    it('refuses with CONFLICT while a package points at the file only by URL', async () => {
      const { file } = await uploadTo(server, admin);
      await packagePointingAt({ packageUrl: file.cdnUrl, checksum: file.checksum });
      expect(await admin.errorCode(DeleteCdnFileDocument, { id: file.id })).toBe('CONFLICT');
    });

    it('deletes with force: true and records that it overrode the packages', async () => {
      const { file } = await uploadTo(server, admin);
      const packageId = await packagePointingAt({ cdnFileId: file.id, packageUrl: file.cdnUrl, checksum: file.checksum });
      expect(await admin.data(DeleteCdnFileDocument, { id: file.id, force: true })).toEqual({ deleteCdnFile: true });
      expect((await download(file.cdnUrl)).status).toBe(404);
      const { cdnFile } = await user.data(CdnFileDocument, { id: file.id, includeDeleted: true });
      expect(cdnFile).toMatchObject({ status: 'DELETED', deletionForced: true, deletionOverrodePackages: [packageId], deletedBy: ADMIN_ID });
    });
  });

  describe('invalidateCdnCache', () => {
    it("records a request for the file's URL by default, completed at once (no edge in front of the local store)", async () => {
      const testStarted = Date.now();
      const { file } = await uploadTo(server, admin);
      const { invalidateCdnCache: invalidation } = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id });
      expect(invalidation).toMatchObject({
        fileId: file.id,
        file: { id: file.id },
        paths: [new URL(file.cdnUrl).pathname],
        provider: 'local',
        reason: 'MANUAL',
        status: 'COMPLETED',
        reference: null,
        attempts: 1,
        lastError: null,
        requestedBy: ADMIN_ID,
      });
      expectTimestampBetween(invalidation.completedAt, testStarted);
      expect((await user.data(CdnInvalidationDocument, { id: invalidation.id })).cdnInvalidation).toMatchObject({ id: invalidation.id, status: 'COMPLETED' });
    });

    it('takes explicit paths under the CDN base path, de-duplicated, and lists requests newest first', async () => {
      const { file } = await uploadTo(server, admin);
      const first = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id, paths: ['/cdn/*'] });
      const second = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id, paths: [`/cdn/${file.id}/a`, `/cdn/${file.id}/a`, '/cdn'] });
      expect(second.invalidateCdnCache.paths).toEqual([`/cdn/${file.id}/a`, '/cdn']);
      const { cdnInvalidations } = await user.data(CdnInvalidationsDocument, { fileId: file.id, first: 1 });
      expect(cdnInvalidations.totalCount).toBe(2);
      expect(cdnInvalidations.nodes.map((n) => n.id)).toEqual([second.invalidateCdnCache.id]);
      const next = await user.data(CdnInvalidationsDocument, { fileId: file.id, first: 1, after: cdnInvalidations.pageInfo.endCursor });
      expect(next.cdnInvalidations.nodes.map((n) => n.id)).toEqual([first.invalidateCdnCache.id]);
      expect(next.cdnInvalidations.pageInfo.hasNextPage).toBe(false);
    });

    it.each([
      ['no leading slash', ['cdn/file.zip']],
      ['a ".." segment', ['/cdn/../etc/passwd']],
      ['a "." segment', ['/cdn/./x']],
      ['URL-encoded traversal', ['/cdn/%2e%2e/%2e%2e/etc/passwd']],
      ['double-encoded traversal', ['/cdn/%252e%252e/etc']],
      ['an encoded NUL', ['/cdn/file%00.zip']],
      ['malformed percent-encoding', ['/cdn/%zz']],
      ['whitespace', ['/cdn/a b']],
      ['a query string', ['/cdn/x?v=1']],
      ['a "*" before the end', ['/cdn/*/x']],
      ['a path outside the CDN base path', ['/graphql']],
      ['an empty list', []],
      ['101 paths', Array.from({ length: 101 }, (_, i) => `/cdn/${i}`)],
    ])('refuses %s as BAD_USER_INPUT and records nothing', async (_label, paths) => {
      const { file } = await uploadTo(server, admin);
      const response = await admin.request(InvalidateCdnCacheDocument, { fileId: file.id, paths });
      expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect((await user.data(CdnInvalidationsDocument, { fileId: file.id })).cdnInvalidations.totalCount).toBe(0);
    });

    it('answers NOT_FOUND for an unknown file', async () => {
      expect(await admin.errorCode(InvalidateCdnCacheDocument, { fileId: crypto.randomUUID() })).toBe('NOT_FOUND');
    });
  });
});

describe('on Cloudflare (R2 in a real S3 server, purge API recorded at the HTTP boundary)', () => {
  const BUCKET = 'r2-artifacts';
  const TOKEN = 'cf-token-0123456789abcdef';
  const ZONE = 'zone-1234';
  let s3: S3Server;
  let recorder: Recorder;
  let server: TestServer;
  let admin: HttpClient;
  let user: HttpClient;
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  const purged = (id: string) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ success: true, errors: [], messages: [], result: { id } }) });
  const failure = (status: number, headers: Record<string, string> = {}) => ({
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ success: false, errors: [{ code: status, message: status === 429 ? 'Rate limited' : 'Internal error' }], messages: [], result: null }),
  });

  beforeAll(async () => {
    s3 = await startS3Server([BUCKET]);
    recorder = await startRecorder();
    // The S3 client takes credentials from the SDK's default chain, as in production.
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    server = await startTestServer({
      CDN_PROVIDER: 'cloudflare',
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: BUCKET,
      CDN_BASE_URL: `${s3.endpoint}/${BUCKET}`,
      CLOUDFLARE_ZONE_ID: ZONE,
      CDN_API_KEY: TOKEN,
      CLOUDFLARE_API_URL: recorder.url,
      CDN_RETRY_BASE_DELAY: '50ms',
    });
    admin = await server.client('admin');
    user = await server.client('user');
  });
  afterAll(async () => {
    await server?.close();
    await recorder?.close();
    await s3?.close();
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', savedEnv.id], ['AWS_SECRET_ACCESS_KEY', savedEnv.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('retries a purge answered 429 (after its Retry-After) and 503, then records the purge id', async () => {
    const { file } = await uploadTo(server, admin);
    recorder.answer(failure(429, { 'retry-after': '1' }), failure(503), purged('purge-42'));
    const { invalidateCdnCache: first } = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id });
    expect(first).toMatchObject({ provider: 'cloudflare', status: 'PENDING', attempts: 1, reference: null });
    expect(first.lastError).toMatch(/HTTP 429/);
    expect(first.lastError).not.toContain(TOKEN);
    expect(new Date(first.nextAttemptAt!).getTime() - new Date(first.updatedAt).getTime()).toBeGreaterThanOrEqual(900);

    const done = await eventually(async () => {
      const { cdnInvalidation } = await user.data(CdnInvalidationDocument, { id: first.id });
      return cdnInvalidation?.status === 'COMPLETED' ? cdnInvalidation : undefined;
    }, 10_000, 'purge retried to completion');
    expect(done).toMatchObject({ attempts: 3, reference: 'purge-42', lastError: null, nextAttemptAt: null });

    // Three identical purge requests, in the shape Cloudflare documents.
    expect(recorder.requests).toHaveLength(3);
    for (const request of recorder.requests) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe(`/zones/${ZONE}/purge_cache`);
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(JSON.parse(request.body)).toEqual({ files: [file.cdnUrl] });
    }
  });

  it('ends FAILED at once when the API refuses the request (4xx), without retrying', async () => {
    const { file } = await uploadTo(server, admin);
    recorder.answer({ status: 403, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ success: false, errors: [{ code: 10000, message: 'Authentication error' }] }) });
    const { invalidateCdnCache } = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id });
    expect(invalidateCdnCache).toMatchObject({ status: 'FAILED', attempts: 1, nextAttemptAt: null });
    expect(invalidateCdnCache.lastError).toMatch(/HTTP 403.*Authentication error/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(recorder.requests).toHaveLength(1);
  });

  it('gives up as FAILED after 8 attempts of 5xx', async () => {
    const { file } = await uploadTo(server, admin);
    recorder.answer(failure(500));
    const { invalidateCdnCache } = await admin.data(InvalidateCdnCacheDocument, { fileId: file.id });
    const failed = await eventually(async () => {
      const { cdnInvalidation } = await user.data(CdnInvalidationDocument, { id: invalidateCdnCache.id });
      return cdnInvalidation?.status === 'FAILED' ? cdnInvalidation : undefined;
    }, 20_000, '8 attempts');
    expect(failed.attempts).toBe(8);
    expect(failed.lastError).toMatch(/HTTP 500/);
    expect(recorder.requests).toHaveLength(8);
    const { cdnInvalidations } = await user.data(CdnInvalidationsDocument, { status: 'FAILED', fileId: file.id });
    expect(cdnInvalidations.nodes.map((n) => n.id)).toEqual([invalidateCdnCache.id]);
  });

  it('purges the URL of a deleted file and records the purge id', async () => {
    const { file } = await uploadTo(server, admin);
    recorder.answer(purged('purge-on-delete'));
    await admin.data(DeleteCdnFileDocument, { id: file.id });
    expect((await download(file.cdnUrl)).status).toBe(404);
    const { cdnInvalidations } = await user.data(CdnInvalidationsDocument, { fileId: file.id });
    expect(cdnInvalidations.nodes).toEqual([expect.objectContaining({ reason: 'DELETE', status: 'COMPLETED', reference: 'purge-on-delete', provider: 'cloudflare' })]);
    expect(JSON.parse(recorder.requests[0]!.body)).toEqual({ files: [file.cdnUrl] });
  });
});
