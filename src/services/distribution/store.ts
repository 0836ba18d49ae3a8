import { eq, inArray } from 'drizzle-orm';

import type { DbExecutor } from '../../db/client.js';
import {
  distributionStatus,
  distributionStrategy,
  distributions,
  updatePackages,
  updateReportStatus,
  type RampStepRecord,
} from '../../db/schema.js';

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
