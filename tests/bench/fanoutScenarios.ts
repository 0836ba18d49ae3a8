/**
 * The subscriptions `npm run bench:fanout` can measure (BENCH_SUBSCRIPTION=<name>). Each one
 * says what every subscriber sends and which mutation publishes to all of them; add one per
 * live field (e.g. `updateAvailable`: prepare a package and a distribution, subscribe with
 * per-client variables, publish by taking it live).
 */

export interface ScenarioContext {
  /** `http://host:port` of the server under test. */
  url: string;
  adminToken: string;
  userToken: string;
  /** Runs one GraphQL operation over HTTP as `token` (admin by default); throws on errors. */
  graphql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<T>;
}

export interface FanoutScenario {
  /** The subscription document every subscriber sends. */
  query: string;
  /**
   * Seeds what the subscription needs and returns its variables. The text `__INDEX__` inside
   * a string value is replaced by the subscriber's number (0…N-1), e.g. a client id each.
   */
  prepare(context: ScenarioContext): Promise<Record<string, unknown>>;
  /**
   * The publishing mutation of round `round` (0, 1, …; never repeated within one server);
   * resolves when its response arrived. Every subscriber must receive exactly one message.
   */
  publish(context: ScenarioContext, round: number): Promise<void>;
}

const VERSION_FIELDS = 'id version major minor patch prerelease build extensionId productId changelog { type description scope breaking } releaseNotes isStable isDeprecated deprecationReason releasedAt releasedBy metadata';
const EXTENSION_ID = 'bench.fanout';

export const scenarios: Record<string, FanoutScenario> = {
  versionPublished: {
    query: `subscription VersionPublished($extensionId: ID) { versionPublished(extensionId: $extensionId) { ${VERSION_FIELDS} } }`,
    async prepare() {
      return { extensionId: EXTENSION_ID };
    },
    async publish(context, round) {
      await context.graphql(`mutation Create($input: CreateVersionInput!) { createVersion(input: $input) { id } }`, {
        input: {
          version: `1.${round}.0`,
          extensionId: EXTENSION_ID,
          changelog: [{ type: 'ADDED', description: `Round ${round} of the fan-out benchmark` }],
          releaseNotes: 'Benchmark release: one createVersion, every subscriber told.',
        },
      });
    },
  },
};
