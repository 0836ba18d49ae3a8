import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { mintToken } from '../../src/auth/tokens.js';

/**
 * `npm run bench:update-check`: the update check at volume, beside a raw node:http server in
 * the same run.
 *
 * 1. Spawns the real server (compiled, NODE_ENV=production, embedded PGlite unless DATABASE_URL)
 *    and creates BENCH_OWNERS extensions (default 100), each with versions 1.0.0, 1.1.0, 1.2.0
 *    and three live distributions (full 1.1.0 IMMEDIATE, full 1.2.0 GRADUAL 50 %, delta
 *    1.1.0→1.2.0 IMMEDIATE): 300 live distributions by default.
 * 2. Loads `checkForUpdates` with BENCH_CONNECTIONS (64) connections for BENCH_SECONDS (10 s)
 *    after a warm-up, cycling through 2,000 request bodies with varied extensions, client ids
 *    and current versions.
 * 3. Loads a plain node:http server (its own process) that reads each request body and answers
 *    the identical bytes of a typical offer, with the same connections and duration.
 * 4. Prints requests/s, p50 and p99 of both and the ratio. BENCH_PROFILE=1 runs the server
 *    with --cpu-prof and prints where its CPU time went (self time by function and by package).
 *
 * The load generator shares the machine with both servers: compare the ratio, not absolutes.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OWNERS = Number(process.env.BENCH_OWNERS ?? 100);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const PROFILE = process.env.BENCH_PROFILE === '1';

const CHECK = `query CheckForUpdates($currentVersion: String!, $extensionId: ID, $clientId: String) {
  checkForUpdates(currentVersion: $currentVersion, extensionId: $extensionId, clientId: $clientId) {
    fromVersion toVersion packageId packageUrl packageSize checksum isDelta isRollback mandatory releaseNotes
  }
}`;

/** `--raw-server <body file>`: the comparison server, run as its own process. */
function runRawServer(bodyFile: string): void {
  const body = fs.readFileSync(bodyFile);
  const server = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`raw listening on ${(server.address() as AddressInfo).port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

function waitForLine(child: ChildProcess, pattern: RegExp, output: () => string, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const onData = () => {
      const match = pattern.exec(output());
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited with ${code}:\n${output()}`)));
  });
}

async function gql(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown };
  if (!body.data || body.errors) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Runs `task` over `items` with at most `limit` at a time. */
async function inBatches<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await task(items[next++]!);
  }));
}

async function seed(url: string, adminToken: string, uploadDir: string): Promise<string[]> {
  const owners = Array.from({ length: OWNERS }, (_, i) => `bench.ext${i}`);
  fs.mkdirSync(uploadDir, { recursive: true });
  await inBatches(owners, 4, async (extensionId) => {
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
      await gql(url, adminToken, 'mutation ($input: CreateVersionInput!) { createVersion(input: $input) { id } }', {
        input: { version, extensionId, releaseNotes: `Release ${version} of ${extensionId}: fixes and improvements.` },
      });
    }
    const packages: [string, string, boolean, Record<string, unknown>][] = [
      ['1.0.0', '1.1.0', false, { strategy: 'IMMEDIATE' }],
      ['1.0.0', '1.2.0', false, { strategy: 'GRADUAL', percentage: 50 }],
      ['1.1.0', '1.2.0', true, { strategy: 'IMMEDIATE' }],
    ];
    for (const [fromVersion, toVersion, isDelta, distribution] of packages) {
      const file = `${extensionId}-${fromVersion}-${toVersion}.bin`;
      fs.writeFileSync(path.join(uploadDir, file), crypto.randomBytes(4096));
      const { createUpdatePackage } = await gql(url, adminToken, 'mutation ($input: CreateUpdatePackageInput!) { createUpdatePackage(input: $input) { id } }', {
        input: { extensionId, fromVersion, toVersion, isDelta, packagePath: file },
      });
      await gql(url, adminToken, 'mutation ($input: DistributeUpdateInput!) { distributeUpdate(input: $input) { id } }', {
        input: { packageId: createUpdatePackage.id, ...distribution },
      });
    }
  });
  return owners;
}

interface Measured {
  rps: number;
  /** CPU time (user + system) the server process spent per answered request, in µs. */
  cpuUsPerRequest?: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, headers: Record<string, string>, bodies: string[], seconds: number): Promise<Measured> {
  let index = 0;
  const result = await autocannon({
    url: `${url}/graphql`,
    connections: CONNECTIONS,
    duration: seconds,
    headers,
    requests: [{ method: 'POST', setupRequest: (request) => ({ ...request, body: bodies[index++ % bodies.length] }) }],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

/** CPU time (user + system) a process has used, in seconds, from /proc/<pid>/stat (Linux). */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/**
 * Self time by function and by package from a .cpuprofile, counting only samples taken in
 * [fromUs, toUs] (CLOCK_MONOTONIC microseconds, the clock of both V8's profile and hrtime).
 */
function summariseProfile(file: string, fromUs: number, toUs: number): string[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; startTime: number; timeDeltas: number[] };
  const hits = new Map<number, number>();
  let at = profile.startTime;
  let total = 0;
  profile.samples.forEach((sample, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) return;
    hits.set(sample, (hits.get(sample) ?? 0) + 1);
    total++;
  });
  total ||= 1;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    if (count === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(root, '.');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ?? (where.startsWith('./dist/src') ? 'this project' : where === '' ? `(${functionName || 'native'})` : where.startsWith('node:') ? 'node internals' : where);
    const name = `${functionName || '(anonymous)'} ${where ? `${where.split('/').slice(-2).join('/')}:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + count);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count);
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, count]) => `    ${((count / total) * 100).toFixed(1).padStart(5)} %  ${name}`);
  return [`  server CPU profile of the measured load only (${total} samples), self time by package:`, ...top(byPackage, 12), '  by function:', ...top(byFunction, 25)];
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-bench-check-'));
  const profileDir = path.join(dataDir, 'profile');
  const secret = crypto.randomBytes(32).toString('hex');
  const children: ChildProcess[] = [];
  try {
    let output = '';
    const server = spawn(process.execPath, [...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), path.join(root, 'dist/src/index.js')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        JWT_SECRET: secret,
        LOG_LEVEL: 'info',
        ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    server.stdout!.on('data', (data: Buffer) => (output += data));
    server.stderr!.on('data', (data: Buffer) => (output += data));
    const url = await serverUrl(server, () => output);

    const adminToken = await mintToken({ secret, role: 'admin' });
    const userToken = await mintToken({ secret, role: 'user' });
    const seedStarted = performance.now();
    const owners = await seed(url, adminToken, path.join(dataDir, 'uploads'));
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const versions = ['1.0.0', '1.1.0', '1.0.0', '1.1.0', '1.0.3'];
    const bodies = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({ query: CHECK, variables: { currentVersion: versions[i % versions.length], extensionId: owners[i % owners.length], clientId: `installation-${crypto.randomUUID()}` } }),
    );
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${userToken}` };
    const sample = await fetch(`${url}/graphql`, { method: 'POST', headers, body: bodies[0] });
    const sampleBytes = Buffer.from(await sample.arrayBuffer());
    const parsed = JSON.parse(sampleBytes.toString()) as { data?: { checkForUpdates: unknown } };
    if (!parsed.data?.checkForUpdates) throw new Error(`the sample check got no offer: ${sampleBytes}`);

    await load(url, headers, bodies, WARMUP_SECONDS); // compile, load every owner, warm the JIT
    const measuredFrom = Number(process.hrtime.bigint() / 1000n);
    const realCpuFrom = cpuSeconds(server.pid!);
    const real = await load(url, headers, bodies, SECONDS);
    real.cpuUsPerRequest = ((cpuSeconds(server.pid!) - realCpuFrom) * 1e6) / (real.rps * SECONDS);
    const measuredTo = Number(process.hrtime.bigint() / 1000n);

    const bodyFile = path.join(dataDir, 'raw-body.json');
    fs.writeFileSync(bodyFile, sampleBytes);
    let rawOutput = '';
    const raw = spawn(process.execPath, [fileURLToPath(import.meta.url), '--raw-server', bodyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(raw);
    raw.stdout!.on('data', (data: Buffer) => (rawOutput += data));
    const [, rawPort] = await waitForLine(raw, /raw listening on (\d+)/, () => rawOutput);
    const rawUrl = `http://127.0.0.1:${rawPort}`;
    await load(rawUrl, headers, bodies, Math.min(WARMUP_SECONDS, 2));
    const rawCpuFrom = cpuSeconds(raw.pid!);
    const plain = await load(rawUrl, headers, bodies, SECONDS);
    plain.cpuUsPerRequest = ((cpuSeconds(raw.pid!) - rawCpuFrom) * 1e6) / (plain.rps * SECONDS);

    const row = (name: string, m: Measured) =>
      `  ${name.padEnd(34)} ${m.rps.toFixed(0).padStart(8)}  ${String(m.p50).padStart(6)} ms  ${String(m.p99).padStart(6)} ms  ${(m.cpuUsPerRequest ?? 0).toFixed(0).padStart(15)} µs  ${m.errors + m.non2xx} errors/non-2xx`;
    const lines = [
      '',
      `update-check benchmark: ${OWNERS} extensions, ${OWNERS * 3} live distributions (seeded in ${seedSeconds.toFixed(1)} s), ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, NODE_ENV=production`,
      `  ${CONNECTIONS} connections, ${SECONDS} s each after a ${WARMUP_SECONDS} s warm-up, ${bodies.length} distinct bodies; ${os.cpus().length} cores shared with the load generator, Node ${process.version}`,
      `  ${''.padEnd(34)} ${'req/s'.padStart(8)}  ${'p50'.padStart(9)}  ${'p99'.padStart(9)}  ${'server CPU/request'.padStart(18)}`,
      row('checkForUpdates (real server)', real),
      row(`raw node:http, same ${sampleBytes.length} bytes`, plain),
      `  ratio: ${(real.rps / plain.rps).toFixed(2)}× raw requests/s (target ≥ 0.5×), p99 ${real.p99} ms (target ≤ 10 ms)`,
      `  server CPU per request (user + system, from /proc): ${(real.cpuUsPerRequest! / plain.cpuUsPerRequest!).toFixed(1)}× raw's — the machine-independent part of the ratio`,
      '',
    ];
    process.stdout.write(lines.join('\n'));

    if (PROFILE) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
      const file = fs.readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
      if (file) process.stdout.write(`${summariseProfile(path.join(profileDir, file), measuredFrom, measuredTo).join('\n')}\n  (whole profile: ${path.join(profileDir, file)}, measured window ${measuredFrom}–${measuredTo} µs)\n`);
    }
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    if (!PROFILE) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The server's base URL, from its "listening on" log line. */
async function serverUrl(child: ChildProcess, output: () => string): Promise<string> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const match = /listening on (http:\/\/[^/\s]+)\/graphql/.exec(output());
    if (match) return match[1]!;
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server did not start:\n${output()}`);
}

if (process.argv[2] === '--raw-server') {
  runRawServer(process.argv[3]!);
} else {
  main().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
