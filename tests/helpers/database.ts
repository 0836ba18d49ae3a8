import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import postgres from 'postgres';

/** A database for one test server: a fresh PostgreSQL database when DATABASE_URL is set, else a PGlite dir. */
export interface TestDatabase {
  /** DATABASE_URL for the server, undefined for PGlite. */
  url: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

export const usingPostgres = Boolean(process.env.DATABASE_URL);

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-test-'));
    return { url: undefined, dataDir, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  }
  return createPostgresDatabase(adminUrl);
}

/** The machine's PostgreSQL server, for tests that need one even in the PGlite pass. */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh PostgreSQL database on the server of `adminUrl` (default: DATABASE_URL, else
 * DEFAULT_POSTGRES_URL), whichever backend this test run uses — for what only PostgreSQL
 * does, such as several server processes sharing one database. `drop()` removes it.
 */
export async function createPostgresDatabase(adminUrl = process.env.DATABASE_URL || DEFAULT_POSTGRES_URL): Promise<TestDatabase & { url: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-test-'));
  const name = `dfd_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    async drop() {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await sql.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
