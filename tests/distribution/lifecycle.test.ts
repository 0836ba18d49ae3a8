import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';

import { mintToken } from '../../src/auth/tokens.js';
import { CreateVersionDocument, VersionByIdDocument, VersionPublishedDocument } from '../generated/graphql.js';
import { HttpClient, subscribe, wsClient } from '../helpers/client.js';
import type { TestDatabase } from '../helpers/database.js';
import { ADMIN_ID, repoRoot, runServerExpectingExit, spawnServer, TEST_JWT_SECRET, uniqueId, type SpawnedServer } from '../helpers/server.js';

/**
 * The compiled server as an operator runs it (`npm start`): start-up, graceful SIGTERM with
 * live WebSocket clients, persistence across restarts on the embedded database, refusal of bad
 * configuration, and the local secret + token command for development.
 */

const run = promisify(execFile);

/** A PGlite data dir of its own, whatever DATABASE_URL this test run has. */
function embeddedDatabase(): TestDatabase {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-lifecycle-'));
  return { url: undefined, dataDir, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}
/**
 * DATABASE_URL blank = unset (the config treats blank as unset): the embedded database. NODE_ENV
 * as `npm start` has it on a fresh machine — not `test`, under which libraries (Apollo's own
 * signal handlers) behave differently.
 */
const EMBEDDED = { DATABASE_URL: '', NODE_ENV: 'development' };

const started: SpawnedServer[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(started.map((server) => server.stop('SIGKILL')));
  await Promise.all(databases.map((database) => database.drop()));
});

async function start(database: TestDatabase, env: Record<string, string> = {}): Promise<{ server: SpawnedServer; msToHealthy: number }> {
  const began = performance.now();
  const server = await spawnServer({ ...EMBEDDED, ...env }, database);
  started.push(server);
  for (;;) {
    const response = await fetch(`${server.url}/healthz`).catch(() => undefined);
    if (response?.status === 200) break;
    if (server.process.exitCode !== null) throw new Error(`server exited:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { server, msToHealthy: performance.now() - began };
}

// Each of these spawns servers on fresh PGlite DATA_DIRs (migrations included): seconds alone,
// tens of seconds on a loaded machine, so they get a ceiling above the suite's 30 s.
describe('start, SIGTERM, restart (embedded database)', { timeout: 120_000 }, () => {
  it('closes live WebSockets with 1001, exits 0, and keeps the data for the next start', async () => {
    const database = embeddedDatabase();
    databases.push(database);
    const token = await mintToken({ secret: TEST_JWT_SECRET, role: 'admin', sub: ADMIN_ID });

    const first = await start(database);
    console.log(`[lifecycle] spawn → /healthz 200 on a fresh PGlite DATA_DIR (migrations included): ${Math.round(first.msToHealthy)} ms`);
    expect(first.server.output()).toContain('listening on');
    const extensionId = uniqueId();
    const admin = new HttpClient(`${first.server.url}/graphql`, token);
    const { createVersion } = await admin.data(CreateVersionDocument, {
      input: { version: '1.4.0', extensionId, releaseNotes: 'kept across restarts', changelog: [{ type: 'ADDED', description: 'Persistence' }] },
    });

    let closedWith: { code: number; reason: string } | undefined;
    let onClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const client = wsClient(`${first.server.url.replace('http', 'ws')}/graphql`, token, (event) => {
      closedWith = event;
      onClosed();
    });
    const subscription = await subscribe(client, VersionPublishedDocument, { extensionId });
    await admin.data(CreateVersionDocument, { input: { version: '1.5.0', extensionId } }); // the subscription is live
    expect((await subscription.next()).data?.versionPublished.version).toBe('1.5.0');

    const exitCode = await first.server.stop('SIGTERM');
    await closed;
    expect(closedWith?.code).toBe(1001);
    expect(exitCode).toBe(0);
    expect(first.server.output()).toMatch(/shutting down/);
    expect(first.server.output()).toMatch(/"msg":"stopped"/);

    const second = await start(database);
    console.log(`[lifecycle] spawn → /healthz 200 reopening the same PGlite DATA_DIR: ${Math.round(second.msToHealthy)} ms`);
    const again = new HttpClient(`${second.server.url}/graphql`, token);
    const { version } = await again.data(VersionByIdDocument, { id: createVersion.id });
    expect(version).toMatchObject({
      id: createVersion.id,
      version: '1.4.0',
      extensionId,
      releaseNotes: 'kept across restarts',
      changelog: [{ type: 'ADDED', description: 'Persistence', scope: null, breaking: false }],
      releasedBy: ADMIN_ID,
    });
    expect(await second.server.stop('SIGINT')).toBe(0);
  });
});

describe('bad configuration', () => {
  const configurationErrors = (output: string) => output.split('\n').filter((line) => line.startsWith('configuration error: '));

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['CDN_PROVIDER', { CDN_PROVIDER: 'ftp' }],
    ['MAX_FILE_SIZE', { MAX_FILE_SIZE: 'lots' }],
    ['JWT_SECRET', { NODE_ENV: 'production' }],
  ])('refuses to start, exit code 1, one line naming %s', async (variable, env) => {
    const { code, output } = await runServerExpectingExit(env);
    expect(code).toBe(1);
    const lines = configurationErrors(output);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(output).not.toContain('listening on');
    expect(output).not.toMatch(/\n\s+at /); // a clear line, not a stack trace
  });

  it('names every bad variable at once, one line each', async () => {
    const { code, output } = await runServerExpectingExit({ NODE_ENV: 'production', PORT: 'abc', CDN_PROVIDER: 'ftp', MAX_FILE_SIZE: 'lots' });
    expect(code).toBe(1);
    const lines = configurationErrors(output);
    expect(lines).toHaveLength(4);
    for (const variable of ['PORT', 'CDN_PROVIDER', 'MAX_FILE_SIZE', 'JWT_SECRET']) {
      expect(lines.filter((line) => line.includes(variable)), variable).toHaveLength(1);
    }
  });
});

describe('development without JWT_SECRET', { timeout: 120_000 }, () => {
  it('generates DATA_DIR/jwt-secret, and the token command mints an admin token the server accepts', async () => {
    const database = embeddedDatabase();
    databases.push(database);
    const { server } = await start(database, { JWT_SECRET: '' });
    const secretFile = path.join(database.dataDir, 'jwt-secret');
    expect(fs.existsSync(secretFile)).toBe(true);
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(secretFile, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(server.output()).toContain('jwt-secret');

    const { stdout } = await run(process.execPath, [path.join(repoRoot, 'dist/src/auth/mint-cli.js'), '--role', 'admin'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', DATA_DIR: database.dataDir },
    });
    const token = stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const admin = new HttpClient(`${server.url}/graphql`, token);
    const { createVersion } = await admin.data(CreateVersionDocument, { input: { version: '0.1.0', extensionId: uniqueId() } });
    expect(createVersion.version).toBe('0.1.0');

    // A token signed with some other secret is still refused.
    const stranger = new HttpClient(`${server.url}/graphql`, await mintToken({ secret: TEST_JWT_SECRET, role: 'admin' }));
    expect((await stranger.request('{ __typename }')).status).toBe(401);
    expect(await server.stop()).toBe(0);
  });
});
