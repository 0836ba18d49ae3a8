import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UploadCdnFileDocument } from '../generated/graphql.js';
import { download, eventually, randomBytes, rawRequest, sha256, uploadDirOf } from '../helpers/cdnFiles.js';
import type { HttpClient } from '../helpers/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MAX_FILE_SIZE = 1024 * 1024;

let server: TestServer;
let admin: HttpClient;
let adminToken: string;
let userToken: string;

beforeAll(async () => {
  server = await startTestServer({ MAX_FILE_SIZE: String(MAX_FILE_SIZE) });
  admin = await server.client('admin');
  adminToken = await server.token('admin');
  userToken = await server.token('user');
});
afterAll(() => server?.close());

/** Everything in UPLOAD_DIR, hidden temp files included. */
const uploadDirEntries = () => (fs.existsSync(uploadDirOf(server)) ? fs.readdirSync(uploadDirOf(server)).sort() : []);

/**
 * Every file and directory under the server's DATA_DIR (which holds UPLOAD_DIR), with sizes,
 * except the embedded database's own files (they change on their own): where a traversal out of
 * UPLOAD_DIR would land. Hidden and nested entries included.
 */
function dataDirTree(): string[] {
  const root = server.database.dataDir;
  const entries: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const relative = path.relative(root, full);
      if (relative === 'pglite' || relative.startsWith(`pglite${path.sep}`)) continue;
      if (entry.isDirectory()) {
        entries.push(`${relative}/`);
        walk(full);
      } else entries.push(`${relative} ${fs.lstatSync(full).size}`);
    }
  };
  walk(root);
  return entries.sort();
}

function put(name: string, body: Buffer | string, headers: Record<string, string | number> = {}) {
  return rawRequest(server.url, {
    method: 'PUT',
    path: `/uploads/${name}`,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/octet-stream', ...headers },
    body,
  });
}

describe('PUT /uploads/<name>', () => {
  it('streams the body into UPLOAD_DIR and answers the path uploadCdnFile takes', async () => {
    const bytes = randomBytes(600_000);
    const response = await put('extension-3.1.0.vsix', bytes);
    expect(response.status).toBe(201);
    const answer = JSON.parse(response.body.toString());
    expect(answer).toEqual({ path: 'extension-3.1.0.vsix', filePath: 'extension-3.1.0.vsix', size: bytes.length, checksum: sha256(bytes) });
    expect(fs.readFileSync(path.join(uploadDirOf(server), 'extension-3.1.0.vsix')).equals(bytes)).toBe(true);

    const { uploadCdnFile } = await admin.data(UploadCdnFileDocument, { input: { filePath: answer.path } });
    expect(uploadCdnFile.checksum).toBe(answer.checksum);
    expect(sha256((await download(uploadCdnFile.cdnUrl)).body)).toBe(answer.checksum);
  });

  it('takes a URL-encoded name with spaces and non-ASCII letters', async () => {
    const response = await put(encodeURIComponent('Release notes – été.txt'), 'bonjour');
    expect(response.status).toBe(201);
    expect(JSON.parse(response.body.toString()).path).toBe('Release notes – été.txt');
  });

  it('replaces an earlier upload of the same name whole', async () => {
    expect((await put('replace-me.bin', 'first version, longer')).status).toBe(201);
    expect((await put('replace-me.bin', 'second')).status).toBe(201);
    expect(fs.readFileSync(path.join(uploadDirOf(server), 'replace-me.bin'), 'utf8')).toBe('second');
  });

  it('accepts exactly MAX_FILE_SIZE bytes', async () => {
    expect((await put('at-limit.bin', randomBytes(MAX_FILE_SIZE))).status).toBe(201);
  });

  it('answers 413 PAYLOAD_TOO_LARGE for a declared length one byte over, keeping nothing', async () => {
    const before = uploadDirEntries();
    const response = await put('too-big.bin', randomBytes(MAX_FILE_SIZE + 1));
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body.toString()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(uploadDirEntries()).toEqual(before);
  });

  it('answers 413 when a chunked body without a length grows past the limit, keeping nothing', async () => {
    const before = uploadDirEntries();
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(server.url);
      const req = http.request(
        { host: url.hostname, port: url.port, method: 'PUT', path: '/uploads/chunked.bin', headers: { authorization: `Bearer ${adminToken}`, 'transfer-encoding': 'chunked' } },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      const chunk = randomBytes(64 * 1024);
      for (let sent = 0; sent <= MAX_FILE_SIZE + chunk.length; sent += chunk.length) req.write(chunk);
      req.end();
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(uploadDirEntries()).toEqual(before);
  });

  it.each([
    ['an encoded traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['an encoded slash', 'dir%2Ffile.bin'],
    ['two segments', 'dir/file.bin'],
    ['a backslash', 'a%5Cb.bin'],
    ['an encoded NUL', 'file%00.bin'],
    ['a control character', 'file%0A.bin'],
    ['a hidden name', '.env'],
    ['malformed percent-encoding', '%zz.bin'],
    ['a 256-byte name', 'n'.repeat(256)],
    ['an empty name', ''],
  ])('answers 400 BAD_USER_INPUT for %s, keeping nothing', async (_label, name) => {
    const before = dataDirTree();
    // Where `../../etc/passwd` from UPLOAD_DIR would land: beside DATA_DIR, outside the tree above.
    const escaped = path.resolve(uploadDirOf(server), '..', '..', 'etc');
    expect(fs.existsSync(escaped)).toBe(false);
    const response = await put(name, 'payload');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body.toString()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(dataDirTree()).toEqual(before);
    expect(fs.existsSync(escaped)).toBe(false);
  });

  it('answers 401 without a token and 403 for a user token, keeping nothing', async () => {
    const before = uploadDirEntries();
    const anonymous = await rawRequest(server.url, { method: 'PUT', path: '/uploads/anon.bin', body: 'x' });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body.toString()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const asUser = await rawRequest(server.url, { method: 'PUT', path: '/uploads/user.bin', headers: { authorization: `Bearer ${userToken}` }, body: 'x' });
    expect(asUser.status).toBe(403);
    expect(JSON.parse(asUser.body.toString()).errors[0].extensions.code).toBe('FORBIDDEN');
    const forged = await rawRequest(server.url, { method: 'PUT', path: '/uploads/forged.bin', headers: { authorization: `Bearer ${adminToken}x` }, body: 'x' });
    expect(forged.status).toBe(401);
    expect(uploadDirEntries()).toEqual(before);
  });

  it('leaves no temp file behind when the client disconnects mid-upload', async () => {
    const before = uploadDirEntries();
    const url = new URL(server.url);
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: 'PUT',
      path: '/uploads/aborted.bin',
      headers: { authorization: `Bearer ${adminToken}`, 'content-length': 500_000 },
    });
    req.on('error', () => {});
    req.write(randomBytes(100_000));
    await eventually(async () => (uploadDirEntries().some((entry) => entry.startsWith('.incoming-')) ? true : undefined), 5000, 'temp file created');
    req.destroy();
    await eventually(async () => (JSON.stringify(uploadDirEntries()) === JSON.stringify(before) ? true : undefined), 5000, 'temp file removed');
  });
});
