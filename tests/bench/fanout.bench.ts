import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import WebSocket, { WebSocketServer } from 'ws';

import { mintToken } from '../../src/auth/tokens.js';
import { scenarios, type ScenarioContext } from './fanoutScenarios.js';

/**
 * `npm run bench:fanout`: one publishing mutation to N graphql-ws subscribers of a real server
 * process (production mode, embedded database unless DATABASE_URL is set), beside a raw `ws`
 * server broadcasting the very bytes a subscriber received, in the same run. Prints, per N:
 * ms until the last subscriber has the event (server, raw, ratio), ms until the first one
 * has it, server memory per subscriber after GC (RSS delta from /proc after a full GC through
 * the inspector; raw alike), and the mutation's latency with and without subscribers.
 *
 * Settings: BENCH_SUBSCRIBERS (default 1000,5000,10000), BENCH_SUBSCRIPTION (a name in
 * fanoutScenarios.ts: versionPublished (default) or updateAvailable), BENCH_ROUNDS (default 3), BENCH_PIN (default
 * 1: with taskset, the server and the raw server run on CPU 0 and the subscribers on CPU 1).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const here = path.dirname(fileURLToPath(import.meta.url));
const COUNTS = (process.env.BENCH_SUBSCRIBERS ?? '1000,5000,10000').split(',').map(Number);
const SCENARIO = process.env.BENCH_SUBSCRIPTION ?? 'versionPublished';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Publishes with no subscriber, for the mutation's baseline latency. */
const ALONE_ROUNDS = 5;
/** BENCH_PROFILE_DIR=<dir>: the server runs with --cpu-prof and writes its profile there on exit. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const PIN = process.env.BENCH_PIN !== '0' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

const now = () => performance.timeOrigin + performance.now();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

/** Spawns node (pinned to `cpu` when pinning), resolving once `ready` matches its output. */
function spawnNode(args: string[], env: Record<string, string>, ready: RegExp, cpu: number): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const command = PIN ? 'taskset' : process.execPath;
  const child = spawn(command, PIN ? ['-c', String(cpu), process.execPath, ...args] : args, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`)));
  });
}

/** A full GC in a process started with --inspect, through the DevTools protocol. */
async function collectGarbage(inspectorUrl: string): Promise<void> {
  const socket = new WebSocket(inspectorUrl);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  let id = 0;
  const call = (method: string) =>
    new Promise<void>((resolve) => {
      const callId = ++id;
      const onMessage = (data: WebSocket.RawData) => {
        if ((JSON.parse(String(data)) as { id?: number }).id === callId) {
          socket.off('message', onMessage);
          resolve();
        }
      };
      socket.on('message', onMessage);
      socket.send(JSON.stringify({ id: callId, method }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  socket.close();
  await sleep(200);
}

interface SwarmResult {
  first: number;
  last: number;
  received: number;
  errors: number;
}

async function startSwarm(env: Record<string, string>): Promise<{ arm(expected: number): Promise<SwarmResult>; stop(): void }> {
  const child = fork(path.join(here, 'subscriberSwarm.js'), {
    execPath: PIN ? 'taskset' : process.execPath,
    execArgv: PIN ? ['-c', '1', process.execPath] : [],
    env: { PATH: process.env.PATH ?? '', SWARM_BATCH: '500', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message: { type: string; error?: string }) => (message.type === 'ready' ? resolve() : reject(new Error(message.error))));
    child.once('exit', (code) => reject(new Error(`subscriber swarm exited with ${code}`)));
  });
  return {
    arm(expected) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not all ${expected} subscribers got the event within 60 s`)), 60_000);
        const onMessage = (message: SwarmResult & { type: string }) => {
          if (message.type !== 'done') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(message);
        };
        child.on('message', onMessage);
        child.send({ type: 'arm', expected });
      });
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/** One graphql-transport-ws subscriber spoken by hand: captures the exact bytes of its first `next`. */
function captureMessage(wsUrl: string, token: string, query: string, variables: Record<string, unknown>): { message: Promise<string>; close(): void } {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  const message = new Promise<string>((resolve, reject) => {
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('message', (data) => {
      const text = String(data);
      const parsed = JSON.parse(text) as { type: string };
      if (parsed.type === 'connection_ack') socket.send(JSON.stringify({ id: 'bench-probe', type: 'subscribe', payload: { query, variables } }));
      else if (parsed.type === 'next') resolve(text);
      else if (parsed.type === 'error') reject(new Error(text));
    });
    socket.on('error', reject);
  });
  return { message, close: () => socket.close() };
}

async function runRawServer(): Promise<void> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  let bytes = Buffer.alloc(0);
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/message') bytes = Buffer.concat(chunks);
      res.end('ok');
      // Text frames, as graphql-ws sends; one buffer for every client.
      if (req.url === '/broadcast') setImmediate(() => { for (const client of wss.clients) client.send(bytes, { binary: false }); });
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`raw listening on ${(server.address() as AddressInfo).port}\n`));
}

async function post(url: string, body = ''): Promise<void> {
  const response = await fetch(url, { method: 'POST', body });
  await response.text();
}

interface Row {
  count: number;
  lastMs: number;
  rawLastMs: number;
  firstMs: number;
  rawFirstMs: number;
  kbPerSubscriber: number;
  rawKbPerSubscriber: number;
  mutationWithMs: number;
  mutationAloneMs: number;
}

async function measure(count: number): Promise<Row> {
  const scenario = scenarios[SCENARIO];
  if (!scenario) throw new Error(`BENCH_SUBSCRIPTION=${SCENARIO} is not one of ${Object.keys(scenarios).join(', ')}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-fanout-'));
  const secret = crypto.randomBytes(32).toString('hex');
  const server = await spawnNode(
    ['--inspect=127.0.0.1:0', ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), path.join(root, 'dist/src/index.js')],
    {
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      JWT_SECRET: secret,
      LOG_LEVEL: 'info',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    },
    /Debugger listening on (ws:\/\/\S+)[\s\S]*listening on (http:\/\/[^/\s]+)\/graphql/,
    0,
  );
  const inspectorUrl = server.match[1]!;
  const url = server.match[2]!;
  // taskset execs node: same pid.
  const pid = server.child.pid!;
  const adminToken = await mintToken({ secret, role: 'admin', sub: '00000000-0000-4000-8000-0000000000a1' });
  const userToken = await mintToken({ secret, role: 'user', sub: '00000000-0000-4000-8000-0000000000b1' });
  const context: ScenarioContext = {
    url,
    adminToken,
    userToken,
    uploadDir: path.join(dataDir, 'uploads'),
    // 5 alone, 1 warm-up, ROUNDS measured (below).
    publishRounds: ALONE_ROUNDS + 1 + ROUNDS,
    async graphql<T>(query: string, variables?: Record<string, unknown>, token = adminToken) {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown[] };
      if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors ?? body)}`);
      return body.data;
    },
  };
  let round = 0;
  const publish = async () => {
    const startedAt = now();
    await scenario.publish(context, round++);
    return { startedAt, latency: now() - startedAt };
  };

  try {
    const variables = await scenario.prepare(context);
    const alone: number[] = [];
    for (let i = 0; i < ALONE_ROUNDS; i += 1) alone.push((await publish()).latency);

    await collectGarbage(inspectorUrl);
    const rssBefore = rssBytes(pid);
    const swarm = await startSwarm({
      SWARM_MODE: 'graphql-ws',
      SWARM_URL: `${url.replace('http', 'ws')}/graphql`,
      SWARM_COUNT: String(count),
      SWARM_QUERY: scenario.query,
      SWARM_VARIABLES: JSON.stringify(variables),
      SWARM_TOKEN: userToken,
    });
    const probe = captureMessage(`${url.replace('http', 'ws')}/graphql`, userToken, scenario.query, JSON.parse(JSON.stringify(variables).replaceAll('__INDEX__', '0')) as Record<string, unknown>);
    await sleep(500);
    // Warm-up: every subscription is live once all of them heard one event.
    let delivered = swarm.arm(count);
    await publish();
    await delivered;
    const message = await probe.message;
    await collectGarbage(inspectorUrl);
    const kbPerSubscriber = (rssBytes(pid) - rssBefore) / 1024 / count;

    const lasts: number[] = [];
    const firsts: number[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      await sleep(300);
      delivered = swarm.arm(count);
      const { startedAt, latency } = await publish();
      const result = await delivered;
      if (result.errors > 0) throw new Error(`${result.errors} subscribers got errors`);
      latencies.push(latency);
      firsts.push(result.first - startedAt);
      lasts.push(result.last - startedAt);
    }
    swarm.stop();
    probe.close();

    // The raw ws server, same bytes, same number of sockets.
    const raw = await spawnNode(['--expose-gc', '--inspect=127.0.0.1:0', fileURLToPath(import.meta.url), '--raw-server'], {}, /Debugger listening on (ws:\/\/\S+)[\s\S]*raw listening on (\d+)/, 0);
    const rawPid = raw.child.pid!;
    const rawBase = `http://127.0.0.1:${raw.match[2]}`;
    try {
      await post(`${rawBase}/message`, message);
      await collectGarbage(raw.match[1]!);
      const rawBefore = rssBytes(rawPid);
      const rawSwarm = await startSwarm({ SWARM_MODE: 'raw', SWARM_URL: rawBase.replace('http', 'ws'), SWARM_COUNT: String(count) });
      delivered = rawSwarm.arm(count);
      await post(`${rawBase}/broadcast`);
      await delivered;
      await collectGarbage(raw.match[1]!);
      const rawKbPerSubscriber = (rssBytes(rawPid) - rawBefore) / 1024 / count;
      const rawLasts: number[] = [];
      const rawFirsts: number[] = [];
      for (let i = 0; i < ROUNDS; i += 1) {
        await sleep(300);
        delivered = rawSwarm.arm(count);
        const startedAt = now();
        await post(`${rawBase}/broadcast`);
        const result = await delivered;
        rawFirsts.push(result.first - startedAt);
        rawLasts.push(result.last - startedAt);
      }
      rawSwarm.stop();
      return {
        count,
        lastMs: median(lasts),
        rawLastMs: median(rawLasts),
        firstMs: median(firsts),
        rawFirstMs: median(rawFirsts),
        kbPerSubscriber,
        rawKbPerSubscriber,
        mutationWithMs: median(latencies),
        mutationAloneMs: median(alone),
      };
    } finally {
      raw.child.kill('SIGKILL');
    }
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--raw-server')) return runRawServer();
  process.stdout.write(
    `fan-out of ${SCENARIO}: ${COUNTS.join(', ')} subscribers, ${ROUNDS} rounds each (medians), ` +
      `${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, production mode, ${PIN ? 'server and raw server pinned to CPU 0, subscribers to CPU 1' : 'not pinned'}; ` +
      `load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}\n\n`,
  );
  const rows: Row[] = [];
  for (const count of COUNTS) {
    rows.push(await measure(count));
    const row = rows.at(-1)!;
    process.stdout.write(`  ${count}: last ${row.lastMs.toFixed(0)} ms (raw ${row.rawLastMs.toFixed(0)} ms), first ${row.firstMs.toFixed(1)} ms, ${row.kbPerSubscriber.toFixed(1)} KB/subscriber\n`);
  }
  const lines = [
    '',
    `| subscribers | ms until the last subscriber has it | raw ws | ratio | first subscriber ms (raw) | server KB per subscriber (after GC) | raw | mutation ms with subscribers | with none | ratio |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.count.toLocaleString('en')} | ${row.lastMs.toFixed(0)} | ${row.rawLastMs.toFixed(0)} | ${(row.lastMs / row.rawLastMs).toFixed(1)}× | ${row.firstMs.toFixed(1)} (${row.rawFirstMs.toFixed(1)}) | ${row.kbPerSubscriber.toFixed(1)} KB | ${row.rawKbPerSubscriber.toFixed(1)} KB | ${row.mutationWithMs.toFixed(1)} | ${row.mutationAloneMs.toFixed(1)} | ${(row.mutationWithMs / row.mutationAloneMs).toFixed(1)}× |`,
    ),
    '',
    'Targets (10,000): ≤ 2× raw to the last subscriber, first ≤ 50 ms, ≤ 15 KB per subscriber, mutation within 2× of none.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:fanout failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
