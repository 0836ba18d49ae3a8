import crypto from 'node:crypto';

import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type Db, type DrizzleTransactionLike } from 'pg-boss';
import type { Logger } from 'pino';

import type { Config } from '../config.js';
import type { DatabaseHandle, DbExecutor } from '../db/client.js';
import { advisoryLockLeadership, soleLeadership, type Leadership } from './leadership.js';
import type { QueueName, QueuePayloads } from './queues.js';
import { RecurringTask } from './recurring.js';

/**
 * Durable background jobs on pg-boss 12, on both backends: PGlite through pg-boss's `fromPglite`
 * adapter over the app's own PGlite instance, PostgreSQL through pg-boss's own `pg` pool (a client
 * separate from Drizzle's, whose serializers Drizzle replaces). Jobs live in the `pgboss` schema,
 * created by `start()` on first start.
 *
 * Guarantees (see docs/jobs.md): at-least-once — handlers must be idempotent; `key` gives a job a
 * deterministic id so it is enqueued at most once; a job sent with `tx` exists iff that
 * transaction commits; a job held by a process that died is retried elsewhere once its lease
 * (`expireInSeconds`) has run out.
 */

export interface JobRegistration {
  /** Lease: a job active longer than this is considered lost and retried (default 15 min). */
  expireInSeconds?: number;
  /** Retries after a failure or an expired lease (default 2). */
  retryLimit?: number;
  /** Delay before a retry (default 0). */
  retryDelaySeconds?: number;
}

export type JobHandler<Q extends QueueName> = (data: QueuePayloads[Q], job: { id: string }) => Promise<void>;

export interface SendOptions {
  /** Deterministic id (UUIDv5 of queue + key): a second send with the same key is a no-op. */
  key?: string;
  /** Not before this time. */
  startAfter?: Date;
  /** Insert the job in this transaction: no commit, no job. */
  tx?: DbExecutor;
}

export interface JobEngine {
  /** Registers the handler of a queue (before start()). At-least-once: handlers are idempotent.
   *  A job held by a killed process is retried elsewhere after `expireInSeconds` (lease). */
  register<Q extends QueueName>(queue: Q, handler: JobHandler<Q>, options?: JobRegistration): void;
  /** Enqueues one job; false when `key` was sent before (nothing enqueued). */
  send<Q extends QueueName>(queue: Q, data: QueuePayloads[Q], options?: SendOptions): Promise<boolean>;
  /** Recurring background work of the whole deployment (runs on one instance at a time). */
  every(name: string, intervalMs: number, perform: () => Promise<unknown>): void;
  /**
   * Recurring work on this instance's own in-memory state (each instance runs its own; nothing
   * durable about it). Same non-overlapping timer as `every`, stopped by `stop()`.
   */
  everyOnThisInstance(name: string, intervalMs: number, perform: () => Promise<unknown>): void;
  /** Creates the schema and queues; with `work` (default) also starts workers and recurring tasks. */
  start(options?: { work?: boolean }): Promise<void>;
  /** Stops taking jobs, waits for running handlers (bounded), then closes. */
  stop(): Promise<void>;
}

/** Namespace of job ids derived from keys (any fixed UUID). */
const JOB_ID_NAMESPACE = '4f0d6a0e-5f8e-4c43-9a55-0f3b6a1d2c7e';
/** Each instance hears delayed sends on this channel, to wake its worker when they fall due. */
const DUE_CHANNEL = 'dev_forge_jobs_due';
const PGBOSS_SCHEMA = 'pgboss';
/** How long stop() lets running handlers finish before failing them back to the queue. */
const STOP_GRACE_MS = 8_000;
/** Completed jobs stay this long, so a key sent again within it is still refused. */
const KEEP_COMPLETED_SECONDS = 30 * 24 * 3600;
/** Timers fire this long after a due time: the database's clock decides, ours may be a hair early. */
const WAKE_MARGIN_MS = 15;

/** UUIDv5 (RFC 9562) of `queue` and `key`: the same pair always names the same job. */
export function jobIdFor(queue: string, key: string): string {
  return uuidV5(JOB_ID_NAMESPACE, `${queue}\u0000${key}`);
}

/** A name-based UUID (version 5, SHA-1) of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const hash = crypto.createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface Registered {
  handler: JobHandler<QueueName>;
  options: JobRegistration;
  workerId?: string;
}

export function createJobEngine(database: DatabaseHandle, config: Config, log: Logger): JobEngine {
  return new PgBossJobEngine(database, config, log);
}

class PgBossJobEngine implements JobEngine {
  private readonly queues = new Map<QueueName, Registered>();
  private readonly tasks: RecurringTask[] = [];
  private readonly wakeTimers = new Map<QueueName, { at: number; timer: NodeJS.Timeout }>();
  private boss: PgBoss | undefined;
  private leadership: Leadership | undefined;
  private unlistenDue: (() => Promise<void>) | undefined;
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new';
  private working = false;
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly config: Config,
    log: Logger,
  ) {
    this.log = log.child({ component: 'jobs' });
  }

  register<Q extends QueueName>(queue: Q, handler: JobHandler<Q>, options: JobRegistration = {}): void {
    if (this.state !== 'new') throw new Error(`job queue ${queue} registered after the job engine started`);
    if (this.queues.has(queue)) throw new Error(`job queue ${queue} is registered twice`);
    this.queues.set(queue, { handler: handler as JobHandler<QueueName>, options });
  }

  async send<Q extends QueueName>(queue: Q, data: QueuePayloads[Q], options: SendOptions = {}): Promise<boolean> {
    const boss = this.boss;
    if (!boss || this.state === 'starting' || this.state === 'new') throw new Error(`job engine not started: cannot send a ${queue} job`);
    if (this.state !== 'started') throw new Error(`job engine stopped: cannot send a ${queue} job`);
    // An unknown queue would make pg-boss look it up on its own connection — on PGlite, while
    // the caller's transaction holds the only connection, that never returns.
    if (!this.queues.has(queue)) throw new Error(`job queue ${queue} is not registered (src/jobs/registry.ts)`);
    const { key, startAfter, tx } = options;
    if (startAfter !== undefined && Number.isNaN(startAfter.getTime())) throw new Error(`invalid startAfter for a ${queue} job`);
    const id = await boss.send(queue, data as object, {
      ...(key !== undefined ? { id: jobIdFor(queue, key) } : {}),
      ...(startAfter ? { startAfter } : {}),
      // Runs pg-boss's insert on the transaction's own connection (either backend).
      ...(tx ? { db: fromDrizzle(tx as unknown as DrizzleTransactionLike, sql) } : {}),
    });
    if (id && startAfter && startAfter.getTime() > Date.now()) {
      // pg-boss only NOTIFYs jobs that are due now; tell every instance when this one will be.
      const payload = JSON.stringify({ queue, at: startAfter.getTime() });
      if (tx) await tx.execute(sql`select pg_notify(${DUE_CHANNEL}, ${payload})`);
      else await this.database.notify(DUE_CHANNEL, payload).catch((error: unknown) => this.log.warn({ err: error, queue }, 'due-time notification failed; the backstop poll will find the job'));
    }
    return id !== null;
  }

  every(name: string, intervalMs: number, perform: () => Promise<unknown>): void {
    this.addTask(new RecurringTask(name, intervalMs, perform, this.log, () => this.leadership?.held() ?? Promise.resolve(false)));
  }

  everyOnThisInstance(name: string, intervalMs: number, perform: () => Promise<unknown>): void {
    this.addTask(new RecurringTask(name, intervalMs, perform, this.log));
  }

  async start({ work = true }: { work?: boolean } = {}): Promise<void> {
    if (this.state !== 'new') throw new Error('job engine started twice');
    this.state = 'starting';
    const started = Date.now();
    const jobsConfig = this.config.jobs;
    const common = {
      schema: PGBOSS_SCHEMA,
      useListenNotify: work,
      // Recurring work is `every` (sub-minute intervals), not pg-boss cron (minute granularity).
      schedule: false,
      supervise: work,
      // Lease expiry runs in the supervise pass once its monitor claim is due: both at one interval.
      superviseIntervalSeconds: jobsConfig.superviseIntervalSeconds,
      monitorIntervalSeconds: jobsConfig.superviseIntervalSeconds,
      // Job flows (dependencies between jobs) are unused: their resolver would poll every 5 s.
      flowIntervalSeconds: 3600,
      // Background steps of pg-boss's own schema upgrades; nothing waits on them.
      bamIntervalSeconds: 600,
      registerInstance: false,
      openTelemetry: { enabled: false },
    };
    const boss =
      this.database.kind === 'pglite'
        ? new PgBoss({ ...common, db: fromPglite(this.database.pglite!), backend: 'pglite' })
        : new PgBoss({ ...common, connectionString: this.config.databaseUrl!, max: 4, application_name: 'dev-forge-distribution-jobs' });
    boss.on('error', (error) => this.log.error({ err: error }, 'job engine error'));
    boss.on('warning', (warning) => this.log.warn({ warning: warning.message, data: warning.data }, 'job engine warning'));
    this.boss = boss;
    try {
      await boss.start();
      for (const [queue, { options }] of this.queues) {
        const queueOptions = {
          notify: true,
          expireInSeconds: options.expireInSeconds ?? 15 * 60,
          retryLimit: options.retryLimit ?? 2,
          retryDelay: options.retryDelaySeconds ?? 0,
          deleteAfterSeconds: KEEP_COMPLETED_SECONDS,
        };
        // createQueue leaves an existing queue as it is; the registry is the source of truth.
        await boss.createQueue(queue, queueOptions);
        await boss.updateQueue(queue, queueOptions);
      }
      if (work && this.database.kind === 'pglite') await this.reclaimOrphans(boss);
      this.state = 'started';
      if (work) {
        this.working = true;
        this.leadership = this.database.kind === 'pglite' ? soleLeadership() : advisoryLockLeadership(this.config.databaseUrl!, this.log);
        for (const [queue, registered] of this.queues) {
          registered.workerId = await boss.work(
            queue,
            { batchSize: 1, pollingIntervalSeconds: jobsConfig.pollIntervalSeconds, notifyPollingIntervalSeconds: jobsConfig.pollIntervalSeconds },
            async ([job]) => this.handle(queue, registered, job!),
          );
        }
        this.unlistenDue = await this.database.listen(DUE_CHANNEL, (text) => this.onDueNotice(text));
        await Promise.all([...this.queues.keys()].map((queue) => this.scheduleNextWake(queue)));
        for (const task of this.tasks) task.start();
      }
      this.log.info({ queues: [...this.queues.keys()], recurring: this.tasks.map((task) => task.name), work, startupMs: Date.now() - started }, 'job engine started');
    } catch (error) {
      this.state = 'stopped';
      await boss.stop({ graceful: false }).catch(() => {});
      throw error;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const wasStarted = this.state === 'started' || this.state === 'starting';
    this.state = 'stopping';
    for (const { timer } of this.wakeTimers.values()) clearTimeout(timer);
    this.wakeTimers.clear();
    await this.unlistenDue?.().catch(() => {});
    // Recurring passes and handlers wind down together; each is bounded by STOP_GRACE_MS.
    await Promise.all([
      withDeadline(Promise.all(this.tasks.map((task) => task.stop())), STOP_GRACE_MS, () =>
        this.log.warn('recurring tasks still running at shutdown; leaving them'),
      ),
      wasStarted
        ? this.boss?.stop({ graceful: true, timeout: STOP_GRACE_MS, close: true }).catch((error: unknown) => this.log.error({ err: error }, 'job engine stop failed'))
        : undefined,
    ]);
    await this.leadership?.close().catch(() => {});
    this.state = 'stopped';
    if (wasStarted) this.log.info('job engine stopped');
  }

  /**
   * PGlite has one process per data directory (DATA_DIR lock), so a job still active at start
   * was held by a process that died (SIGKILL, crash, power loss): it goes back to the queue now
   * (as a failed attempt, retried while retries are left) instead of waiting out its lease.
   */
  private async reclaimOrphans(boss: PgBoss): Promise<void> {
    for (const queue of this.queues.keys()) {
      const { rows } = await (boss.getDb() as Db).executeSql(`select id from ${PGBOSS_SCHEMA}.job where name = $1 and state = 'active'`, [queue]);
      if (rows.length === 0) continue;
      const ids = rows.map((row: { id: string }) => row.id);
      await boss.fail(queue, ids, { message: 'the process running this job stopped without finishing it' });
      this.log.warn({ queue, jobIds: ids }, 'jobs left running by a process that died go back to the queue');
    }
  }

  private addTask(task: RecurringTask): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new Error(`recurring task ${task.name} added after the job engine stopped`);
    if (this.tasks.some((existing) => existing.name === task.name)) throw new Error(`recurring task ${task.name} is added twice`);
    this.tasks.push(task);
    if (this.working) task.start();
  }

  private async handle(queue: QueueName, registered: Registered, job: { id: string; data: unknown }): Promise<void> {
    const began = Date.now();
    try {
      await registered.handler(job.data as QueuePayloads[QueueName], { id: job.id });
      this.log.debug({ queue, jobId: job.id, ms: Date.now() - began }, 'job done');
    } catch (error) {
      this.log.error({ err: error, queue, jobId: job.id }, 'job failed; pg-boss retries it while retries are left');
      const delayMs = (registered.options.retryDelaySeconds ?? 0) * 1000;
      if (delayMs > 0) this.wakeAt(queue, Date.now() + delayMs);
      throw error;
    } finally {
      // One job per fetch: fetch again at once while there may be more, instead of waiting out
      // the backstop poll (pg-boss NOTIFYs once per insert, not once per job left).
      if (registered.workerId) this.boss?.notifyWorker(registered.workerId);
    }
  }

  private onDueNotice(text: string): void {
    try {
      const { queue, at } = JSON.parse(text) as { queue: QueueName; at: number };
      if (this.queues.has(queue) && Number.isFinite(at)) this.wakeAt(queue, at);
    } catch (error) {
      this.log.warn({ err: error }, 'unreadable due-time notification');
    }
  }

  /** Keeps one timer per queue, at the earliest due time known; it looks for the next when it fires. */
  private wakeAt(queue: QueueName, at: number): void {
    if (!this.working || this.state !== 'started') return;
    const current = this.wakeTimers.get(queue);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      this.wakeTimers.delete(queue);
      const workerId = this.queues.get(queue)?.workerId;
      if (workerId) this.boss?.notifyWorker(workerId);
      void this.scheduleNextWake(queue);
    }, Math.max(0, at - Date.now()) + WAKE_MARGIN_MS);
    timer.unref();
    this.wakeTimers.set(queue, { at, timer });
  }

  /** Finds the queue's next delayed job (sent before this instance heard of it) and wakes for it. */
  private async scheduleNextWake(queue: QueueName): Promise<void> {
    if (!this.boss || this.state !== 'started') return;
    try {
      const { rows } = await (this.boss.getDb() as Db).executeSql(
        `select (extract(epoch from min(start_after)) * 1000)::float8 as at from ${PGBOSS_SCHEMA}.job
          where name = $1 and state < 'active' and start_after > now()`,
        [queue],
      );
      const at = rows[0]?.at;
      if (at !== null && at !== undefined) this.wakeAt(queue, Number(at));
    } catch (error) {
      if (this.state === 'started') this.log.warn({ err: error, queue }, 'could not look up the next due job; the backstop poll will find it');
    }
  }
}

async function withDeadline(work: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([work.then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'timeout') onTimeout();
}
