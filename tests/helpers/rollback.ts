import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { and, eq } from 'drizzle-orm';

import type { LocalCdnProvider } from '../../src/cdn/local.js';
import { cdnFiles, distributions, updatePackages } from '../../src/db/schema.js';
import { CreateUpdatePackageDocument, CreateVersionDocument, DistributeUpdateDocument, RollbackPlanDocument, type ChangelogEntryInput, type RollbackPlanFieldsFragment } from '../generated/graphql.js';
import type { HttpClient } from './client.js';
import type { TestServer } from './server.js';

/**
 * A release history to roll back, built through the API: versions, one full package per version
 * (real bytes stored through the CDN provider) and an IMMEDIATE distribution per package.
 */
/** The release every seeded package upgrades from (never distributed). */
export const BASE_VERSION = '0.0.1';

export interface SeededVersion {
  version: string;
  versionId: string;
  packageId: string;
  distributionId: string | null;
  cdnFileId: string;
  storageKey: string;
  bytes: Buffer;
}

export interface SeedOptions {
  changelog?: Record<string, ChangelogEntryInput[]>;
  /** Versions given a package but no live distribution. */
  notLive?: string[];
  /** Versions without any package. */
  noPackage?: string[];
}

export async function seedReleases(server: TestServer, extensionId: string, list: string[], options: SeedOptions = {}): Promise<Record<string, SeededVersion>> {
  const admin = await server.client('admin');
  const { runtime } = server.app;
  const seeded: Record<string, SeededVersion> = {};
  // A full package names a lower version it upgrades from: a base release below all of them.
  await admin.data(CreateVersionDocument, { input: { version: BASE_VERSION, extensionId } });
  for (const version of list) {
    const created = await admin.data(CreateVersionDocument, { input: { version, extensionId, changelog: options.changelog?.[version] ?? [{ type: 'ADDED', description: `Release ${version}` }] } });
    const versionId = created.createVersion.id;
    if (options.noPackage?.includes(version)) {
      seeded[version] = { version, versionId, packageId: '', distributionId: null, cdnFileId: '', storageKey: '', bytes: Buffer.alloc(0) };
      continue;
    }
    const bytes = crypto.randomBytes(64 * 1024 + version.length);
    const packagePath = `${extensionId}-${version}.zip`;
    await fs.mkdir(runtime.config.uploadDir, { recursive: true });
    await fs.writeFile(path.join(runtime.config.uploadDir, packagePath), bytes);
    const { createUpdatePackage: pkg } = await admin.data(CreateUpdatePackageDocument, { input: { extensionId, fromVersion: BASE_VERSION, toVersion: version, isDelta: false, packagePath } });
    const [row] = await runtime.db
      .select({ cdnFileId: updatePackages.cdnFileId, storageKey: cdnFiles.storageKey })
      .from(updatePackages)
      .innerJoin(cdnFiles, eq(cdnFiles.id, updatePackages.cdnFileId))
      .where(eq(updatePackages.id, pkg.id));
    const file = { id: row!.cdnFileId!, storageKey: row!.storageKey };
    let distributionId: string | null = null;
    if (!options.notLive?.includes(version)) {
      distributionId = (await admin.data(DistributeUpdateDocument, { input: { packageId: pkg.id, strategy: 'IMMEDIATE' } })).distributeUpdate.id;
    }
    seeded[version] = { version, versionId, packageId: pkg.id, distributionId, cdnFileId: file.id, storageKey: file.storageKey, bytes };
  }
  return seeded;
}

/** Where the local provider keeps a stored object's bytes (a test damages or restores them there). */
export async function storedObjectPath(server: TestServer, storageKey: string, region = 'default'): Promise<string> {
  const provider = (await server.app.services.cdn.provider()) as LocalCdnProvider;
  return path.join(provider.regionDirectory(region), 'keys', ...storageKey.split('/'));
}

/** Flips bytes of a stored object in place (same size: only the hash can tell). */
export async function corruptStoredObject(server: TestServer, seeded: SeededVersion): Promise<void> {
  const file = await storedObjectPath(server, seeded.storageKey);
  const damaged = Buffer.from(seeded.bytes);
  damaged[100] = damaged[100]! ^ 0xff;
  await fs.writeFile(file, damaged);
}

export async function restoreStoredObject(server: TestServer, seeded: SeededVersion): Promise<void> {
  await fs.writeFile(await storedObjectPath(server, seeded.storageKey), seeded.bytes);
}

/** Polls the plan over GraphQL until `done` holds (or fails after `timeoutMs`). */
export async function waitForPlan(
  client: HttpClient,
  id: string,
  done: (plan: RollbackPlanFieldsFragment) => boolean,
  timeoutMs = 20_000,
): Promise<RollbackPlanFieldsFragment> {
  const deadline = Date.now() + timeoutMs;
  let last: RollbackPlanFieldsFragment | null | undefined;
  while (Date.now() < deadline) {
    try {
      last = (await client.data(RollbackPlanDocument, { id })).rollbackPlan;
      if (last && done(last)) return last;
    } catch {
      // a server restarting: try again
    }
    await sleep(100);
  }
  throw new Error(`plan ${id} did not reach the expected state within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** The distributions of a package, read with a server's database handle. */
export async function distributionsOf(server: TestServer, packageId: string) {
  return server.app.runtime.db.select().from(distributions).where(eq(distributions.packageId, packageId));
}

export async function rollbackDistributions(server: TestServer, packageId: string) {
  return server.app.runtime.db
    .select()
    .from(distributions)
    .where(and(eq(distributions.packageId, packageId), eq(distributions.isRollback, true)));
}
