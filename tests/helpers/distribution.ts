import {
  CreateUpdatePackageDocument,
  CreateVersionDocument,
  DistributeUpdateDocument,
  DistributionDocument,
  type DistributeUpdateMutationVariables,
} from '../generated/graphql.js';
import type { HttpClient } from './client.js';
import { putInUploads, randomBytes } from './cdnFiles.js';
import { uniqueId, type TestServer } from './server.js';

/**
 * Fluent-ish seeding for distribution tests: an owner with versions, packages from bytes put in
 * UPLOAD_DIR, distributions; and polling a distribution until it reaches a state.
 */

export async function createVersions(admin: HttpClient, extensionId: string, ...versions: string[]) {
  const created: Record<string, string> = {};
  for (const version of versions) {
    created[version] = (await admin.data(CreateVersionDocument, { input: { version, extensionId } })).createVersion.id;
  }
  return created;
}

/** A full package (or a delta with `isDelta`) from fresh random bytes written into UPLOAD_DIR. */
export async function createPackage(
  server: TestServer,
  admin: HttpClient,
  input: { extensionId: string; fromVersion: string; toVersion: string; isDelta?: boolean; size?: number },
) {
  const bytes = randomBytes(input.size ?? 2048);
  const packagePath = putInUploads(server, `pkg/${uniqueId('p')}-${input.toVersion}.bin`, bytes);
  const { createUpdatePackage } = await admin.data(CreateUpdatePackageDocument, {
    input: { extensionId: input.extensionId, fromVersion: input.fromVersion, toVersion: input.toVersion, isDelta: input.isDelta ?? false, packagePath },
  });
  return { pkg: createUpdatePackage, bytes, packagePath };
}

/** An owner with versions 1.0.0 and 1.1.0 and a full package to 1.1.0. */
export async function ownerWithPackage(server: TestServer, admin: HttpClient) {
  const extensionId = uniqueId('dist');
  const versions = await createVersions(admin, extensionId, '1.0.0', '1.1.0');
  const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
  return { extensionId, versions, pkg };
}

export async function distribute(admin: HttpClient, input: DistributeUpdateMutationVariables['input']) {
  return (await admin.data(DistributeUpdateDocument, { input })).distributeUpdate;
}

/** Polls `distribution(id)` until `done` holds (default deadline 20 s); resolves the last read. */
export async function waitForDistribution(
  admin: HttpClient,
  id: string,
  done: (d: NonNullable<Awaited<ReturnType<typeof readDistribution>>>) => boolean,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last = await readDistribution(admin, id);
  while (!(last && done(last))) {
    if (Date.now() > deadline) throw new Error(`distribution ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await readDistribution(admin, id);
  }
  return last;
}

export async function readDistribution(admin: HttpClient, id: string) {
  return (await admin.data(DistributionDocument, { id })).distribution;
}

/**
 * Records the SQL text of every statement the in-process server prepares through Drizzle while
 * `run` runs (transactions included: their sessions share the prototype patched here).
 */
export async function recordStatements<T>(server: TestServer, run: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const session = (server.app.runtime.db as unknown as { session: object }).session;
  const proto = Object.getPrototypeOf(session) as { prepareQuery: (...args: unknown[]) => unknown };
  const original = proto.prepareQuery;
  const statements: string[] = [];
  proto.prepareQuery = function (this: unknown, ...args: unknown[]) {
    statements.push((args[0] as { sql?: string })?.sql ?? '');
    return original.apply(this, args);
  };
  try {
    return { result: await run(), statements };
  } finally {
    proto.prepareQuery = original;
  }
}
