import { and, asc, count, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';

import type { DbExecutor } from '../../db/client.js';
import {
  cdnFiles,
  distributionDailyStats,
  distributionStatus,
  distributionStrategy,
  distributions,
  updatePackages,
  updateReportStatus,
  versionAdoptionDaily,
  versions,
  type RampStepRecord,
} from '../../db/schema.js';
import { ownerFilter, sameOwner, type Owner } from '../owner.js';

/**
 * The distribution data model as the services see it: row types, the enums (derived once from
 * the pgEnums, for TypeScript and GraphQL alike), mappers from rows to records, and the SQL.
 * The update-check side reads the same tables through these types.
 */

export type UpdatePackageRow = typeof updatePackages.$inferSelect;
export type DistributionRow = typeof distributions.$inferSelect;

export const DISTRIBUTION_STRATEGIES = distributionStrategy.enumValues;
export type DistributionStrategy = (typeof DISTRIBUTION_STRATEGIES)[number];

export const DISTRIBUTION_STATUSES = distributionStatus.enumValues;
export type DistributionStatus = (typeof DISTRIBUTION_STATUSES)[number];

export const UPDATE_REPORT_STATUSES = updateReportStatus.enumValues;
export type UpdateReportStatus = (typeof UPDATE_REPORT_STATUSES)[number];

/** Statuses in which clients are offered the package ("live" for the update check). */
export const LIVE_STATUSES = ['ACTIVE', 'COMPLETED'] as const satisfies readonly DistributionStatus[];
/** Statuses in which a distribution holds its package: at most one such distribution per package. */
export const HOLDING_STATUSES = ['PENDING', 'ACTIVE', 'PAUSED', 'COMPLETED'] as const satisfies readonly DistributionStatus[];

export type RampStep = RampStepRecord;

/** An update package as services return it. */
export type UpdatePackageRecord = UpdatePackageRow;

/** A distribution as services return it: `percentage` a number, `steps` null without a ramp. */
export interface DistributionRecord extends Omit<DistributionRow, 'percentage' | 'steps'> {
  percentage: number;
  steps: RampStep[] | null;
}

export function isLive(status: DistributionStatus): boolean {
  return (LIVE_STATUSES as readonly string[]).includes(status);
}

export function toDistributionRecord(row: DistributionRow): DistributionRecord {
  return { ...row, percentage: Number(row.percentage), steps: row.steps && row.steps.length > 0 ? row.steps : null };
}

// ---------------------------------------------------------------- reads shared by both sides

export async function selectPackagesByIds(db: DbExecutor, ids: readonly string[]): Promise<UpdatePackageRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(updatePackages).where(inArray(updatePackages.id, [...ids]));
}

export async function selectDistribution(db: DbExecutor, id: string): Promise<DistributionRecord | null> {
  const [row] = await db.select().from(distributions).where(eq(distributions.id, id));
  return row ? toDistributionRecord(row) : null;
}

// ---------------------------------------------------------------- packages

export type NewUpdatePackageRow = typeof updatePackages.$inferInsert;

/** A version row as package creation needs it. */
export type VersionRef = Pick<typeof versions.$inferSelect, 'id' | 'version' | 'sortKey' | 'isDeprecated'>;

/**
 * The versions of an owner at these precedence keys, locked FOR SHARE until the transaction
 * ends (a concurrent deprecation waits for it). Keyed by sort key.
 */
export async function lockVersionsByPrecedence(
  db: DbExecutor,
  { owner, sortKeys }: { owner: Owner; sortKeys: string[] },
): Promise<Map<string, VersionRef>> {
  const rows = await db
    .select({ id: versions.id, version: versions.version, sortKey: versions.sortKey, isDeprecated: versions.isDeprecated })
    .from(versions)
    .where(and(sameOwner(versions, owner), inArray(versions.sortKey, sortKeys)))
    .for('share');
  return new Map(rows.map((row) => [row.sortKey, row]));
}

/**
 * The CDN file a package will point at, locked FOR SHARE: `deleteCdnFile` locks the row FOR
 * UPDATE, so it waits for this transaction and then sees the package (CONFLICT) — a package can
 * never be created over a file being deleted.
 */
export async function lockCdnFile(db: DbExecutor, { id }: { id: string }): Promise<typeof cdnFiles.$inferSelect | null> {
  const [row] = await db.select().from(cdnFiles).where(eq(cdnFiles.id, id)).for('share');
  return row ?? null;
}

export async function insertPackage(db: DbExecutor, { values }: { values: NewUpdatePackageRow }): Promise<UpdatePackageRow> {
  const [row] = await db.insert(updatePackages).values(values).returning();
  return row!;
}

/** The package a new one collides with: the full package of the version, or its delta from the same base. */
export async function findSamePackage(
  db: DbExecutor,
  { toVersionId, isDelta, fromVersionId }: { toVersionId: string; isDelta: boolean; fromVersionId: string | null },
): Promise<Pick<UpdatePackageRow, 'id'> | null> {
  const [row] = await db
    .select({ id: updatePackages.id })
    .from(updatePackages)
    .where(
      and(
        eq(updatePackages.toVersionId, toVersionId),
        eq(updatePackages.isDelta, isDelta),
        isDelta && fromVersionId ? eq(updatePackages.fromVersionId, fromVersionId) : undefined,
      ),
    )
    .limit(1);
  return row ?? null;
}

/** Packages by target version id, for `Version.updatePackages`: one statement for many versions. */
export async function selectPackagesByVersionIds(db: DbExecutor, { versionIds }: { versionIds: readonly string[] }): Promise<UpdatePackageRow[]> {
  if (versionIds.length === 0) return [];
  return db
    .select()
    .from(updatePackages)
    .where(inArray(updatePackages.toVersionId, [...versionIds]))
    .orderBy(asc(updatePackages.isDelta), asc(updatePackages.createdAt), asc(updatePackages.id));
}

/**
 * One page of packages, highest target precedence first (the copied `versions.sort_key`),
 * then newest; `toSortKey` narrows to one target version. Keyset position: [sortKey, id].
 */
export async function selectPackagePage(
  db: DbExecutor,
  { owner, toSortKey, limit, after }: { owner: Owner; toSortKey: string | null; limit: number; after: [string, string] | null },
): Promise<{ rows: UpdatePackageRow[]; total: number }> {
  const where = and(ownerFilter(updatePackages, owner), toSortKey === null ? undefined : eq(updatePackages.toSortKey, toSortKey));
  const keyset = after
    ? sql`(${updatePackages.toSortKey}, ${updatePackages.id}) < (${after[0]} COLLATE "C", ${after[1]}::uuid)`
    : undefined;
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(updatePackages)
      .where(and(where, keyset))
      .orderBy(desc(updatePackages.toSortKey), desc(updatePackages.id))
      .limit(limit + 1),
    db.select({ value: count() }).from(updatePackages).where(where),
  ]);
  return { rows, total: total?.value ?? 0 };
}

// ---------------------------------------------------------------- distributions

export type NewDistributionRow = typeof distributions.$inferInsert;

/** The package with its target version, locked FOR SHARE (a deprecation waits for the distribution being created). */
export async function lockPackageWithTarget(
  db: DbExecutor,
  { packageId }: { packageId: string },
): Promise<{ pkg: UpdatePackageRow; target: VersionRef | null } | null> {
  const [pkg] = await db.select().from(updatePackages).where(eq(updatePackages.id, packageId)).for('share');
  if (!pkg) return null;
  if (!pkg.toVersionId) return { pkg, target: null };
  const [target] = await db
    .select({ id: versions.id, version: versions.version, sortKey: versions.sortKey, isDeprecated: versions.isDeprecated })
    .from(versions)
    .where(eq(versions.id, pkg.toVersionId))
    .for('share');
  return { pkg, target: target ?? null };
}

export async function insertDistribution(db: DbExecutor, { values }: { values: NewDistributionRow }): Promise<DistributionRecord> {
  const [row] = await db.insert(distributions).values(values).returning();
  return toDistributionRecord(row!);
}

/** The distribution that holds a package (PENDING, ACTIVE, PAUSED or COMPLETED), if any. */
export async function findHoldingDistribution(db: DbExecutor, { packageId }: { packageId: string }): Promise<Pick<DistributionRow, 'id' | 'status'> | null> {
  const [row] = await db
    .select({ id: distributions.id, status: distributions.status })
    .from(distributions)
    .where(and(eq(distributions.packageId, packageId), inArray(distributions.status, [...HOLDING_STATUSES])))
    .limit(1);
  return row ?? null;
}

/** The distribution, locked FOR UPDATE: every lifecycle change reads, decides, then writes under this lock. */
export async function lockDistribution(db: DbExecutor, { id }: { id: string }): Promise<DistributionRecord | null> {
  const [row] = await db.select().from(distributions).where(eq(distributions.id, id)).for('update');
  return row ? toDistributionRecord(row) : null;
}

/**
 * Writes a lifecycle change as a compare-and-set: it applies only while the row still has the
 * status and generation it was read with. Resolves the new row, or null when it had moved on.
 */
export async function updateDistributionIf(
  db: DbExecutor,
  { id, expected, set }: { id: string; expected: Pick<DistributionRecord, 'status' | 'generation'>; set: Partial<NewDistributionRow> },
): Promise<DistributionRecord | null> {
  const [row] = await db
    .update(distributions)
    .set({ ...set, updatedAt: new Date() })
    .where(and(eq(distributions.id, id), eq(distributions.status, expected.status), eq(distributions.generation, expected.generation)))
    .returning();
  return row ? toDistributionRecord(row) : null;
}

/** Sets `distributed_at` on the package the first time one of its distributions goes live. */
export async function markPackageDistributed(db: DbExecutor, { packageId, at: when }: { packageId: string; at: Date }): Promise<void> {
  await db
    .update(updatePackages)
    .set({ distributedAt: when })
    .where(and(eq(updatePackages.id, packageId), isNull(updatePackages.distributedAt)));
}

export interface DistributionListFilter {
  owner: Owner;
  status: DistributionStatus | null;
}

export function distributionFilter({ owner, status }: DistributionListFilter): SQL | undefined {
  return and(ownerFilter(distributions, owner), status === null ? undefined : eq(distributions.status, status));
}

/** Distributions of packages, for `UpdatePackage.distributions`: one statement, newest first. */
export async function selectDistributionsByPackageIds(db: DbExecutor, { packageIds }: { packageIds: readonly string[] }): Promise<DistributionRecord[]> {
  if (packageIds.length === 0) return [];
  const rows = await db
    .select()
    .from(distributions)
    .where(inArray(distributions.packageId, [...packageIds]))
    .orderBy(desc(distributions.createdAt), desc(distributions.id));
  return rows.map(toDistributionRecord);
}

// ---------------------------------------------------------------- report counts

const COUNT_COLUMNS = {
  offered: sql<number>`coalesce(sum(${distributionDailyStats.offered}), 0)::float8`,
  downloaded: sql<number>`coalesce(sum(${distributionDailyStats.downloaded}), 0)::float8`,
  installed: sql<number>`coalesce(sum(${distributionDailyStats.installed}), 0)::float8`,
  failed: sql<number>`coalesce(sum(${distributionDailyStats.failed}), 0)::float8`,
  rolledBack: sql<number>`coalesce(sum(${distributionDailyStats.rolledBack}), 0)::float8`,
};

/** Totals per distribution over every day. */
export async function selectStatsTotals(db: DbExecutor, { distributionIds }: { distributionIds: readonly string[] }) {
  if (distributionIds.length === 0) return [];
  const rows = await db
    .select({ distributionId: distributionDailyStats.distributionId, ...COUNT_COLUMNS })
    .from(distributionDailyStats)
    .where(inArray(distributionDailyStats.distributionId, [...distributionIds]))
    .groupBy(distributionDailyStats.distributionId);
  return rows.map((row) => ({ ...row, offered: Number(row.offered), downloaded: Number(row.downloaded), installed: Number(row.installed), failed: Number(row.failed), rolledBack: Number(row.rolledBack) }));
}

/** Per distribution and UTC day over the last `days` days (today included), oldest first. */
export async function selectDailyStats(db: DbExecutor, { distributionIds, days }: { distributionIds: readonly string[]; days: number }) {
  if (distributionIds.length === 0) return [];
  const s = distributionDailyStats;
  const rows = await db
    .select({ distributionId: s.distributionId, date: s.day, offered: s.offered, downloaded: s.downloaded, installed: s.installed, failed: s.failed, rolledBack: s.rolledBack })
    .from(s)
    .where(and(inArray(s.distributionId, [...distributionIds]), sql`${s.day} > (now() at time zone 'utc')::date - ${days}::int`))
    .orderBy(asc(s.day));
  return rows.map((row) => ({ ...row, offered: Number(row.offered), downloaded: Number(row.downloaded), installed: Number(row.installed), failed: Number(row.failed), rolledBack: Number(row.rolledBack) }));
}

/** Reports per version of an owner and UTC day over the last `days` days. */
export async function selectAdoption(db: DbExecutor, { owner, days }: { owner: Owner; days: number }) {
  const a = versionAdoptionDaily;
  const rows = await db
    .select({ version: versions.version, versionId: versions.id, date: a.day, downloaded: a.downloaded, installed: a.installed, failed: a.failed, rolledBack: a.rolledBack })
    .from(a)
    .innerJoin(versions, eq(versions.id, a.versionId))
    .where(and(sameOwner(versions, owner), sql`${a.day} > (now() at time zone 'utc')::date - ${days}::int`))
    .orderBy(asc(a.day), desc(versions.sortKey));
  return rows.map((row) => ({ ...row, downloaded: Number(row.downloaded), installed: Number(row.installed), failed: Number(row.failed), rolledBack: Number(row.rolledBack) }));
}
