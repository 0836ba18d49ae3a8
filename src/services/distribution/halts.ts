import crypto from 'node:crypto';

import { and, eq, inArray, isNull, sql } from 'drizzle-orm';

import type { DbExecutor } from '../../db/client.js';
import { distributions, updatePackages, type RampStepRecord } from '../../db/schema.js';
import type { EventBus } from '../../events/eventBus.js';
import type { JobEngine } from '../../jobs/engine.js';
import { RAMP_STEP_QUEUE, rampStepKey } from './jobs.js';
import { HOLDING_STATUSES, toDistributionRecord, type DistributionRecord } from './store.js';

/**
 * What a rollback does to distributions, as functions over the caller's transaction (the
 * rollback execution commits each step's change with its step-log entry, so a step happens
 * once). Each publishes RELEASE_CHANGED in that transaction: every instance's release state
 * refreshes iff the change commits.
 */

/**
 * Halts every distribution that holds a package taking clients to `versionId` (PENDING, ACTIVE,
 * PAUSED or COMPLETED): HALTED is never offered again, and the generation bump makes any pending
 * ramp step or go-live job of theirs a no-op. Returns the halted rows (none: nothing was holding).
 */
export async function haltVersionDistributions(
  tx: DbExecutor,
  { versionId, reason, events, now }: { versionId: string; reason: string; events: EventBus; now: Date },
): Promise<DistributionRecord[]> {
  const rows = await tx
    .update(distributions)
    .set({ status: 'HALTED', statusReason: reason, nextStepAt: null, generation: sql`${distributions.generation} + 1`, updatedAt: now })
    .where(
      and(
        inArray(distributions.status, [...HOLDING_STATUSES]),
        inArray(distributions.packageId, tx.select({ id: updatePackages.id }).from(updatePackages).where(eq(updatePackages.toVersionId, versionId))),
      ),
    )
    .returning();
  for (const row of rows) {
    await events.publish('RELEASE_CHANGED', { extensionId: row.extensionId, productId: row.productId, distributionId: row.id, reason: 'distribution-halted' }, { tx });
  }
  return rows.map(toDistributionRecord);
}

export interface RollbackDistributionArgs {
  packageId: string;
  /** IMMEDIATE: live at 100 % at once. GRADUAL: live at the ramp's first step. */
  strategy: 'IMMEDIATE' | 'GRADUAL';
  /** GRADUAL only: the ramp (its first step is applied now). */
  ramp?: readonly RampStepRecord[];
  reason: string;
  createdBy: string | null;
  events: EventBus;
  /** Enqueues the ramp's next step (GRADUAL) in the same transaction. */
  jobs: Pick<JobEngine, 'send'>;
  now: Date;
}

/**
 * Distributes a package as a rollback (`is_rollback`: offered to clients on higher, non-live
 * versions too). A distribution already holding the package (typically its original, COMPLETED
 * release) is cancelled first, recorded as superseded: a package has one live distribution.
 */
export async function distributeRollback(tx: DbExecutor, args: RollbackDistributionArgs): Promise<DistributionRecord> {
  const { packageId, strategy, ramp, reason, createdBy, events, jobs, now } = args;
  const [pkg] = await tx.select().from(updatePackages).where(eq(updatePackages.id, packageId)).for('update');
  if (!pkg) throw new Error(`update package ${packageId} does not exist`);
  const superseded = await tx
    .update(distributions)
    .set({ status: 'CANCELLED', statusReason: `superseded by a rollback distribution: ${reason}`, nextStepAt: null, generation: sql`${distributions.generation} + 1`, updatedAt: now })
    .where(and(eq(distributions.packageId, packageId), inArray(distributions.status, [...HOLDING_STATUSES])))
    .returning();
  const steps = strategy === 'GRADUAL' && ramp && ramp.length > 0 ? [...ramp] : null;
  const percentage = steps ? steps[0]!.percentage : 100;
  const [row] = await tx
    .insert(distributions)
    .values({
      packageId,
      extensionId: pkg.extensionId,
      productId: pkg.productId,
      strategy,
      status: percentage >= 100 ? 'COMPLETED' : 'ACTIVE',
      percentage,
      salt: crypto.randomBytes(16).toString('hex'),
      isRollback: true,
      steps,
      currentStep: 0,
      nextStepAt: steps && steps.length > 1 ? new Date(now.getTime() + steps[0]!.holdSeconds * 1000) : null,
      startedAt: now,
      completedAt: percentage >= 100 ? now : null,
      statusReason: reason,
      createdBy,
    })
    .returning();
  if (row!.status === 'ACTIVE' && row!.nextStepAt) {
    // The ramp advances like any distribution's: distributions.ts applies each step.
    const job = { distributionId: row!.id, step: 1, generation: row!.generation };
    await jobs.send(RAMP_STEP_QUEUE, job, { key: rampStepKey(job), startAfter: row!.nextStepAt, tx });
  }
  await tx.update(updatePackages).set({ distributedAt: now }).where(and(eq(updatePackages.id, packageId), isNull(updatePackages.distributedAt)));
  for (const old of superseded) {
    await events.publish('RELEASE_CHANGED', { extensionId: old.extensionId, productId: old.productId, distributionId: old.id, reason: 'distribution-cancelled' }, { tx });
  }
  await events.publish('RELEASE_CHANGED', { extensionId: row!.extensionId, productId: row!.productId, distributionId: row!.id, reason: 'distribution-created' }, { tx });
  return toDistributionRecord(row!);
}
