import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * The tests StrykerJS runs against each mutant (tests/mutation/stryker.config.mjs sets MUTATION_TESTS to the
 * test files of the module group being mutated). Unit tests and the few database tests that call
 * one rule module directly; no global setup (nothing here spawns a built server).
 */
const tests = process.env.MUTATION_TESTS?.split(',').filter(Boolean);

export default defineConfig({
  // Paths below are the repository's, wherever the run starts.
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
  resolve: {
    alias: { graphql: require.resolve('graphql') },
  },
  test: {
    include: tests?.length ? tests : ['tests/unit/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
