import { and, desc, eq, gt, inArray, lt, max, not, sql } from 'drizzle-orm';

import type { DbExecutor } from '../../db/client.js';
import { deltaGenerations, deltaGenerationStatus, updatePackages, versionAdoptionDaily, versions } from '../../db/schema.js';
import { sameOwner, type Owner } from '../owner.js';

/** SQL of delta generations; the rules live in service.ts. */

export type DeltaGenerationRecord = typeof deltaGenerations.$inferSelect;
export type DeltaGenerationStatus = (typeof deltaGenerationStatus.enumValues)[number];
export const DELTA_GENERATION_STATUSES = deltaGenerationStatus.enumValues;
const ACTIVE: DeltaGenerationStatus[] = ['PENDING', 'RUNNING'];

export async function selectGeneration(db: DbExecutor, id: string): Promise<DeltaGenerationRecord | null> {
  const [row] = await db.select().from(deltaGenerations).where(eq(deltaGenerations.id, id));
  return row ?? null;
}

/** The pair's PENDING or RUNNING generation (at most one, by a unique index). */
export async function selectActiveGeneration(db: DbExecutor, { fromVersionId, toVersionId }: { fromVersionId: string; toVersionId: string }): Promise<DeltaGenerationRecord | null> {
  const [row] = await db
    .select()
    .from(deltaGenerations)
    .where(and(eq(deltaGenerations.fromVersionId, fromVersionId), eq(deltaGenerations.toVersionId, toVersionId), inArray(deltaGenerations.status, ACTIVE)));
  return row ?? null;
}

export async function nextAttempt(db: DbExecutor, { fromVersionId, toVersionId }: { fromVersionId: string; toVersionId: string }): Promise<number> {
  const [row] = await db
    .select({ last: max(deltaGenerations.attempt) })
    .from(deltaGenerations)
    .where(and(eq(deltaGenerations.fromVersionId, fromVersionId), eq(deltaGenerations.toVersionId, toVersionId)));
  return (row?.last ?? 0) + 1;
}

export async function insertGeneration(db: DbExecutor, values: typeof deltaGenerations.$inferInsert): Promise<DeltaGenerationRecord> {
  const [row] = await db.insert(deltaGenerations).values(values).returning();
  return row!;
}

/** Compare-and-set: updates only while the generation is in one of `from`; null otherwise. */
export async function updateGenerationIf(
  db: DbExecutor,
  { id, from, set }: { id: string; from: DeltaGenerationStatus[]; set: Partial<typeof deltaGenerations.$inferInsert> },
): Promise<DeltaGenerationRecord | null> {
  const [row] = await db
    .update(deltaGenerations)
    .set({ ...set, updatedAt: sql`now()` })
    .where(and(eq(deltaGenerations.id, id), inArray(deltaGenerations.status, from)))
    .returning();
  return row ?? null;
}

/** Full (not delta) packages of these target versions. */
export async function selectFullPackages(db: DbExecutor, versionIds: string[]) {
  return db
    .select()
    .from(updatePackages)
    .where(and(inArray(updatePackages.toVersionId, versionIds), not(updatePackages.isDelta)));
}

export async function selectDeltaPackage(db: DbExecutor, { fromVersionId, toVersionId }: { fromVersionId: string; toVersionId: string }) {
  const [row] = await db
    .select()
    .from(updatePackages)
    .where(and(eq(updatePackages.fromVersionId, fromVersionId), eq(updatePackages.toVersionId, toVersionId), eq(updatePackages.isDelta, true)));
  return row ?? null;
}

/**
 * The owner's versions below `belowSortKey` that have a full package and at least one reported
 * install, most installed first (ties: higher version first), at most `limit`.
 */
export async function selectMostInstalledBases(db: DbExecutor, { owner, belowSortKey, limit }: { owner: Owner; belowSortKey: string; limit: number }) {
  const installed = sql<number>`sum(${versionAdoptionDaily.installed})::bigint`;
  const rows = await db
    .select({ version: versions.version, installed })
    .from(versions)
    .innerJoin(versionAdoptionDaily, eq(versionAdoptionDaily.versionId, versions.id))
    .innerJoin(updatePackages, and(eq(updatePackages.toVersionId, versions.id), not(updatePackages.isDelta)))
    .where(and(sameOwner(versions, owner), lt(versions.sortKey, belowSortKey)))
    .groupBy(versions.id, versions.version, versions.sortKey)
    .having(gt(installed, 0))
    .orderBy(desc(installed), desc(versions.sortKey))
    .limit(limit);
  return rows.map((row) => ({ version: row.version, installed: Number(row.installed) }));
}
