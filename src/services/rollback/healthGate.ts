import { eq } from 'drizzle-orm';

import { updatePackages, versions } from '../../db/schema.js';
import type { DbExecutor } from '../../db/client.js';
import { describeHealth, type HealthAssessment } from '../distribution/healthGate.js';
import { appendHealthTripNote, lockBreachedDistribution, recordHealthTrip, selectGatedDistributions, type GatedDistribution } from '../distribution/healthTrips.js';
import type { DistributionRecord } from '../distribution/store.js';
import { SYSTEM_ACTORS, type Actor } from '../audit/actor.js';
import { systemRecorder, type AuditRecorder } from '../audit/trail.js';
import { DomainError, ErrorCode } from '../errors.js';
import type { Owner } from '../owner.js';
import type { ServiceRuntime } from '../runtime.js';
import { SYSTEM_ACTOR_ID } from '../systemActor.js';
import * as store from './store.js';
import type { NewRollbackPlanRow, RollbackPlanRecord, VersionRow } from './store.js';

/**
 * The health gate's actions (automatic rollback, issue 8 item 6). After each report flush the
 * gated distributions it touched are evaluated (and a sweep on one instance evaluates all of
 * them now and then); on a breach, in ONE transaction that first locks the distribution and
 * re-assesses it from the database, so it acts once however many instances evaluate at once:
 *
 *   - the distribution is PAUSED (every instance stops offering it: RELEASE_CHANGED),
 *   - a rollback plan to the previous good version is created by the system actor, its reason
 *     quoting the numbers (or an open plan for the same version is linked; or, with no version
 *     to go back to, the breach is only recorded),
 *   - the trip is recorded on the distribution (`health_tripped_at`: the compare-and-set), and
 *   - with autoExecute, a `rollback.health-gate-execute` job (key: plan id) is enqueued, which
 *     approves and executes the plan through the same service paths as the mutations.
 */

/** The parts of the rollback service the gate acts through (the same paths as the mutations). */
export interface HealthGatePlans {
  preparePlan(args: { fromVersion: string; toVersion: string; reason: string; extensionId: string | null; productId: string | null; rollbackStrategy: string; createdBy: string }): Promise<NewRollbackPlanRow>;
  insertPreparedPlan(
    runtime: ServiceRuntime,
    tx: DbExecutor,
    values: NewRollbackPlanRow,
    options: { reason: string; audit: AuditRecorder; auditDetails: Record<string, unknown> },
  ): Promise<RollbackPlanRecord>;
  getPlan(args: { id: string }): Promise<RollbackPlanRecord | null>;
  approvePlan(args: { id: string; approvedBy: string; actor: Actor }): Promise<RollbackPlanRecord>;
  executePlan(args: { id: string; actor: Actor }): Promise<RollbackPlanRecord>;
}

export interface HealthGateTrip {
  distribution: DistributionRecord;
  health: HealthAssessment;
  /** The plan created (or the open one linked); null when there was no version to go back to. */
  plan: RollbackPlanRecord | null;
  /** True when an open plan for the same version was linked instead of creating one. */
  linked: boolean;
  note: string;
}

export class HealthGateMonitor {
  constructor(
    private readonly runtime: () => Promise<ServiceRuntime>,
    private readonly plans: HealthGatePlans,
  ) {}

  /**
   * Evaluates the untripped gates of these distributions (all of them when `distributionIds` is
   * left out) and acts on each breach once. Resolves the trips this call made (a breach another
   * caller acted on first is not among them). A failure on one distribution is logged and does
   * not stop the others.
   */
  async evaluate({ distributionIds }: { distributionIds?: readonly string[] } = {}): Promise<HealthGateTrip[]> {
    const runtime = await this.runtime();
    const gated = await selectGatedDistributions(runtime.db, { ids: distributionIds });
    const trips: HealthGateTrip[] = [];
    for (const candidate of gated) {
      if (!candidate.health.breached) continue;
      try {
        const trip = await this.trip(runtime, candidate);
        if (trip) trips.push(trip);
      } catch (error) {
        runtime.log.error({ err: error, distributionId: candidate.distribution.id }, 'health gate breach could not be acted on; the next evaluation retries');
      }
    }
    return trips;
  }

  /**
   * Job handler of `rollback.health-gate-execute`: approves (as the system actor) and executes
   * the plan the gate created. Idempotent: each step only from the state before it. A refusal —
   * a FAILED safety check, a second approver required, the plan cancelled meanwhile — leaves
   * the plan for a person, logged and added to the distribution's health note.
   */
  async executeAutomatically({ planId, distributionId }: { planId: string; distributionId: string }): Promise<void> {
    const runtime = await this.runtime();
    const log = runtime.log.child({ planId, distributionId, component: 'health-gate' });
    try {
      let plan = await this.plans.getPlan({ id: planId });
      // Through the audited service methods: the trail records each as system:health-gate.
      if (plan?.status === 'PENDING') plan = await this.plans.approvePlan({ id: planId, approvedBy: SYSTEM_ACTOR_ID, actor: SYSTEM_ACTORS.healthGate });
      if (plan?.status === 'APPROVED') plan = await this.plans.executePlan({ id: planId, actor: SYSTEM_ACTORS.healthGate });
      log.info({ status: plan?.status ?? null }, 'health gate executed its rollback plan automatically');
    } catch (error) {
      if (!(error instanceof DomainError) || ![ErrorCode.CONFLICT, ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND].includes(error.code)) throw error;
      const now = await this.plans.getPlan({ id: planId });
      // Another run of this job got there first: not a refusal.
      if (now && (now.status === 'EXECUTING' || now.status === 'COMPLETED')) return;
      log.warn({ err: error, status: now?.status ?? null }, 'health gate could not execute its rollback plan automatically; it waits for an admin');
      await appendHealthTripNote(runtime.db, { id: distributionId, note: `Automatic execution refused: ${error.message}` });
    }
  }

  private async trip(runtime: ServiceRuntime, { distribution }: GatedDistribution): Promise<HealthGateTrip | null> {
    const owner: Owner = { extensionId: distribution.extensionId, productId: distribution.productId };
    const source = await selectPackageTarget(runtime.db, { packageId: distribution.packageId });
    // Prepared outside the transaction: the safety checks read the target's bytes back from the CDN.
    const target = source ? await store.selectRollbackTarget(runtime.db, { owner, belowSortKey: source.sortKey, stableOnly: source.prerelease === null }) : null;
    const prepared =
      source && target
        ? await this.plans.preparePlan({
            fromVersion: source.version,
            toVersion: target.version,
            reason: 'health gate',
            ...owner,
            rollbackStrategy: 'IMMEDIATE',
            createdBy: SYSTEM_ACTOR_ID,
          })
        : null;
    const trip = await runtime.db.transaction(async (tx) => {
      const locked = await lockBreachedDistribution(tx, { id: distribution.id });
      if (!locked) return null;
      const gate = locked.distribution.healthGate;
      const version = source?.version ?? 'its version';
      const reason = `health gate: ${describeHealth(gate, locked.health)} of ${version} (distribution ${distribution.id})`;
      const open = source ? await store.selectOpenPlanFrom(tx, { owner, fromVersionId: source.id }) : null;
      let plan: RollbackPlanRecord | null = null;
      let note: string;
      if (open) {
        plan = open;
        note = `${reason}. Paused; rollback plan ${open.id} (${open.status}, ${open.fromVersion} → ${open.toVersion}) was already open for ${version} and is left to its owner.`;
      } else if (prepared) {
        const audit = systemRecorder({
          operation: 'createRollbackPlan',
          actor: SYSTEM_ACTORS.healthGate,
          input: { fromVersion: prepared.fromVersion, toVersion: prepared.toVersion, reason, ...owner, rollbackStrategy: prepared.rollbackStrategy },
        });
        plan = await this.plans.insertPreparedPlan(runtime, tx, prepared, { reason, audit, auditDetails: { distributionId: distribution.id, autoExecute: gate.autoExecute } });
        note = `${reason}. Paused; rollback plan ${plan.id} to ${plan.toVersion} created${gate.autoExecute ? ', to be approved and executed automatically.' : ', waiting for an admin to approve it.'}`;
        if (gate.autoExecute) await runtime.jobs.send('rollback.health-gate-execute', { planId: plan.id, distributionId: distribution.id }, { key: plan.id, tx });
      } else {
        note = `${reason}. Paused; no rollback plan: there is no earlier version of ${version} to go back to (not deprecated, with a full package, never halted or tripped itself). Publish a fix, or plan a rollback by hand.`;
      }
      const before = locked.distribution;
      const updated = await recordHealthTrip(tx, { distribution: before, note, rollbackPlanId: plan?.id ?? null, events: runtime.events, now: new Date() });
      if (updated.status !== before.status) {
        // The pause is the same change as pauseDistribution's, made by the system: the trail says so.
        const audit = systemRecorder({ operation: 'pauseDistribution', actor: SYSTEM_ACTORS.healthGate, targetId: before.id, input: { id: before.id, reason: 'health gate breach' } });
        await audit.record(tx, {
          details: {
            from: { status: before.status, percentage: before.percentage },
            to: { status: updated.status, percentage: updated.percentage },
            health: { samples: locked.health.samples, failures: locked.health.failures, wilsonLowerBound: locked.health.wilsonLowerBound, ...gate },
            rollbackPlanId: plan?.id ?? null,
          },
        });
      }
      return { distribution: updated, health: locked.health, plan, linked: open !== null, note };
    });
    if (!trip) return null;
    const fields = {
      distributionId: distribution.id,
      samples: trip.health.samples,
      failures: trip.health.failures,
      wilsonLowerBound: trip.health.wilsonLowerBound,
      maxFailureRate: trip.distribution.healthGate?.maxFailureRate,
      planId: trip.plan?.id ?? null,
      linked: trip.linked,
    };
    if (trip.plan) runtime.log.warn(fields, `health gate tripped: ${trip.note}`);
    else runtime.log.error(fields, `health gate tripped without a rollback plan: ${trip.note}`);
    return trip;
  }
}

/** The version a package takes clients to (the version the gate rolls back from), or null. */
async function selectPackageTarget(db: DbExecutor, { packageId }: { packageId: string }): Promise<VersionRow | null> {
  const [row] = await db
    .select({ version: versions })
    .from(updatePackages)
    .innerJoin(versions, eq(versions.id, updatePackages.toVersionId))
    .where(eq(updatePackages.id, packageId));
  return row?.version ?? null;
}
