import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import postgres from 'postgres';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Once per test run: compile to dist/ (tests that spawn real server processes run it), and,
 * when DATABASE_URL is set, check the PostgreSQL server answers before any test starts.
 */
export default async function setup(): Promise<void> {
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    // Tests that spawn server processes run dist/: a build that failed (type errors included,
    // even though tsc still emits) would have them test stale or broken code. Stop the run.
    const output = (error as { stdout?: Buffer }).stdout?.toString() || String(error);
    throw new Error(`building dist/ failed (tsc -p tsconfig.build.json); fix it before running the tests:\n${output}`);
  }
  const url = process.env.DATABASE_URL;
  if (url) {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql`select 1`;
    } catch (error) {
      throw new Error(`DATABASE_URL is set but the PostgreSQL server does not answer: ${(error as Error).message}`);
    } finally {
      await sql.end();
    }
  }
}
