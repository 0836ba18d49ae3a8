import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Client } from 'graphql-ws';

import { mintToken, type Role } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { startApp, type App } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { HttpClient, wsClient } from './client.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export const ADMIN_ID = '00000000-0000-4000-8000-00000000a0a0';
export const USER_ID = '00000000-0000-4000-8000-00000000b0b0';

/**
 * Env every test server starts with; override per server. NODE_ENV is `development`, as for
 * `npm start`: under `test` some libraries change behaviour (Apollo skips its signal handlers).
 */
function baseEnv(database: TestDatabase): Record<string, string> {
  return {
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: database.dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Automatic deltas are background work of their own (a job per full package, generations on
    // installed bases): off unless a test of that mode turns it on, so it cannot run into the
    // statement counts and timings of tests about something else.
    DELTA_AUTO_BASES: '0',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
  };
}

export interface TestServer {
  app: App;
  database: TestDatabase;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  token(role: Role, sub?: string, expiresIn?: string): Promise<string>;
  /** HTTP client as admin, user, or anonymous (`null`). */
  client(role: Role | null): Promise<HttpClient>;
  /** graphql-ws client as admin or user; closed with the server. */
  ws(role: Role | null): Promise<Client>;
  close(): Promise<void>;
}

/** Starts a real server in this process on a random port over a fresh database. */
export async function startTestServer(env: Record<string, string> = {}, database?: TestDatabase): Promise<TestServer> {
  const db = database ?? (await createTestDatabase());
  const config = loadConfig({ ...baseEnv(db), ...env });
  const app = await startApp(config, createLogger(config.logLevel));
  const wsClients: Client[] = [];
  const token = (role: Role, sub?: string, expiresIn?: string) =>
    mintToken({ secret: TEST_JWT_SECRET, role, sub: sub ?? (role === 'admin' ? ADMIN_ID : USER_ID), expiresIn });
  return {
    app,
    database: db,
    url: app.url,
    graphqlUrl: `${app.url}/graphql`,
    wsUrl: `${app.url.replace('http', 'ws')}/graphql`,
    token,
    async client(role) {
      return new HttpClient(`${app.url}/graphql`, role ? await token(role) : undefined);
    },
    async ws(role) {
      const client = wsClient(`${app.url.replace('http', 'ws')}/graphql`, role ? await token(role) : undefined);
      wsClients.push(client);
      return client;
    },
    async close() {
      await Promise.all(wsClients.map((client) => client.dispose()));
      await app.close();
      if (!database) await db.drop();
    },
  };
}

export interface SpawnedServer {
  process: ChildProcess;
  url: string;
  /** Everything the process wrote, for assertions on logs. */
  output(): string;
  /** SIGTERM and wait for exit; resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the compiled server (dist/, built by global setup) as its own process, as `npm start` does. */
export async function spawnServer(env: Record<string, string>, database: TestDatabase, timeoutMs = 30_000): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/index.js')], {
    cwd: repoRoot,
    env: { ...process.env, ...baseEnv(database), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // nobody holds it to stop it later
      reject(new Error(`server did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = () => {
      const match = /listening on (http:\/\/[^/\s]+)\/graphql/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    process: child,
    url,
    output: () => output,
    stop(signal = 'SIGTERM') {
      // A process killed by a signal has no exit code, only a signalCode.
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
      return new Promise((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}

/** Runs the compiled server expecting it to refuse to start; resolves its exit code and output. */
export function runServerExpectingExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/index.js')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server kept running:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export const uniqueId = (prefix = 'ext') => `${prefix}.${crypto.randomBytes(4).toString('hex')}`;
