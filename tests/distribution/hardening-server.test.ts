import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eq } from 'drizzle-orm';

import { onTokenExpiry } from '../../src/auth/tokens.js';
import { openDatabase } from '../../src/db/client.js';
import { cdnFiles } from '../../src/db/schema.js';
import { putInUploads, rawRequest } from '../helpers/cdnFiles.js';
import { createTestDatabase, usingPostgres } from '../helpers/database.js';
import WebSocket from 'ws';

import { HttpClient, wsCloseOf } from '../helpers/client.js';
import { ADMIN_ID, repoRoot, runServerExpectingExit, spawnServer, startTestServer, TEST_JWT_SECRET, USER_ID, type SpawnedServer, type TestServer } from '../helpers/server.js';

/**
 * Issue 6, the server's share: tokens' lifetime (#6.3, #6.14), bounded /metrics (#6.13). The
 * items that need a process of their own (lock, permissions, crashes, timeouts) are further down.
 */

const run = promisify(execFile);
const now = () => Math.floor(Date.now() / 1000);
const DAY = 86_400;
const sign = (claims: jose.JWTPayload) =>
  new jose.SignJWT({ role: 'user', sub: USER_ID, ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(TEST_JWT_SECRET));
const COMPARE = '{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }';

let server: TestServer;

/** Polls until `check` passes; fails with its last error. */
async function eventually(check: () => unknown | Promise<unknown>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe('#6.3 a WebSocket stays open for as long as its token is valid', () => {
  it('#6.3 a 30-day token keeps its socket open and usable (no setTimeout overflow)', async () => {
    const token = await sign({ iat: now(), exp: now() + 30 * DAY });
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const messages: { type: string; payload?: unknown }[] = [];
    let closed: { code: number; reason: string } | undefined;
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    socket.on('close', (code, reason) => (closed = { code, reason: String(reason) }));
    try {
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      await eventually(() => expect(messages.map((m) => m.type)).toContain('connection_ack'));
      // The old code closed it 8 ms after the ack (4401 "token expired").
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(closed).toBeUndefined();
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: COMPARE } }));
      await eventually(() => expect(messages.find((m) => m.type === 'next')?.payload).toEqual({ data: { compareVersions: { result: -1 } } }));
      expect(closed).toBeUndefined();
    } finally {
      socket.close();
    }
  });

  it('#6.3 the expiry timer re-arms in bounded steps and fires at the expiry, not before', async () => {
    const started = Date.now();
    const fired = await new Promise<number>((resolve) => {
      onTokenExpiry((started + 300) / 1000, () => resolve(Date.now()), 40);
    });
    expect(fired - started).toBeGreaterThanOrEqual(290);
    let early = false;
    const cancel = onTokenExpiry(now() + 60, () => (early = true), 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    cancel();
    expect(early).toBe(false);
  });
});

describe('#6.14 tokens must expire, within JWT_MAX_TTL', () => {
  const statusOf = async (token: string) => {
    const response = await new HttpClient(server.graphqlUrl, token).request(COMPARE);
    return { status: response.status, code: response.errors?.[0]?.extensions?.code, message: response.errors?.[0]?.message ?? '' };
  };

  it('#6.14 a token without exp is refused (UNAUTHENTICATED, on HTTP and WebSocket)', async () => {
    const token = await sign({ iat: now() });
    const refused = await statusOf(token);
    expect(refused).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(refused.message).toMatch(/"exp" is required/);
    const closed = await wsCloseOf(server.wsUrl, { authorization: `Bearer ${token}` });
    expect(closed.code).toBe(4401);
  });

  it('#6.14 a token living longer than 30 days (exp − iat, or exp − now) is refused; 30 days passes', async () => {
    const tooLong = await statusOf(await sign({ iat: now(), exp: now() + 31 * DAY }));
    expect(tooLong).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(tooLong.message).toMatch(/longer than the 30 days allowed \(JWT_MAX_TTL\)/);
    // No iat to measure from: exp − now decides.
    expect(await statusOf(await sign({ exp: now() + 365 * DAY }))).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    // A back-dated iat does not hide a lifetime of a year.
    expect(await statusOf(await sign({ iat: now() - 340 * DAY, exp: now() + 25 * DAY }))).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await statusOf(await sign({ iat: now(), exp: now() + 30 * DAY }))).toMatchObject({ status: 200, code: undefined });
  });

  it('#6.14 JWT_MAX_TTL bounds it (12h here), and "unlimited" accepts tokens without exp', async () => {
    const strict = await startTestServer({ JWT_MAX_TTL: '12h' });
    const lax = await startTestServer({ JWT_MAX_TTL: 'unlimited' });
    try {
      const day = await sign({ iat: now(), exp: now() + DAY });
      expect((await new HttpClient(strict.graphqlUrl, day).request(COMPARE)).status).toBe(401);
      expect((await new HttpClient(strict.graphqlUrl, await sign({ iat: now(), exp: now() + 3600 })).request(COMPARE)).status).toBe(200);
      expect((await new HttpClient(lax.graphqlUrl, await sign({ iat: now() })).request(COMPARE)).status).toBe(200);
    } finally {
      await Promise.all([strict.close(), lax.close()]);
    }
  }, 90_000);

  it('#6.14 npm run token mints tokens that pass, and refuses a lifetime the server would refuse', async () => {
    const cli = path.join(repoRoot, 'dist/src/auth/mint-cli.js');
    const env = { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: server.database.dataDir };
    const minted = (await run(process.execPath, [cli, '--role', 'user', '--sub', USER_ID, '--expires', '30d'], { env })).stdout.trim();
    const claims = jose.decodeJwt(minted);
    expect(claims.exp! - claims.iat!).toBe(30 * DAY);
    expect(await statusOf(minted)).toMatchObject({ status: 200, code: undefined });
    const refused = await run(process.execPath, [cli, '--role', 'user', '--expires', '31d'], { env }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr.trim()).toBe('token: --expires 31d is longer than the 30 days the server accepts (JWT_MAX_TTL)');
  });
});

/** Samples of one metric from the Prometheus text format. */
function samples(text: string, name: string): Record<string, string>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .map((line) => Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])));
}

describe('#6.13 /metrics stays bounded', () => {
  it('#6.13 2,000 distinct client-chosen operation names add no series: operations are labelled by root field or "other"', async () => {
    const user = await server.client('user');
    await user.data(COMPARE);
    const before = await (await fetch(`${server.url}/metrics`)).text();
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => user.request(`query Made_Up_${batch}_${i} { compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }`)),
      );
    }
    await user.request('query Sneaky { __typename }');
    const after = await (await fetch(`${server.url}/metrics`)).text();
    const labels = new Set(samples(after, 'graphql_operations_total').map((s) => s.operation));
    expect([...labels].sort()).toEqual(['compareVersions', 'other']);
    expect(after).not.toMatch(/Made_Up/);
    // The same series counted 2,000 more times: the page grows by a few digits, not by 2,000 series.
    expect(after.length - before.length).toBeLessThan(4_000);
  }, 90_000);

  it('#6.13 METRICS_TOKEN, when set, makes /metrics need it as a bearer token (401 otherwise)', async () => {
    const guarded = await startTestServer({ METRICS_TOKEN: 'metrics-token-0123456789' });
    try {
      expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const ok = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/graphql_websockets_open/);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  }, 90_000);
});

/** Descriptors a process holds open on files under `dir` (sockets and the database's own files aside, the CDN's). */
const openFilesUnder = (pid: number, dir: string) =>
  fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed between the listing and the look
    }
  }).length;

/** GETs `url` and drops the connection after the first body bytes: a download cut short by the client. */
function abortedGet(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.once('data', () => req.destroy());
      res.once('close', () => resolve());
    });
    req.on('error', () => resolve());
  });
}

describe('#6.4 header values are validated at upload and a stored bad one cannot break serving', () => {
  const UPLOAD = 'mutation($input: UploadCdnFileInput!) { uploadCdnFile(input: $input) { id cdnUrl } }';

  it('#6.4 uploadCdnFile refuses a cacheControl HTTP cannot carry (BAD_USER_INPUT), nothing stored', async () => {
    const admin = await server.client('admin');
    const filePath = putInUploads(server, 'snowman.bin', 'bytes');
    for (const cacheControl of ['private, x="☃"', 'public, x="\u0001"', 'max-age=60, x="é"']) {
      const response = await admin.request(UPLOAD, { input: { filePath, cacheControl } });
      expect(response.errors?.[0]?.extensions?.code, cacheControl).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.message).toMatch(/cacheControl/);
    }
    const files = await admin.data<{ cdnFiles: { totalCount: number } }>('{ cdnFiles { totalCount } }');
    expect(files.cdnFiles.totalCount).toBe(0);
  });

  it('#6.4 a file whose stored headers HTTP cannot carry is served (safe defaults), and 1,000 GETs leak no descriptor', async () => {
    const database = await createTestDatabase();
    let spawned: SpawnedServer | undefined;
    try {
      // A row as older code stored it: written through the API, then given values it now refuses.
      const seeding = await startTestServer({}, database);
      const bytes = Buffer.alloc(256 * 1024, 7);
      const { uploadCdnFile: file } = await (await seeding.client('admin')).data<{ uploadCdnFile: { id: string; cdnUrl: string } }>(UPLOAD, {
        input: { filePath: putInUploads(seeding, 'legacy.bin', bytes) },
      });
      await seeding.close();
      const handle = await openDatabase({ databaseUrl: database.url, dataDir: database.dataDir });
      await handle.db.update(cdnFiles).set({ cacheControl: 'private, x="☃"', mimeType: 'text/plain; x=☃' }).where(eq(cdnFiles.id, file.id));
      await handle.close();

      spawned = await spawnServer({}, database);
      const url = new URL(file.cdnUrl);
      const target = `${spawned.url}${url.pathname}`;
      const first = await rawRequest(spawned.url, { path: url.pathname });
      expect(first.status).toBe(200);
      expect(first.headers['cache-control']).toBe('private, no-cache');
      expect(first.headers['content-type']).toBe('application/octet-stream');
      expect(first.body.equals(bytes)).toBe(true);

      const pid = spawned.process.pid!;
      const store = path.join(fs.realpathSync(database.dataDir), 'cdn');
      const statuses = new Map<number, number>();
      for (let batch = 0; batch < 20; batch++) {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            i % 5 === 0
              ? abortedGet(target).then(() => 0)
              : rawRequest(spawned!.url, { path: url.pathname, headers: i % 2 ? { range: 'bytes=100-199' } : {} }).then((r) => r.status),
          ),
        );
        for (const status of results) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      expect(Object.fromEntries(statuses)).toEqual({ 0: 200, 200: 400, 206: 400 });
      // Once every response is over (aborted ones close as the server notices the client left),
      // no descriptor under the store stays open: the old code kept one per failed GET.
      await eventually(() => expect(openFilesUnder(pid, store)).toBe(0), 5_000);
      expect(spawned.output()).not.toMatch(/ERR_INVALID_CHAR|request failed/);
    } finally {
      await spawned?.stop();
      await database.drop();
    }
  }, 90_000);
});

/** Every file and directory under `dir` with its permission bits. */
function modesUnder(dir: string): { path: string; mode: number; directory: boolean }[] {
  const stat = fs.lstatSync(dir);
  const here = { path: dir, mode: stat.mode & 0o777, directory: stat.isDirectory() };
  if (!stat.isDirectory()) return [here];
  return [here, ...fs.readdirSync(dir).flatMap((name) => modesUnder(path.join(dir, name)))];
}

const CREATE = 'mutation($input: CreateVersionInput!) { createVersion(input: $input) { id version } }';

describe('#6.11 one process per DATA_DIR (embedded database)', () => {
  const migrateCli = path.join(repoRoot, 'dist/src/db/migrate-cli.js');

  it('#6.11 a second server and db:migrate refuse at once naming the PID; the lock goes with a clean exit and with a SIGKILL', async () => {
    const database = await createTestDatabase();
    // Embedded on both passes: this is about PGlite's files (the PostgreSQL pass sets DATABASE_URL).
    const embedded = { DATABASE_URL: '' };
    const bare = { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: database.dataDir };
    const servers: SpawnedServer[] = [];
    try {
      const first = await spawnServer(embedded, database, 60_000);
      servers.push(first);
      const pid = first.process.pid!;

      const started = Date.now();
      const second = await runServerExpectingExit(bare);
      expect(second.code).toBe(1);
      const lines = second.output.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^start-up failed: DATA_DIR ${database.dataDir} is in use by PID ${pid} \\(`));
      expect(Date.now() - started).toBeLessThan(15_000);

      const migrate = await run(process.execPath, [migrateCli], { env: bare }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(migrate?.code).toBe(1);
      expect(migrate?.stderr.trim()).toMatch(new RegExp(`^db:migrate failed: DATA_DIR ${database.dataDir} is in use by PID ${pid} \\([^\n]*$`));

      // The first server never noticed: it still answers and writes.
      const admin = new HttpClient(`${first.url}/graphql`, await adminToken());
      expect((await admin.data<{ createVersion: { version: string } }>(CREATE, { input: { version: '1.0.0', extensionId: 'lock.test' } })).createVersion.version).toBe('1.0.0');

      // SIGKILL leaves the lock directory behind; the next start sees its holder is dead.
      first.process.kill('SIGKILL');
      await new Promise((resolve) => first.process.once('exit', resolve));
      expect(fs.existsSync(path.join(database.dataDir, 'server.lock'))).toBe(true);
      const next = await spawnServer(embedded, database, 60_000);
      servers.push(next);
      const again = new HttpClient(`${next.url}/graphql`, await adminToken());
      expect((await again.data<{ createVersion: { version: string } }>(CREATE, { input: { version: '1.0.1', extensionId: 'lock.test' } })).createVersion.version).toBe('1.0.1');

      // A clean stop releases it: db:migrate can open the database right after.
      expect(await next.stop()).toBe(0);
      expect(fs.existsSync(path.join(database.dataDir, 'server.lock'))).toBe(false);
      expect((await run(process.execPath, [migrateCli], { env: bare })).stdout.trim()).toBe('migrations applied (pglite)');
    } finally {
      for (const server of servers) if (server.process.exitCode === null) server.process.kill('SIGKILL');
      await database.drop();
    }
  }, 180_000);

  it('#6.11 two servers started at the same moment on one DATA_DIR: exactly one runs', async () => {
    const database = await createTestDatabase();
    const outcomes = await Promise.allSettled([spawnServer({ DATABASE_URL: '' }, database, 60_000), spawnServer({ DATABASE_URL: '' }, database, 60_000)]);
    try {
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
      expect(String(refused.reason)).toMatch(/start-up failed: DATA_DIR .* is in use by PID \d+/);
    } finally {
      for (const outcome of outcomes) if (outcome.status === 'fulfilled') await outcome.value.stop();
      await database.drop();
    }
  }, 120_000);
});

describe('#6.12 DATA_DIR is private to the service user', () => {
  it('#6.12 every directory under DATA_DIR is 0700 and every file 0600, what an older version left open included', async () => {
    const database = await createTestDatabase();
    fs.chmodSync(database.dataDir, 0o777);
    fs.mkdirSync(path.join(database.dataDir, 'old'), { mode: 0o777 });
    fs.chmodSync(path.join(database.dataDir, 'old'), 0o777);
    fs.writeFileSync(path.join(database.dataDir, 'old', 'left-open'), 'x');
    fs.chmodSync(path.join(database.dataDir, 'old', 'left-open'), 0o666);
    // The server's own umask decides, not the one it inherits.
    const server = await spawnServer({}, database, 60_000);
    try {
      const token = await adminToken();
      const put = await rawRequest(server.url, { method: 'PUT', path: '/uploads/private.bin', headers: { authorization: `Bearer ${token}` }, body: Buffer.alloc(4096, 1) });
      expect(put.status).toBe(201);
      const admin = new HttpClient(`${server.url}/graphql`, token);
      await admin.data(UPLOAD_FILE, { input: { filePath: 'private.bin' } });
      await admin.data(CREATE, { input: { version: '1.0.0', extensionId: 'modes.test' } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
    try {
      const entries = modesUnder(database.dataDir);
      if (!usingPostgres) expect(entries.some((entry) => entry.path.includes(`${path.sep}pglite${path.sep}`))).toBe(true);
      expect(entries.some((entry) => entry.path.includes(`${path.sep}cdn${path.sep}`) && !entry.directory)).toBe(true);
      const open = entries.filter((entry) => entry.mode !== (entry.directory ? 0o700 : 0o600)).map((entry) => `${entry.mode.toString(8)} ${entry.path}`);
      expect(open).toEqual([]);
    } finally {
      await database.drop();
    }
  }, 120_000);
});

const UPLOAD_FILE = 'mutation($input: UploadCdnFileInput!) { uploadCdnFile(input: $input) { id cdnUrl } }';

function adminToken(): Promise<string> {
  return new jose.SignJWT({ role: 'admin', sub: ADMIN_ID }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/**
 * A raw HTTP/1.1 exchange: sends `head`, then each body piece after its delay, and resolves what
 * came back and when the server closed the connection (ms after the last byte sent).
 */
function slowRequest(baseUrl: string, head: string, pieces: { afterMs: number; bytes: string }[]): Promise<{ response: string; closedAfterLastByteMs: number; totalMs: number }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let lastSent = Date.now();
    let response = '';
    const socket = net.connect(Number(url.port), url.hostname, async () => {
      socket.write(head);
      for (const piece of pieces) {
        await new Promise((r) => setTimeout(r, piece.afterMs));
        if (socket.destroyed) return;
        socket.write(piece.bytes);
        lastSent = Date.now();
      }
    });
    socket.on('data', (chunk) => (response += chunk));
    socket.on('error', () => {}); // a reset after the 408 is the point
    socket.on('close', () => resolve({ response, closedAfterLastByteMs: Date.now() - lastSent, totalMs: Date.now() - started }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after 20 s; got: ${response}`));
    }, 20_000).unref();
  });
}

describe('#6.9 idle request bodies are cut (BODY_IDLE_TIMEOUT)', () => {
  let slow: TestServer;
  let admin: string;
  let user: string;
  const host = () => new URL(slow.url).host;

  beforeAll(async () => {
    slow = await startTestServer({ BODY_IDLE_TIMEOUT: '600ms' });
    admin = await slow.token('admin');
    user = await slow.token('user');
  });

  afterAll(async () => {
    await slow?.close();
  });

  it('#6.9 PUT /uploads that stops sending: 408 and closed, no file kept', async () => {
    const head = `PUT /uploads/drip.bin HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Bearer ${admin}\r\nContent-Length: 1000\r\n\r\n`;
    const result = await slowRequest(slow.url, head, [{ afterMs: 0, bytes: 'x'.repeat(10) }]);
    expect(result.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.response).toMatch(/BODY_IDLE_TIMEOUT/);
    expect(result.closedAfterLastByteMs).toBeGreaterThanOrEqual(500);
    expect(result.closedAfterLastByteMs).toBeLessThan(3_000);
    await eventually(() => expect(fs.readdirSync(slow.app.runtime.config.uploadDir).filter((name) => name.includes('drip') || name.startsWith('.incoming-'))).toEqual([]));
  });

  it('#6.9 a chunked PUT that sends nothing: 408 and closed', async () => {
    const head = `PUT /uploads/chunked.bin HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Bearer ${admin}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const result = await slowRequest(slow.url, head, []);
    expect(result.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.totalMs).toBeLessThan(3_000);
  });

  it('#6.9 POST /graphql with a user token and a body that stalls: 408 and closed', async () => {
    const body = JSON.stringify({ query: COMPARE });
    const head = `POST /graphql HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Bearer ${user}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const result = await slowRequest(slow.url, head, [{ afterMs: 0, bytes: body.slice(0, 10) }]);
    expect(result.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.closedAfterLastByteMs).toBeLessThan(3_000);
  });

  it('#6.9 an honest slow upload that keeps sending is not limited, however long it takes', async () => {
    // 12 pieces 300 ms apart: 3.6 s in all, six times the idle limit, never idle for 600 ms.
    const pieces = Array.from({ length: 12 }, () => ({ afterMs: 300, bytes: 'y'.repeat(100) }));
    const head = `PUT /uploads/honest.bin HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Bearer ${admin}\r\nContent-Length: 1200\r\nConnection: close\r\n\r\n`;
    const result = await slowRequest(slow.url, head, pieces);
    expect(result.response).toMatch(/^HTTP\/1\.1 201 /);
    expect(result.totalMs).toBeGreaterThan(3_000);
    expect(fs.statSync(path.join(slow.app.runtime.config.uploadDir, 'honest.bin')).size).toBe(1200);
  });

  it('#6.9 a long operation after the body has arrived is not cut', async () => {
    // The body arrives at once; the answer may take longer than the idle limit.
    const response = await new HttpClient(slow.graphqlUrl, user).request(COMPARE);
    expect(response.status).toBe(200);
  });
});

/** Sets a file's times `ageMs` into the past: what a crash long ago would have left. */
function age(file: string, ageMs: number): void {
  const then = new Date(Date.now() - ageMs);
  fs.utimesSync(file, then, then);
}

const listTemp = (dataDir: string) => {
  const uploads = path.join(dataDir, 'uploads');
  const tmp = path.join(dataDir, 'cdn', 'default', 'tmp');
  const read = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
  return {
    incoming: read(uploads).filter((name) => name.startsWith('.incoming-')).map((name) => path.join(uploads, name)),
    parts: read(tmp).map((name) => path.join(tmp, name)),
  };
};

async function killed(server: SpawnedServer): Promise<void> {
  server.process.kill('SIGKILL');
  if (server.process.exitCode === null && server.process.signalCode === null) await new Promise((resolve) => server.process.once('exit', resolve));
}

describe('#6.10 crashes leave no orphan bytes', () => {
  const DAY = 86_400_000;

  it('#6.10 temp files of a kill -9 during PUT /uploads and during uploadCdnFile are removed at start-up and by the sweep, fresh ones of a live writer kept', async () => {
    const database = await createTestDatabase();
    const servers: SpawnedServer[] = [];
    const spawnOne = async (env: Record<string, string> = {}) => {
      const server = await spawnServer(env, database, 60_000);
      servers.push(server);
      return server;
    };
    try {
      const token = await adminToken();
      // 1. kill -9 while PUT /uploads streams: its .incoming-* file stays behind.
      const first = await spawnOne();
      const url = new URL(first.url);
      const socket = net.connect(Number(url.port), url.hostname);
      socket.on('error', () => {});
      socket.write(`PUT /uploads/big.bin HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(1024 * 1024, 1));
      await eventually(() => expect(listTemp(database.dataDir).incoming.map((file) => fs.statSync(file).size)).toEqual([1024 * 1024]), 20_000);
      await killed(first);
      socket.destroy();
      const [incoming] = listTemp(database.dataDir).incoming;
      expect(incoming).toBeDefined();

      // 2. kill -9 while uploadCdnFile writes into the local store: its tmp/*.part stays behind.
      const second = await spawnOne();
      // Fresh (seconds old): a live instance sharing the directory could be writing it, so start-up keeps it.
      expect(fs.existsSync(incoming!)).toBe(true);
      const source = path.join(database.dataDir, 'uploads', 'huge.bin');
      fs.writeFileSync(source, Buffer.alloc(128 * 1024 * 1024, 3));
      void new HttpClient(`${second.url}/graphql`, token).request(UPLOAD_FILE, { input: { filePath: 'huge.bin' } }).catch(() => undefined);
      const tmp = path.join(database.dataDir, 'cdn', 'default', 'tmp');
      const deadline = Date.now() + 60_000;
      while (!(fs.existsSync(tmp) && fs.readdirSync(tmp).some((name) => name.endsWith('.part')))) {
        if (Date.now() > deadline) throw new Error('uploadCdnFile never wrote a .part file');
        await new Promise((resolve) => setImmediate(resolve));
      }
      await killed(second);
      const parts = listTemp(database.dataDir).parts;
      expect(parts.some((file) => file.endsWith('.part'))).toBe(true);

      // 3. An hour later (aged by hand), a restart removes them; a live writer's fresh files stay.
      for (const file of [incoming!, ...parts]) age(file, DAY);
      const liveIncoming = path.join(database.dataDir, 'uploads', '.incoming-live');
      const livePart = path.join(tmp, 'live.part');
      fs.writeFileSync(liveIncoming, 'still being written');
      fs.writeFileSync(livePart, 'still being written');
      const third = await spawnOne({ CDN_SWEEP_INTERVAL: '300ms' });
      expect(listTemp(database.dataDir)).toEqual({ incoming: [liveIncoming], parts: [livePart] });
      expect(third.output()).toMatch(/removed temp files left by crashed or interrupted uploads/);

      // 4. The sweep does the same without a restart once they too are old.
      age(liveIncoming, DAY);
      age(livePart, DAY);
      await eventually(() => expect(listTemp(database.dataDir)).toEqual({ incoming: [], parts: [] }), 15_000);
      expect(await third.stop()).toBe(0);
    } finally {
      for (const server of servers) if (server.process.exitCode === null && server.process.signalCode === null) await killed(server);
      await database.drop();
    }
  }, 240_000);

  it('#6.10 SIGTERM with slow uploads in flight: the server exits 0 and leaves no .incoming file', async () => {
    const database = await createTestDatabase();
    const server = await spawnServer({}, database, 60_000);
    const sockets: net.Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      const token = await adminToken();
      const url = new URL(server.url);
      for (let i = 0; i < 3; i++) {
        const socket = net.connect(Number(url.port), url.hostname);
        socket.on('error', () => {});
        sockets.push(socket);
        socket.write(`PUT /uploads/slow-${i}.bin HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000000\r\n\r\n`);
        socket.write('x'.repeat(1000));
        // One byte every 200 ms: never idle long enough to be cut, never done.
        timers.push(setInterval(() => !socket.destroyed && socket.write('x'), 200));
      }
      await eventually(() => expect(listTemp(database.dataDir).incoming).toHaveLength(3), 20_000);
      expect(await server.stop('SIGTERM')).toBe(0);
      expect(listTemp(database.dataDir).incoming).toEqual([]);
      expect(server.output()).toMatch(/"msg":"stopped"/);
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      if (server.process.exitCode === null && server.process.signalCode === null) await killed(server);
      await database.drop();
    }
  }, 120_000);
});
