import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The subscriptions `npm run bench:fanout` can measure (BENCH_SUBSCRIPTION=<name>). Each one
 * says what every subscriber sends and which mutation publishes to all of them; add one per
 * live field.
 */

export interface ScenarioContext {
  /** `http://host:port` of the server under test. */
  url: string;
  adminToken: string;
  userToken: string;
  /** The server's UPLOAD_DIR (packages are stored from files placed here). */
  uploadDir: string;
  /** How many times `publish` will be called on this server (rounds 0…publishRounds-1). */
  publishRounds: number;
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
const OFFER_FIELDS = 'packageId distributionId fromVersion toVersion packageUrl packageSize checksum isDelta deltaFromVersion deltaFormat targetChecksum mandatory isRollback releaseNotes';
const OFFERS_EXTENSION_ID = 'bench.offers';
/** Round r takes 1.0.0 → 1.(r+1).0 live: every round's target is above all earlier ones. */
const offerTarget = (round: number) => `1.${round + 1}.0`;
/** Package ids per round, filled by prepare (one server per measurement, prepared once). */
const offerPackages: string[] = [];

async function run<T>(context: ScenarioContext, mutation: string, input: Record<string, unknown>): Promise<T> {
  return context.graphql<T>(mutation, { input });
}

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
  /**
   * One distribution going live. Every subscriber runs 1.0.0 under its own clientId; prepare
   * creates the versions and a full package 1.0.0 → target for every round (nothing is live, so
   * no subscriber gets an initial offer), and each round only distributes the next package
   * IMMEDIATE: a target above everything told before, so each subscriber gets exactly one offer.
   */
  updateAvailable: {
    query: `subscription UpdateAvailable($extensionId: ID, $currentVersion: String!, $clientId: String) { updateAvailable(extensionId: $extensionId, currentVersion: $currentVersion, clientId: $clientId) { ${OFFER_FIELDS} } }`,
    async prepare(context) {
      offerPackages.length = 0;
      fs.mkdirSync(context.uploadDir, { recursive: true });
      const createVersion = 'mutation Create($input: CreateVersionInput!) { createVersion(input: $input) { id } }';
      const createPackage = 'mutation Package($input: CreateUpdatePackageInput!) { createUpdatePackage(input: $input) { id } }';
      await run(context, createVersion, { version: '1.0.0', extensionId: OFFERS_EXTENSION_ID });
      for (let round = 0; round < context.publishRounds; round += 1) {
        const toVersion = offerTarget(round);
        await run(context, createVersion, { version: toVersion, extensionId: OFFERS_EXTENSION_ID, releaseNotes: `Round ${round} of the fan-out benchmark` });
        const file = `bench-offers-${toVersion}.bin`;
        fs.writeFileSync(path.join(context.uploadDir, file), crypto.randomBytes(4096));
        const { createUpdatePackage } = await run<{ createUpdatePackage: { id: string } }>(context, createPackage, {
          extensionId: OFFERS_EXTENSION_ID,
          fromVersion: '1.0.0',
          toVersion,
          isDelta: false,
          packagePath: file,
          releaseNotes: `Full package 1.0.0 → ${toVersion}.`,
        });
        offerPackages.push(createUpdatePackage.id);
      }
      return { extensionId: OFFERS_EXTENSION_ID, currentVersion: '1.0.0', clientId: 'client-__INDEX__' };
    },
    async publish(context, round) {
      const packageId = offerPackages[round];
      if (!packageId) throw new Error(`updateAvailable: round ${round} has no prepared package (prepared ${offerPackages.length})`);
      await run(context, 'mutation Distribute($input: DistributeUpdateInput!) { distributeUpdate(input: $input) { id } }', { packageId, strategy: 'IMMEDIATE' });
    },
  },
};
