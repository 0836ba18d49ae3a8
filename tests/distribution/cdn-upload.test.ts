import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CdnFileDocument, CdnFilesDocument, DeleteCdnFileDocument, UploadCdnFileDocument } from '../generated/graphql.js';
import {
  cdnFileRowCount,
  cdnStoreOf,
  download,
  exeBytes,
  putInUploads,
  randomBytes,
  sha256,
  storedFiles,
  tarOf,
  uploadDirOf,
  zipOf,
} from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { ADMIN_ID, startTestServer, type TestServer } from '../helpers/server.js';

/** Small enough to test "one byte over" quickly, big enough for several read buffers. */
const MAX_FILE_SIZE = 3 * 1024 * 1024;

let server: TestServer;
let admin: HttpClient;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer({ MAX_FILE_SIZE: String(MAX_FILE_SIZE) });
  admin = await server.client('admin');
  user = await server.client('user');
});
afterAll(() => server?.close());

let counter = 0;
const unique = (name: string) => `${++counter}-${name}`;

describe('uploadCdnFile', () => {
  it('stores a file from UPLOAD_DIR and serves exactly its bytes at cdnUrl', async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 17);
    const filePath = putInUploads(server, `releases/${unique('ext-1.2.0.bin')}`, bytes);
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, {
      input: { filePath, fileName: 'ext-1.2.0.bin', cacheControl: 'public, max-age=600', metadata: { channel: 'beta', build: 77 } },
    });
    expect(file).toMatchObject({
      fileName: 'ext-1.2.0.bin',
      filePath,
      fileSize: bytes.length,
      mimeType: 'application/octet-stream',
      checksum: sha256(bytes),
      cacheControl: 'public, max-age=600',
      expiresAt: null,
      metadata: { channel: 'beta', build: 77 },
      uploadedBy: ADMIN_ID,
      status: 'ACTIVE',
      distributionStatus: 'COMPLETE',
      stats: { downloads: 0, bytesServed: 0, lastDownloadAt: null },
    });
    expect(file.cdnUrl).toBe(`${server.url}/cdn/${file.id}/ext-1.2.0.bin`);
    expect(file.regions).toEqual([
      expect.objectContaining({ region: 'default', status: 'AVAILABLE', url: file.cdnUrl, attempts: 1, lastError: null }),
    ]);

    const served = await download(file.cdnUrl);
    expect(served.status).toBe(200);
    expect(sha256(served.body)).toBe(file.checksum);

    const { cdnFile } = await user.data(CdnFileDocument, { id: file.id });
    expect(cdnFile).toMatchObject({ id: file.id, checksum: file.checksum, fileSize: bytes.length });
  });

  it('names the file after the last segment of filePath when fileName is omitted, and applies the default Cache-Control', async () => {
    const name = unique('notes.txt');
    putInUploads(server, name, 'release notes\n');
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath: name } });
    expect(file.fileName).toBe(name);
    expect(file.cacheControl).toBe('public, max-age=31536000, immutable');
    expect(file.mimeType).toBe('text/plain; charset=utf-8');
  });

  it('accepts an absolute path inside UPLOAD_DIR and a symlink that stays inside it (reporting the resolved path)', async () => {
    const target = putInUploads(server, `inside/${unique('real.bin')}`, randomBytes(1000));
    const link = path.join(uploadDirOf(server), unique('link.bin'));
    fs.symlinkSync(path.join(uploadDirOf(server), target), link);
    const viaLink = await admin.data(UploadCdnFileDocument, { input: { filePath: path.basename(link) } });
    expect(viaLink.uploadCdnFile.filePath).toBe(target);
    const absolute = await admin.data(UploadCdnFileDocument, { input: { filePath: path.join(uploadDirOf(server), target) } });
    expect(absolute.uploadCdnFile.filePath).toBe(target);
  });

  it('accepts a file of exactly MAX_FILE_SIZE bytes', async () => {
    const bytes = randomBytes(MAX_FILE_SIZE);
    const filePath = putInUploads(server, unique('limit.bin'), bytes);
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath } });
    expect(file.fileSize).toBe(MAX_FILE_SIZE);
    expect(file.checksum).toBe(sha256(bytes));
  });

  it('stores an empty file and serves zero bytes', async () => {
    const filePath = putInUploads(server, unique('empty.txt'), Buffer.alloc(0));
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath } });
    expect(file).toMatchObject({ fileSize: 0, checksum: sha256(Buffer.alloc(0)) });
    const served = await download(file.cdnUrl);
    expect(served.status).toBe(200);
    expect(served.body.length).toBe(0);
  });
});

describe('MIME type from the bytes', () => {
  const payload = Buffer.from('console.log("hello")\n');
  const tar = tarOf('ext/main.js', payload);
  it.each([
    ['a zip archive named .bin', 'package.bin', zipOf('extension/package.json', Buffer.from('{}')), 'application/zip'],
    ['a .vsix (a zip)', 'ext-1.0.0.vsix', zipOf('extension.vsixmanifest', Buffer.from('<x/>')), 'application/zip'],
    ['a gzip stream', 'data.gz', zlib.gzipSync(randomBytes(500)), 'application/gzip'],
    ['a .tgz', 'ext-1.0.0.tgz', zlib.gzipSync(tar), 'application/gzip'],
    ['a tar archive without extension', 'bundle', tar, 'application/x-tar'],
    ['a Windows executable named .zip', 'setup.zip', exeBytes(), 'application/x-msdownload'],
    ['an ELF binary named .txt', 'agent.txt', fs.readFileSync(process.execPath).subarray(0, 64 * 1024), 'application/x-elf'],
    ['JSON under a neutral name', 'manifest.dat', Buffer.from('  {"name": "ext", "version": "1.0.0"}'), 'application/json'],
    ['plain text by its extension', 'CHANGELOG.md', Buffer.from('# 1.0.0\n'), 'text/markdown; charset=utf-8'],
    ['unknown bytes', 'blob', Buffer.from([0, 159, 146, 150, 1, 2, 3]), 'application/octet-stream'],
  ])('recognises %s', async (_label, name, bytes, mimeType) => {
    const filePath = putInUploads(server, `mime/${unique(name)}`, bytes);
    const { uploadCdnFile: file } = await admin.data(UploadCdnFileDocument, { input: { filePath, fileName: name } });
    expect(file.mimeType).toBe(mimeType);
    const served = await download(file.cdnUrl);
    expect(served.headers.get('content-type')).toBe(mimeType);
    expect(sha256(served.body)).toBe(sha256(bytes));
  });
});

describe('hostile or bad input changes nothing', () => {
  beforeAll(() => {
    putInUploads(server, 'ok.bin', randomBytes(100));
    fs.mkdirSync(path.join(uploadDirOf(server), 'a-directory'), { recursive: true });
    fs.symlinkSync('/etc/passwd', path.join(uploadDirOf(server), 'escape-link'));
    fs.symlinkSync('/etc', path.join(uploadDirOf(server), 'escape-dir'));
    putInUploads(server, 'too-big.bin', randomBytes(MAX_FILE_SIZE + 1));
  });

  async function expectRefused(input: Record<string, unknown>, code: string, message?: RegExp) {
    const rowsBefore = await cdnFileRowCount(server);
    const storedBefore = storedFiles(server);
    const response = await admin.request(UploadCdnFileDocument, { input: input as never });
    expect(response.errors?.[0]?.extensions?.code).toBe(code);
    if (message) expect(response.errors?.[0]?.message).toMatch(message);
    expect(response.data ?? null).toBeNull();
    expect(await cdnFileRowCount(server)).toBe(rowsBefore);
    expect(storedFiles(server)).toEqual(storedBefore);
    // Never a path outside UPLOAD_DIR in the answer.
    expect(response.errors?.[0]?.message).not.toContain(path.dirname(uploadDirOf(server)));
    return response;
  }

  it.each([
    ['a relative escape', '../../etc/passwd', /outside UPLOAD_DIR/],
    ['an absolute path elsewhere', '/etc/passwd', /outside UPLOAD_DIR/],
    ['an escape through a subdirectory', 'a/../../x', /outside UPLOAD_DIR/],
    ['URL-encoded traversal', '..%2F..%2Fetc%2Fpasswd', /percent-encoded/],
    ['URL-encoded dots', '%2e%2e/%2e%2e/etc/passwd', /percent-encoded/],
    ['double-encoded traversal', '..%252F..%252Fetc%252Fpasswd', /percent-encoded/],
    ['a NUL byte', 'ok.bin\u0000.txt', /NUL/],
    ['a backslash path', '..\\..\\etc\\passwd', /"\\"/],
    ['a symlink pointing out of UPLOAD_DIR', 'escape-link', /symlink that points outside/],
    ['a path through a symlinked directory outside', 'escape-dir/passwd', /symlink that points outside/],
    ['a directory', 'a-directory', /is a directory/],
    ['UPLOAD_DIR itself', '.', /UPLOAD_DIR itself/],
    ['a missing file', 'does-not-exist.bin', /no such file/],
    ['an empty path', '', /filePath must be/],
    ['a 10 KB path', `${'a/'.repeat(5000)}x`, /at most 4096/],
  ])('refuses %s as BAD_USER_INPUT', async (_label, filePath, message) => {
    await expectRefused({ filePath }, 'BAD_USER_INPUT', message);
  });

  it('refuses a 10 KB fileName and names with "/" as BAD_USER_INPUT', async () => {
    await expectRefused({ filePath: 'ok.bin', fileName: 'n'.repeat(10 * 1024) }, 'BAD_USER_INPUT', /at most 255 bytes/);
    await expectRefused({ filePath: 'ok.bin', fileName: '../evil.bin' }, 'BAD_USER_INPUT', /not a path/);
    await expectRefused({ filePath: 'ok.bin', fileName: '..' }, 'BAD_USER_INPUT', /not a file name/);
  });

  it('refuses a file one byte over MAX_FILE_SIZE as PAYLOAD_TOO_LARGE', async () => {
    await expectRefused({ filePath: 'too-big.bin' }, 'PAYLOAD_TOO_LARGE', new RegExp(`${MAX_FILE_SIZE} bytes`));
  });

  it.each([
    ['a list', [1, 2]],
    ['a string', 'channel=beta'],
    ['a number', 42],
  ])('refuses metadata that is %s as BAD_USER_INPUT', async (_label, metadata) => {
    await expectRefused({ filePath: 'ok.bin', metadata }, 'BAD_USER_INPUT');
  });

  it.each([
    ['not a date', 'next tuesday'],
    ['a date without time', '2030-01-01'],
    ['an impossible date', '2030-13-45T00:00:00Z'],
    ['in the past', '2001-01-01T00:00:00Z'],
  ])('refuses an expiresAt that is %s as BAD_USER_INPUT', async (_label, expiresAt) => {
    await expectRefused({ filePath: 'ok.bin', expiresAt }, 'BAD_USER_INPUT');
  });

  it('refuses a Cache-Control that could inject headers', async () => {
    await expectRefused({ filePath: 'ok.bin', cacheControl: 'no-cache\r\nSet-Cookie: a=b' }, 'BAD_USER_INPUT', /Cache-Control/);
    await expectRefused({ filePath: 'ok.bin', cacheControl: '' }, 'BAD_USER_INPUT', /Cache-Control/);
  });

  it('refuses a caller without the admin role', async () => {
    const rowsBefore = await cdnFileRowCount(server);
    expect(await user.errorCode(UploadCdnFileDocument, { input: { filePath: 'ok.bin' } })).toBe('FORBIDDEN');
    expect(await cdnFileRowCount(server)).toBe(rowsBefore);
  });
});

describe('identical bytes', () => {
  it('reuse one stored object; each upload keeps its own URL until deleted', async () => {
    const bytes = randomBytes(64 * 1024);
    const checksum = sha256(bytes);
    putInUploads(server, unique('first.bin'), bytes);
    const first = (await admin.data(UploadCdnFileDocument, { input: { filePath: `${counter}-first.bin`, fileName: 'tool.bin' } })).uploadCdnFile;
    putInUploads(server, unique('second.bin'), bytes);
    const second = (await admin.data(UploadCdnFileDocument, { input: { filePath: `${counter}-second.bin`, fileName: 'tool-copy.bin' } })).uploadCdnFile;
    expect(second.id).not.toBe(first.id);
    expect(second.cdnUrl).not.toBe(first.cdnUrl);
    expect(second.checksum).toBe(checksum);

    const blob = path.join(cdnStoreOf(server), 'default', 'objects', checksum.slice(0, 2), checksum.slice(2, 4), checksum);
    expect(storedFiles(server).filter((file) => file.endsWith(checksum))).toEqual([path.relative(cdnStoreOf(server), blob)]);
    // One inode: the blob and the two file keys.
    expect(fs.statSync(blob).nlink).toBe(3);

    const { cdnFiles } = await user.data(CdnFilesDocument, { checksum });
    expect(cdnFiles.nodes.map((f) => f.id).sort()).toEqual([first.id, second.id].sort());

    await admin.data(DeleteCdnFileDocument, { id: first.id });
    expect((await download(first.cdnUrl)).status).toBe(404);
    const still = await download(second.cdnUrl);
    expect(still.status).toBe(200);
    expect(sha256(still.body)).toBe(checksum);

    await admin.data(DeleteCdnFileDocument, { id: second.id });
    expect(fs.existsSync(blob)).toBe(false);
  });
});

describe('a store that fails', () => {
  it('leaves no row and no bytes, and says which region failed and why', async () => {
    const regionDir = path.join(cdnStoreOf(server), 'default');
    const moved = `${regionDir}.moved`;
    fs.renameSync(regionDir, moved);
    fs.writeFileSync(regionDir, 'not a directory');
    try {
      const rowsBefore = await cdnFileRowCount(server);
      const filePath = putInUploads(server, unique('doomed.bin'), randomBytes(10_000));
      const response = await admin.request(UploadCdnFileDocument, { input: { filePath } });
      expect(response.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(response.errors?.[0]?.message).toMatch(/failed in every region \(default: local store, region default: storing an object failed \(ENOTDIR\)\); nothing was stored/);
      expect(await cdnFileRowCount(server)).toBe(rowsBefore);
      expect(fs.readFileSync(regionDir, 'utf8')).toBe('not a directory');
    } finally {
      fs.rmSync(regionDir);
      fs.renameSync(moved, regionDir);
    }
    expect(storedFiles(server).filter((file) => file.startsWith(path.join('default', 'tmp')))).toEqual([]);
  });
});

describe('cdnFiles', () => {
  it('pages newest first without gaps or repeats', async () => {
    const ids: string[] = [];
    const mimeType = 'application/wasm';
    for (let i = 0; i < 5; i++) {
      const filePath = putInUploads(server, unique(`module-${i}.wasm`), Buffer.from(`not really wasm ${i}`));
      ids.push((await admin.data(UploadCdnFileDocument, { input: { filePath } })).uploadCdnFile.id);
    }
    const seen: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const { cdnFiles } = await user.data(CdnFilesDocument, { mimeType, first: 2, after });
      expect(cdnFiles.totalCount).toBe(5);
      seen.push(...cdnFiles.nodes.map((f) => f.id));
      if (!cdnFiles.pageInfo.hasNextPage) break;
      after = cdnFiles.pageInfo.endCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    expect(await user.errorCode(CdnFilesDocument, { after: 'bogus' })).toBe('BAD_USER_INPUT');
    expect(await user.errorCode(CdnFilesDocument, { first: 500 })).toBe('BAD_USER_INPUT');
  });
});

describe('the programmatic API (seed call shapes)', () => {
  it('uploadFile(filePath, fileName, {cacheControl, expiresAt, metadata}, uploadedBy), getFile, deleteFile', async () => {
    const cdn = server.app.services.cdn;
    const filePath = putInUploads(server, unique('seed.bin'), randomBytes(4096));
    const expiresAt = new Date(Date.now() + 3_600_000);
    const file = await cdn.uploadFile(filePath, 'seed.bin', { cacheControl: 'public, max-age=60', expiresAt, metadata: { from: 'script' } }, ADMIN_ID);
    expect(file).toMatchObject({ fileName: 'seed.bin', cacheControl: 'public, max-age=60', expiresAt, metadata: { from: 'script' }, uploadedBy: ADMIN_ID });
    expect((await cdn.getFile(file.id))?.checksum).toBe(file.checksum);
    expect(await cdn.deleteFile(file.id, { force: false })).toBe(true);
    expect(await cdn.getFile(file.id)).toBeNull();
  });
});
