// @ts-check
/**
 * Mutation testing of the modules where the rules live (issue 11): `npm run test:mutation`
 * (tests/mutation/run.mjs; not part of `npm test`). StrykerJS changes one thing at a time in a
 * module (a comparison, a condition, a string) and runs that module's tests against each change;
 * a change no test notices ("survived") is a rule nothing checks.
 *
 * The modules run in groups, each with only the tests that exercise it: a mutant of a
 * module-level constant ("static" mutant) re-runs every test of its run, and the database tests
 * of one module should not be paid for by the others. STRYKER_GROUP picks the group (the driver
 * sets it); reports land in reports/mutation/<group>/. Incremental: reports/mutation/<group>/
 * incremental.json remembers results, so a re-run tests only mutants whose code or covering
 * tests changed (`npm run test:mutation -- --force` for a full run).
 */

/** @type {Record<string, { mutate: string[]; tests: string[] }>} */
export const GROUPS = {
  permissions: {
    mutate: ['src/graphql/permissions.ts'],
    tests: ['tests/unit/permissions.test.ts'],
  },
  semverOrder: {
    mutate: ['src/services/versions/semverOrder.ts'],
    tests: ['tests/unit/semver-order.test.ts'],
  },
  cdnRules: {
    // decideRange and etagMatches: the pure rules of cdnRoutes.ts (the rest is the HTTP handler).
    mutate: ['src/services/cdn/rules.ts', 'src/server/cdnRoutes.ts:39-62'],
    tests: ['tests/unit/cdn-rules.test.ts', 'tests/unit/cdn-input-rules.test.ts'],
  },
  uploadPaths: {
    mutate: ['src/services/cdn/uploadPaths.ts'],
    tests: ['tests/unit/upload-paths.test.ts', 'tests/unit/cdn-rules.test.ts'],
  },
  downloadStats: {
    mutate: ['src/services/cdn/downloadStats.ts'],
    tests: ['tests/distribution/download-stats.test.ts'],
  },
  rollout: {
    mutate: ['src/services/distribution/bucketing.ts', 'src/services/distribution/rules.ts'],
    tests: ['tests/unit/bucketing.test.ts', 'tests/unit/distribution-rules.test.ts', 'tests/unit/distribution-input-rules.test.ts'],
  },
  updateCheck: {
    mutate: ['src/services/distribution/updateCheck.ts'],
    tests: ['tests/unit/update-check-decision.test.ts'],
  },
  healthGate: {
    mutate: ['src/services/distribution/healthGate.ts'],
    tests: ['tests/unit/health-gate.test.ts'],
  },
  deltaContainer: {
    // The delta container's parsing and checks (what refuses a corrupted, truncated or wrong-base delta).
    mutate: ['src/delta/container.ts', 'src/delta/limits.ts'],
    tests: ['tests/unit/delta-container.test.ts', 'tests/unit/delta-safety.test.ts', 'tests/unit/delta-formats.test.ts'],
  },
  deltaFormats: {
    // The archive formats: how zip entries and gzip streams are read, diffed and rebuilt byte for byte.
    mutate: ['src/delta/zip.ts', 'src/delta/gzip.ts'],
    tests: ['tests/unit/delta-formats.test.ts', 'tests/unit/delta-safety.test.ts', 'tests/unit/delta-gzip.test.ts', 'tests/unit/delta-zip.test.ts'],
  },
  rollbackChecks: {
    mutate: ['src/services/rollback/checks.ts', 'src/services/rollback/estimate.ts'],
    tests: ['tests/distribution/rollback-checks.test.ts', 'tests/unit/rollback-estimate.test.ts'],
  },
};

const name = process.env.STRYKER_GROUP ?? 'permissions';
const group = GROUPS[name];
if (!group) throw new Error(`STRYKER_GROUP=${name} is not one of ${Object.keys(GROUPS).join(', ')}`);
// tests/mutation/vitest.config.ts reads the test files from here (Stryker's test runners inherit the environment).
process.env.MUTATION_TESTS = group.tests.join(',');

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'tests/mutation/vitest.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: group.mutate,
  // Two cores, shared: two test runners at most.
  concurrency: 2,
  incremental: true,
  incrementalFile: `reports/mutation/${name}/incremental.json`,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${name}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
