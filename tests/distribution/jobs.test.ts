import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPostgresDatabase, createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';

/**
 * The job engine (src/jobs/engine.ts) in real server processes, through the test-only queue,
 * route and recurring task that JOBS_TEST_QUEUES=1 adds (src/jobs/testQueues.ts). What ran is
 * read back from each process's structured log. The first block runs on this run's database
 * (PGlite, or PostgreSQL under DATABASE_URL); the second needs two processes on one database,
 * so it always runs on PostgreSQL.
 */

const TEST_JOBS = { JOBS_TEST_QUEUES: '1' };
/** Lease recovery needs a short supervise pass and poll; the test queue's lease is 3 s. */
const FAST_RECOVERY = { JOBS_SUPERVISE_INTERVAL: '1s', JOBS_POLL_INTERVAL: '1s' };

interface LogLine {
  msg: string;
  time: number;
  pid?: number;
  testJob?: string;
  jobId?: string;
  latencyMs?: number;
  testEvery?: { startedAt: number; endedAt: number };
}

function logLines(server: SpawnedServer): LogLine[] {
  return server
    .output()
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        const parsed = JSON.parse(line) as Omit<LogLine, 'time'> & { time: string };
        return [{ ...parsed, time: Date.parse(parsed.time) }]; // pino writes ISO times here
      } catch {
        return [];
      }
    });
}

const started = (servers: SpawnedServer[], marker: string) =>
  servers.flatMap((server) => logLines(server).filter((line) => line.msg === 'test job started' && line.testJob === marker).map((line) => ({ ...line, server })));
const finished = (servers: SpawnedServer[], marker: string) =>
  servers.flatMap((server) => logLines(server).filter((line) => line.msg === 'test job finished' && line.testJob === marker));
const recurringRuns = (server: SpawnedServer) => logLines(server).filter((line) => line.msg === 'test recurring task ran').map((line) => ({ ...line.testEvery!, pid: line.pid! }));

async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface SendBody {
  data: { marker: string; sleepMs?: number };
  key?: string;
  startAfterMs?: number;
  tx?: 'commit' | 'rollback';
}

async function send(server: SpawnedServer, body: SendBody): Promise<boolean> {
  const response = await fetch(`${server.url}/__test/jobs`, { method: 'POST', body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { sent: boolean }).sent;
}

const marker = (name: string) => `${name}-${crypto.randomBytes(4).toString('hex')}`;
const servers: SpawnedServer[] = [];
const databases: TestDatabase[] = [];

async function spawn(env: Record<string, string>, database: TestDatabase): Promise<SpawnedServer> {
  const server = await spawnServer({ ...TEST_JOBS, ...env }, database, 120_000);
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')));
  await Promise.all(databases.map((database) => database.drop()));
}, 60_000);

describe(`jobs on one server (${usingPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  let database: TestDatabase;
  let server: SpawnedServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    databases.push(database);
    server = await spawn({}, database);
  }, 150_000);

  it('runs a job within tens of milliseconds of its send (NOTIFY, not the 30 s backstop poll)', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const name = marker('latency');
      expect(await send(server, { data: { marker: name } })).toBe(true);
      const [line] = await waitFor(`job ${name} to start`, () => started([server], name).length > 0 && started([server], name), 5_000);
      latencies.push(line!.latencyMs!);
    }
    latencies.sort((a, b) => a - b);
    console.log(`[jobs] send → handler on ${usingPostgres ? 'PostgreSQL' : 'PGlite'}: p50 ${latencies[10]} ms, max ${latencies.at(-1)} ms (20 jobs, loaded machine)`);
    expect(latencies[10]).toBeLessThan(250);
  });

  it('runs a job once per key even when the key is sent twice', async () => {
    const name = marker('keyed');
    const key = `step:${name}`;
    expect(await send(server, { data: { marker: name }, key })).toBe(true);
    expect(await send(server, { data: { marker: `${name}-again` }, key })).toBe(false);
    await waitFor(`job ${name} to finish`, () => finished([server], name).length > 0);
    expect(await send(server, { data: { marker: `${name}-after` }, key })).toBe(false); // still refused after it ran
    await sleep(500);
    expect(started([server], name)).toHaveLength(1);
    expect(started([server], `${name}-again`)).toHaveLength(0);
    expect(started([server], `${name}-after`)).toHaveLength(0);
  });

  it('leaves no job behind a rolled-back transaction, and runs the one of a committed transaction', async () => {
    const rolledBack = marker('rolled-back');
    const committed = marker('committed');
    const key = `tx:${rolledBack}`;
    expect(await send(server, { data: { marker: rolledBack }, key, tx: 'rollback' })).toBe(true); // inserted, then rolled back
    expect(await send(server, { data: { marker: committed }, tx: 'commit' })).toBe(true);
    await waitFor(`job ${committed} to finish`, () => finished([server], committed).length > 0);
    await sleep(500);
    expect(started([server], rolledBack)).toHaveLength(0);
    // Its key is free: no row holds it.
    const retried = `${rolledBack}-retry`;
    expect(await send(server, { data: { marker: retried }, key })).toBe(true);
    await waitFor(`job ${retried} to start`, () => started([server], retried).length > 0);
  });

  it('honours startAfter: not before it, and soon after it (a due-time timer, not the backstop poll)', async () => {
    const name = marker('delayed');
    const sentAt = Date.now();
    expect(await send(server, { data: { marker: name }, startAfterMs: 1_500 })).toBe(true);
    const [line] = await waitFor(`job ${name} to start`, () => started([server], name).length > 0 && started([server], name), 10_000);
    const delay = line!.time - sentAt;
    console.log(`[jobs] startAfter +1500 ms ran after ${delay} ms`);
    expect(delay).toBeGreaterThanOrEqual(1_500);
    expect(delay).toBeLessThan(3_000);
  });

  it('finishes a running job on SIGTERM, exits 0, does not run it again after a restart, and runs a delayed job sent before the restart on time', async () => {
    const name = marker('shutdown');
    const delayed = marker('delayed-across-restart');
    const delayMs = 15_000; // longer than a restart, so the job falls due after the new engine started
    const delayedSentAt = Date.now();
    expect(await send(server, { data: { marker: delayed }, startAfterMs: delayMs })).toBe(true);
    expect(await send(server, { data: { marker: name, sleepMs: 1_500 } })).toBe(true);
    await waitFor(`job ${name} to start`, () => started([server], name).length > 0);
    const stoppingAt = Date.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    const stopMs = Date.now() - stoppingAt;
    expect(finished([server], name)).toHaveLength(1);
    expect(stopMs).toBeLessThan(8_000);
    const lines = logLines(server).map((line) => line.msg);
    expect(lines.indexOf('test job finished')).toBeLessThan(lines.indexOf('stopped'));

    // The default 30 s backstop poll: the delayed job is found by the look-up at start.
    server = await spawn({ JOBS_SUPERVISE_INTERVAL: '1s' }, database);
    const engineStarted = logLines(server).find((line) => line.msg === 'job engine started')!.time;
    const [ran] = await waitFor(`job ${delayed} to start`, () => started([server], delayed).length > 0 && started([server], delayed), 20_000);
    console.log(`[jobs] delayed job sent before a restart: due ${delayedSentAt + delayMs - engineStarted} ms after the engine started, ran ${ran!.time - (delayedSentAt + delayMs)} ms after its due time`);
    expect(ran!.time - delayedSentAt).toBeGreaterThanOrEqual(delayMs);
    expect(ran!.time - Math.max(delayedSentAt + delayMs, engineStarted)).toBeLessThan(1_500);
    await sleep(Math.max(0, engineStarted + 5_000 - Date.now())); // past the 3 s lease plus a supervise pass
    expect(started([server], name)).toHaveLength(0);
  }, 120_000);

  it(
    usingPostgres
      ? 'runs a job again after the process holding it was killed with SIGKILL, once its lease ran out'
      : 'runs a job again when the server restarts after the process holding it was killed with SIGKILL, without waiting out its lease',
    async () => {
      const name = marker('killed');
      const killed = server;
      expect(await send(killed, { data: { marker: name, sleepMs: 60_000 } })).toBe(true);
      await waitFor(`job ${name} to start`, () => started([killed], name).length > 0);
      const killedAt = Date.now();
      await killed.stop('SIGKILL');

      server = await spawn(FAST_RECOVERY, database);
      const [again] = await waitFor(`job ${name} to run again`, () => started([server], name).length > 0 && started([server], name), 30_000);
      const engineStarted = logLines(server).find((line) => line.msg === 'job engine started')!.time;
      console.log(`[jobs] job of a SIGKILLed process ran again ${again!.time - killedAt} ms after the kill, ${again!.time - engineStarted} ms after the restarted engine started`);
      if (usingPostgres) {
        // Another instance could be holding it: only the lease (3 s) says it is lost.
        expect(again!.time - killedAt).toBeGreaterThanOrEqual(2_500);
      } else {
        // One process per DATA_DIR: a job active at start was the dead process's; no lease wait.
        expect(again!.time - engineStarted).toBeLessThan(1_500);
        expect(logLines(server).some((line) => line.msg === 'jobs left running by a process that died go back to the queue')).toBe(true);
      }
      await server.stop('SIGKILL'); // its handler sleeps a minute
    },
    120_000,
  );
});

describe('jobs across two server processes (PostgreSQL)', () => {
  let database: TestDatabase;
  let instanceA: SpawnedServer;
  let instanceB: SpawnedServer;
  const env = { ...FAST_RECOVERY, JOBS_TEST_EVERY_INTERVAL: '100ms' };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    databases.push(database);
    // Started together: both create pg-boss's schema and queues at once.
    [instanceA, instanceB] = await Promise.all([spawn(env, database), spawn(env, database)]);
  }, 150_000);

  it('runs each key once when both instances send it', async () => {
    const names = Array.from({ length: 10 }, () => marker('both'));
    const results = await Promise.all(
      names.flatMap((name) => [send(instanceA, { data: { marker: name }, key: name }), send(instanceB, { data: { marker: name }, key: name })]),
    );
    for (let i = 0; i < names.length; i++) expect([results[2 * i], results[2 * i + 1]].sort()).toEqual([false, true]);
    await waitFor('every keyed job to finish', () => names.every((name) => finished([instanceA, instanceB], name).length > 0));
    await sleep(1_000);
    for (const name of names) expect(started([instanceA, instanceB], name)).toHaveLength(1);
  });

  it('runs the recurring task on one instance at a time, and on the other once its runner is killed', async () => {
    await sleep(2_000);
    const runs = [...recurringRuns(instanceA), ...recurringRuns(instanceB)].sort((a, b) => a.startedAt - b.startedAt);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt).toBeGreaterThanOrEqual(runs[i - 1]!.endedAt);

    const leader = recurringRuns(instanceA).length > 0 ? instanceA : instanceB;
    const other = leader === instanceA ? instanceB : instanceA;
    expect(recurringRuns(other)).toHaveLength(0);
    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    const [first] = await waitFor('the other instance to run the recurring task', () => recurringRuns(other).length > 0 && recurringRuns(other), 10_000);
    console.log(`[jobs] recurring task taken over ${first!.startedAt - killedAt} ms after its runner was SIGKILLed`);

    const replacement = await spawn(env, database);
    if (leader === instanceA) instanceA = replacement;
    else instanceB = replacement;
  }, 120_000);

  it('runs a job held by a SIGKILLed instance on the other instance once its lease ran out', async () => {
    const name = marker('failover');
    expect(await send(instanceA, { data: { marker: name, sleepMs: 60_000 } })).toBe(true);
    const [first] = await waitFor(`job ${name} to start`, () => started([instanceA, instanceB], name).length > 0 && started([instanceA, instanceB], name));
    const holder = first!.server;
    const survivor = holder === instanceA ? instanceB : instanceA;
    const killedAt = Date.now();
    await holder.stop('SIGKILL');
    const [again] = await waitFor(`job ${name} to run on the survivor`, () => started([survivor], name).length > 0 && started([survivor], name), 20_000);
    console.log(`[jobs] job of a SIGKILLed instance ran on the other ${again!.time - killedAt} ms after the kill (3 s lease, 1 s supervise and poll)`);
    expect(again!.jobId).toBe(first!.jobId);
  }, 120_000);
});
