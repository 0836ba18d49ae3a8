import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';

import type { DbExecutor } from '../../db/client.js';
import { distributions } from '../../db/schema.js';
import type { EventBus } from '../../events/eventBus.js';
import { releaseChanged } from './events.js';
import { assessHealth, type HealthAssessment, type HealthGateRecord } from './healthGate.js';
import { lockDistribution, selectStatsTotals, toDistributionRecord, updateDistributionIf, type DistributionRecord, type DistributionStatus } from './store.js';

/**
 * What the health gate does to a distribution, as functions over the caller's transaction (the
 * rollback domain creates the plan in the same one). The breach acts once across instances: the
 * row is locked, the gate re-assessed from the counts in the database, and the trip written as a
 * compare-and-set on a gate that has not tripped yet.
 */

/** Statuses in which reports can still arrive and a breach matters (PENDING has no installs; HALTED and CANCELLED are over). */
export const GATED_STATUSES = ['ACTIVE', 'COMPLETED', 'PAUSED'] as const satisfies readonly DistributionStatus[];

export interface GatedDistribution {
  distribution: DistributionRecord & { healthGate: HealthGateRecord };
  health: HealthAssessment;
}

/**
 * The gated distributions (all, or those of `ids`) whose gate has not tripped, with their health
 * from the counts in the database: two statements whatever their number. No lock.
 */
export async function selectGatedDistributions(db: DbExecutor, { ids }: { ids?: readonly string[] }): Promise<GatedDistribution[]> {
  if (ids && ids.length === 0) return [];
  const rows = await db
    .select()
    .from(distributions)
    .where(
      and(
        isNotNull(distributions.healthGate),
        isNull(distributions.healthTrippedAt),
        inArray(distributions.status, [...GATED_STATUSES]),
        ids ? inArray(distributions.id, [...ids]) : undefined,
      ),
    );
  const totals = await selectStatsTotals(db, { distributionIds: rows.map((row) => row.id) });
  const byId = new Map(totals.map((row) => [row.distributionId, row]));
  return rows.map((row) => {
    const distribution = toDistributionRecord(row) as GatedDistribution['distribution'];
    const counts = byId.get(row.id) ?? { installed: 0, failed: 0, rolledBack: 0 };
    return { distribution, health: assessHealth(distribution.healthGate, counts) };
  });
}

/**
 * Locks the distribution and re-assesses its gate inside `tx`: resolves it when the gate has
 * not tripped and the counts breach it now, else null (another instance tripped it first, the
 * distribution moved on, or the counts no longer breach). Whoever gets a value owns the breach
 * until `tx` ends.
 */
export async function lockBreachedDistribution(tx: DbExecutor, { id }: { id: string }): Promise<GatedDistribution | null> {
  const row = await lockDistribution(tx, { id });
  if (!row || !row.healthGate || row.healthTrippedAt || !(GATED_STATUSES as readonly string[]).includes(row.status)) return null;
  const [counts] = await selectStatsTotals(tx, { distributionIds: [id] });
  const health = assessHealth(row.healthGate, counts ?? { installed: 0, failed: 0, rolledBack: 0 });
  if (!health.breached) return null;
  return { distribution: row as GatedDistribution['distribution'], health };
}

/**
 * Records the trip on a distribution locked by `lockBreachedDistribution` and pauses it if it is
 * live — the same change as `pauseDistribution` (PAUSED, the ramp waits, RELEASE_CHANGED
 * `distribution-paused` in `tx`, so every instance stops offering it iff the trip commits).
 */
export async function recordHealthTrip(
  tx: DbExecutor,
  { distribution, note, rollbackPlanId, events, now }: { distribution: DistributionRecord; note: string; rollbackPlanId: string | null; events: EventBus; now: Date },
): Promise<DistributionRecord> {
  const pause = distribution.status === 'ACTIVE' || distribution.status === 'COMPLETED';
  const updated = await updateDistributionIf(tx, {
    id: distribution.id,
    expected: distribution,
    set: { healthTrippedAt: now, healthTripNote: note.slice(0, 2000), healthRollbackPlanId: rollbackPlanId, ...(pause ? { status: 'PAUSED' as const, pausedAt: now } : {}) },
  });
  // The row is locked by this transaction: it cannot have moved.
  if (!updated) throw new Error(`distribution ${distribution.id} changed under its row lock`);
  if (pause) await releaseChanged(events, tx, { extensionId: updated.extensionId, productId: updated.productId, distributionId: updated.id, reason: 'distribution-paused' });
  return updated;
}

/** Adds to the gate's note what happened later (an automatic execution that was refused). */
export async function appendHealthTripNote(db: DbExecutor, { id, note }: { id: string; note: string }): Promise<void> {
  await db
    .update(distributions)
    .set({ healthTripNote: sql`left(trim(coalesce(${distributions.healthTripNote}, '') || ' ' || ${note}::text), 2000)` })
    .where(eq(distributions.id, id));
}
