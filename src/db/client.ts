import fs from 'node:fs';
import path from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

import { packageRoot } from '../paths.js';
import { lockDataDir, makeDataDirPrivate, type DataDirLock } from './dataDir.js';
import * as schema from './schema.js';

/** Drizzle over either backend; services see only this. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** The Drizzle database or a transaction of it: anything a write can run on. */
export type DbExecutor = Database | Parameters<Parameters<Database['transaction']>[0]>[0];

/** Receives the payload string of one notification on a channel. */
export type NotificationHandler = (payload: string) => void;

export interface DatabaseHandle {
  db: Database;
  kind: 'pglite' | 'postgres';
  /** The embedded database itself (PGlite only): the job engine runs pg-boss on this same instance. */
  pglite?: PGlite;
  /**
   * LISTEN on a channel; resolves once listening. The returned function stops listening.
   * `onRelisten` runs each time LISTEN is re-established after its connection dropped
   * (notifications sent meanwhile are lost); PGlite listens in-process and never drops.
   */
  listen(channel: string, onNotify: NotificationHandler, onRelisten?: () => void): Promise<() => Promise<void>>;
  /** NOTIFY outside any transaction (delivered at once). */
  notify(channel: string, payload: string): Promise<void>;
  /** Applies pending drizzle-kit migrations; safe when several instances start at once. */
  migrate(): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Where drizzle-kit writes migrations; resolved from the package root so `dist/` and `src/` agree. */
export const MIGRATIONS_FOLDER = path.join(packageRoot, 'drizzle');

// Any fixed 64-bit number: serialises migrations of several instances starting at once.
const MIGRATION_LOCK_ID = 7_241_019_553;

export interface OpenDatabaseOptions {
  databaseUrl?: string;
  /** Directory of the embedded database when `databaseUrl` is unset. `memory://` keeps it in memory. */
  dataDir: string;
  /** Logs each SQL statement (tests count statements with it). */
  onQuery?: (query: string) => void;
}

/**
 * Opens the configured database. Embedded (no `databaseUrl`): takes the exclusive lock on
 * `dataDir` first and refuses at once (DataDirLockedError, naming the holder's PID) when another
 * process has it — every opener (server, `npm run db:migrate`, scripts, the job engine) goes
 * through here. Either way `dataDir` is made private to this user (0700/0600).
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl && !options.dataDir.startsWith('memory://')) makeDataDirPrivate(options.dataDir);
  const logger = options.onQuery ? { logQuery: (query: string) => options.onQuery!(query) } : undefined;
  return options.databaseUrl ? openPostgres(options.databaseUrl, logger) : openPglite(options.dataDir, logger);
}

type QueryLogger = { logQuery(query: string, params: unknown[]): void } | undefined;

async function openPostgres(url: string, logger: QueryLogger): Promise<DatabaseHandle> {
  const client = postgres(url, {
    max: 10,
    onnotice: () => {},
    connection: { application_name: 'dev-forge-distribution' },
  });
  const db = drizzlePostgres(client, { schema, logger }) as unknown as Database;
  return {
    db,
    kind: 'postgres',
    async listen(channel, onNotify, onRelisten) {
      // postgres.js keeps LISTEN on a connection of its own and, when that connection closes,
      // reconnects and listens again by itself, calling `onlisten` each time: every call after
      // the first is a reconnect.
      let listens = 0;
      const subscription = await client.listen(channel, onNotify, () => {
        listens += 1;
        if (listens > 1) onRelisten?.();
      });
      return () => subscription.unlisten();
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    async migrate() {
      const lockConnection = await client.reserve();
      try {
        await lockConnection`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
        await migratePostgres(drizzlePostgres(client), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await lockConnection`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`.catch(() => {});
        lockConnection.release();
      }
    },
    async ping() {
      await client`select 1`;
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite(dataDir: string, logger: QueryLogger): Promise<DatabaseHandle> {
  let location = dataDir;
  let lock: DataDirLock | undefined;
  if (!dataDir.startsWith('memory://')) {
    // Before PGlite touches a file: one process per DATA_DIR (a second one would lose writes), all of it private.
    makeDataDirPrivate(dataDir);
    lock = await lockDataDir(dataDir, (error) => {
      process.stderr.write(`fatal: lost the lock on DATA_DIR ${dataDir} (${error.message}); stopping before another process's writes and ours mix\n`);
      process.exit(1);
    });
    location = path.join(dataDir, 'pglite');
    fs.mkdirSync(location, { recursive: true, mode: 0o700 });
  }
  let client: PGlite;
  try {
    client = await PGlite.create(location);
    // PGlite unpacks its initial database with explicit 0666 modes, past the umask: tighten them.
    if (lock) makeDataDirPrivate(location);
  } catch (error) {
    await lock?.release();
    throw error;
  }
  const db = drizzlePglite(client, { schema, logger }) as unknown as Database;
  return {
    db,
    kind: 'pglite',
    pglite: client,
    async listen(channel, onNotify) {
      const unsubscribe = await client.listen(channel, onNotify);
      return () => unsubscribe();
    },
    async notify(channel, payload) {
      await client.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async migrate() {
      await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_FOLDER });
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    async close() {
      try {
        if (!client.closed) await client.close();
      } finally {
        await lock?.release();
      }
    },
  };
}
