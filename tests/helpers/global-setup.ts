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
    // tsc still emits on type errors; `npm test` type-checks before vitest runs, so here the
    // output is what matters. Say so loudly rather than fail every test.
    process.stderr.write(`warning: tsc reported errors while building dist/:\n${(error as { stdout?: Buffer }).stdout?.toString() ?? error}\n`);
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
