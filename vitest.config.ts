import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One copy of graphql: vite would otherwise load the ESM build next to the CJS one
    // that type-graphql/apollo pull in ("Cannot use GraphQLSchema from another realm").
    alias: { graphql: require.resolve('graphql') },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each test file starts its own server (and database); two cores, so two at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
