import { and, desc, eq, exists, gt, inArray, isNotNull, isNull, lt, lte, ne, notExists, or, sql, sum, type SQL } from 'drizzle-orm';

import type { Database, DbExecutor } from '../../db/client.js';
import {
  distributions,
  rollbackPlans,
  rollbackStatus,
  rollbackStrategy,
  updatePackages,
  versionAdoptionDaily,
  versions,
  type RollbackStepRecord,
  type SafetyCheckRecord,
} from '../../db/schema.js';
import { newestFirstPage } from '../keysetPage.js';
import { ownerFilter, sameOwner, type Owner } from '../owner.js';
import type { Page } from '../pagination.js';

/**
 * The SQL of rollback plans. The service and the execution decide; this module knows how the
 * tables answer. Every function takes the handle it runs on (a transaction works too) and one
 * named-argument object. State changes are compare-and-set: they say which state they expect
 * and return null when the row was not in it.
 */

export const ROLLBACK_STATUSES = rollbackStatus.enumValues;
export type RollbackStatus = (typeof ROLLBACK_STATUSES)[number];
export const ROLLBACK_STRATEGIES = rollbackStrategy.enumValues;
export type RollbackStrategy = (typeof ROLLBACK_STRATEGIES)[number];
/** Plans that still may run: they block other plans of the same owner. */
export const OPEN_STATUSES = ['PENDING', 'APPROVED', 'EXECUTING'] as const satisfies readonly RollbackStatus[];

export type RollbackPlanRow = typeof rollbackPlans.$inferSelect;
export type NewRollbackPlanRow = typeof rollbackPlans.$inferInsert;
export type RollbackPlanRecord = RollbackPlanRow;
export type { RollbackStepRecord, SafetyCheckRecord };
export type VersionRow = typeof versions.$inferSelect;
export type PackageRow = typeof updatePackages.$inferSelect;

export async function insertPlan(db: DbExecutor, { values }: { values: NewRollbackPlanRow }): Promise<RollbackPlanRecord> {
  const [row] = await db.insert(rollbackPlans).values(values).returning();
  return row!;
}

export async function selectPlan(db: DbExecutor, { id }: { id: string }): Promise<RollbackPlanRecord | null> {
  const [row] = await db.select().from(rollbackPlans).where(eq(rollbackPlans.id, id));
  return row ?? null;
}

/** The plan row locked until the transaction ends (a step and its log entry commit together). */
export async function lockPlan(tx: DbExecutor, { id }: { id: string }): Promise<RollbackPlanRecord | null> {
  const [row] = await tx.select().from(rollbackPlans).where(eq(rollbackPlans.id, id)).for('update');
  return row ?? null;
}

export async function selectPlanPage(
  db: Database,
  { owner, status, limit, afterId }: { owner: Owner; status: RollbackStatus | null; limit: number; afterId: string | null },
): Promise<Page<RollbackPlanRecord>> {
  const where = and(ownerFilter(rollbackPlans, owner), status ? eq(rollbackPlans.status, status) : undefined);
  return newestFirstPage<RollbackPlanRecord>(db, { table: rollbackPlans, createdAt: rollbackPlans.createdAt, id: rollbackPlans.id }, where, limit, afterId);
}

/**
 * Compare-and-set: applies `set` only when the plan is in one of `from` (and, when given, at
 * `generation`). Returns the updated row, or null when it was not.
 */
export async function updatePlanIf(
  db: DbExecutor,
  { id, from, generation, set, where }: { id: string; from: readonly RollbackStatus[]; generation?: number; set: Partial<NewRollbackPlanRow>; where?: SQL },
): Promise<RollbackPlanRecord | null> {
  const [row] = await db
    .update(rollbackPlans)
    .set({ ...set, updatedAt: new Date() })
    .where(
      and(
        eq(rollbackPlans.id, id),
        inArray(rollbackPlans.status, [...from]),
        generation === undefined ? undefined : eq(rollbackPlans.executionGeneration, generation),
        where,
      ),
    )
    .returning();
  return row ?? null;
}

/** Writes columns without a state condition (callers hold the row lock). */
export async function updatePlan(db: DbExecutor, { id, set }: { id: string; set: Partial<NewRollbackPlanRow> }): Promise<RollbackPlanRecord> {
  const [row] = await db
    .update(rollbackPlans)
    .set({ ...set, updatedAt: new Date() })
    .where(eq(rollbackPlans.id, id))
    .returning();
  return row!;
}

// ---------------------------------------------------------------- what the safety checks read

/** The owner's version with exactly this precedence (build metadata ignored), or null. */
export async function selectVersionByPrecedence(db: DbExecutor, { owner, sortKey }: { owner: Owner; sortKey: string }): Promise<VersionRow | null> {
  const [row] = await db
    .select()
    .from(versions)
    .where(and(sameOwner(versions, owner), eq(versions.sortKey, sortKey)));
  return row ?? null;
}

/** Versions of the owner with precedence in (fromSortKey, toSortKey]: what a rollback undoes. */
export async function selectVersionsBetween(
  db: DbExecutor,
  { owner, fromSortKey, toSortKey }: { owner: Owner; fromSortKey: string; toSortKey: string },
): Promise<VersionRow[]> {
  return db
    .select()
    .from(versions)
    .where(and(sameOwner(versions, owner), gt(versions.sortKey, fromSortKey), lte(versions.sortKey, toSortKey)))
    .orderBy(versions.sortKey);
}

/** The full (non-delta) package of a version, or null. */
export async function selectFullPackage(db: DbExecutor, { versionId }: { versionId: string }): Promise<PackageRow | null> {
  const [row] = await db
    .select()
    .from(updatePackages)
    .where(and(eq(updatePackages.toVersionId, versionId), eq(updatePackages.isDelta, false)));
  return row ?? null;
}

/** Distributions of packages that take clients to this version, in the given statuses. */
export async function selectVersionDistributions(
  db: DbExecutor,
  { versionId, statuses }: { versionId: string; statuses: readonly (typeof distributions.$inferSelect)['status'][] },
): Promise<(typeof distributions.$inferSelect)[]> {
  const rows = await db
    .select({ distribution: distributions })
    .from(distributions)
    .innerJoin(updatePackages, eq(updatePackages.id, distributions.packageId))
    .where(and(eq(updatePackages.toVersionId, versionId), inArray(distributions.status, [...statuses])));
  return rows.map((row) => row.distribution);
}

/** Other open plans of the same owner (the one being checked excluded). */
export async function selectOpenPlans(db: DbExecutor, { owner, exceptId }: { owner: Owner; exceptId: string | null }): Promise<RollbackPlanRecord[]> {
  return db
    .select()
    .from(rollbackPlans)
    .where(and(sameOwner(rollbackPlans, owner), inArray(rollbackPlans.status, [...OPEN_STATUSES]), exceptId ? ne(rollbackPlans.id, exceptId) : undefined));
}

/**
 * Clients known to run a version: installs reported for it, less those reported rolled back
 * (summed over the batched daily counters; never below zero).
 */
export async function selectInstalledClients(db: DbExecutor, { versionId }: { versionId: string }): Promise<number> {
  const [row] = await db
    .select({ installed: sum(versionAdoptionDaily.installed), rolledBack: sum(versionAdoptionDaily.rolledBack) })
    .from(versionAdoptionDaily)
    .where(eq(versionAdoptionDaily.versionId, versionId));
  return Math.max(0, Number(row?.installed ?? 0) - Number(row?.rolledBack ?? 0));
}


// ---------------------------------------------------------------- what the health gate reads

/**
 * The version a health-gate rollback goes back to: the owner's highest version below
 * `belowSortKey` that is not deprecated, has a full package (a delta reaches one base only), and
 * never failed itself (no distribution of it HALTED by a rollback or tripped by its own gate).
 * `stableOnly` leaves prereleases out (a stable release is never rolled back to a prerelease).
 * Null when there is none.
 */
export async function selectRollbackTarget(
  db: DbExecutor,
  { owner, belowSortKey, stableOnly }: { owner: Owner; belowSortKey: string; stableOnly: boolean },
): Promise<VersionRow | null> {
  const failedBefore = db
    .select({ one: sql`1` })
    .from(updatePackages)
    .innerJoin(distributions, eq(distributions.packageId, updatePackages.id))
    .where(and(eq(updatePackages.toVersionId, versions.id), or(eq(distributions.status, 'HALTED'), isNotNull(distributions.healthTrippedAt))));
  const fullPackage = db
    .select({ one: sql`1` })
    .from(updatePackages)
    .where(and(eq(updatePackages.toVersionId, versions.id), eq(updatePackages.isDelta, false)));
  const [row] = await db
    .select()
    .from(versions)
    .where(
      and(
        sameOwner(versions, owner),
        lt(versions.sortKey, belowSortKey),
        eq(versions.isDeprecated, false),
        stableOnly ? isNull(versions.prerelease) : undefined,
        exists(fullPackage),
        notExists(failedBefore),
      ),
    )
    .orderBy(desc(versions.sortKey))
    .limit(1);
  return row ?? null;
}

/** An open plan of the owner rolling back from this version (the gate links it instead of creating another), or null. */
export async function selectOpenPlanFrom(db: DbExecutor, { owner, fromVersionId }: { owner: Owner; fromVersionId: string }): Promise<RollbackPlanRecord | null> {
  const [row] = await db
    .select()
    .from(rollbackPlans)
    .where(and(sameOwner(rollbackPlans, owner), eq(rollbackPlans.fromVersionId, fromVersionId), inArray(rollbackPlans.status, [...OPEN_STATUSES])))
    .orderBy(desc(rollbackPlans.createdAt))
    .limit(1);
  return row ?? null;
}
