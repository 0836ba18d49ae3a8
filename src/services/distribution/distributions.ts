import crypto from 'node:crypto';

import { distributions } from '../../db/schema.js';
import type { DbExecutor } from '../../db/client.js';
import type { AuditRecorder } from '../audit/trail.js';
import { ConflictError, isUniqueViolation, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import { decodeIdCursor, newestFirstPage } from '../keysetPage.js';
import { parseOwner } from '../owner.js';
import { pageSize, type Page, type PageRequest } from '../pagination.js';
import type { ServiceRuntime } from '../runtime.js';
import { releaseChanged } from './events.js';
import { parseHealthGate, type HealthGateInput } from './healthGate.js';
import { GO_LIVE_QUEUE, goLiveKey, RAMP_STEP_QUEUE, rampStepKey, type GoLiveJob, type RampStepJob } from './jobs.js';
import { liveStatus, nextStepAt, parsePercentage, parsePlan } from './rules.js';
import type { DistributionScope } from './scope.js';
import {
  distributionFilter,
  findHoldingDistribution,
  HOLDING_STATUSES,
  insertDistribution,
  lockDistribution,
  lockPackageWithTarget,
  markPackageDistributed,
  toDistributionRecord,
  updateDistributionIf,
  type DistributionRecord,
  type DistributionRow,
  type DistributionStatus,
  type DistributionStrategy,
  type NewDistributionRow,
} from './store.js';

export interface DistributeUpdateArgs {
  packageId: string;
  strategy: DistributionStrategy | string;
  /** GRADUAL: the share of clients (0–100, 2 decimals). With a ramp: its first step (may be left out). */
  percentage?: number | null;
  /** SCHEDULED: when it goes live (must be in the future). */
  scheduledAt?: Date | string | null;
  /** A ramp the server advances by itself: go to each percentage, hold, go to the next. */
  steps?: { percentage: number; holdSeconds: number }[] | null;
  /** Offers that pass over this release are mandatory for the client. */
  mandatory?: boolean | null;
  /** Automatic rollback from client reports (./healthGate.ts); fields left out take the defaults. */
  healthGate?: HealthGateInput | null;
  createdBy?: string | null;
}

export interface DistributionFilter extends PageRequest {
  extensionId?: string | null;
  productId?: string | null;
  status?: DistributionStatus | null;
}

type Holding = (typeof HOLDING_STATUSES)[number];

/** Decides a change from the locked row: the columns to set, or null for nothing to do. May throw a refusal. */
type Decide = (row: DistributionRecord, now: Date, tx: DbExecutor) => Partial<NewDistributionRow> | null | Promise<Partial<NewDistributionRow> | null>;

/**
 * Distributions: how a package is offered. Every change runs in one transaction that locks the
 * row, decides from what it read, writes with a compare-and-set on (status, generation),
 * enqueues the next ramp step or the go-live in the same transaction (deterministic keys: a step
 * can be enqueued once per generation), and publishes RELEASE_CHANGED in it. The job handlers
 * apply a step only if the row is still where the job expects it, so a job that runs twice, late,
 * or after a pause changes nothing.
 */
export class DistributionLifecycle {
  constructor(private readonly scope: DistributionScope) {}

  /**
   * Creates a distribution of a package. IMMEDIATE and GRADUAL go live at once (COMPLETED at
   * 100 %, ACTIVE below); SCHEDULED waits PENDING until `scheduledAt`. A ramp's next step is
   * enqueued at its hold. NOT_FOUND: unknown package. CONFLICT: the package's version is
   * deprecated, or the package already has a live (PENDING/ACTIVE/PAUSED/COMPLETED) distribution.
   * BAD_USER_INPUT: see rules.ts.
   */
  async distribute(args: DistributeUpdateArgs, audit?: AuditRecorder): Promise<DistributionRecord> {
    const now = new Date();
    const plan = parsePlan(args, now);
    const healthGate = parseHealthGate(args.healthGate);
    if (!isUuid(args.packageId)) throw new NotFoundError('Update package', String(args.packageId));
    const runtime = await this.scope.runtime();
    try {
      const created = await runtime.db.transaction(async (tx) => {
        const found = await lockPackageWithTarget(tx, { packageId: args.packageId });
        if (!found) throw new NotFoundError('Update package', args.packageId);
        const { pkg, target } = found;
        if (!target) throw new ConflictError(`Update package ${pkg.id} has no target version on record: create it again with createUpdatePackage`);
        if (target.isDeprecated) {
          throw new ConflictError(`Version ${target.version} (id ${target.id}) is deprecated: it is never offered, so package ${pkg.id} cannot be distributed. Publish a new version`, {
            versionId: target.id,
          });
        }
        const holding = await findHoldingDistribution(tx, { packageId: pkg.id });
        if (holding) throw liveConflict(pkg.id, holding);
        const goesLive = plan.strategy !== 'SCHEDULED';
        const values: NewDistributionRow = {
          packageId: pkg.id,
          extensionId: pkg.extensionId,
          productId: pkg.productId,
          strategy: plan.strategy,
          status: goesLive ? liveStatus(plan.percentage) : 'PENDING',
          percentage: plan.percentage,
          salt: crypto.randomBytes(16).toString('hex'),
          mandatory: args.mandatory === true,
          steps: plan.steps,
          currentStep: 0,
          nextStepAt: goesLive ? nextStepAt(plan.steps, 0, now) : null,
          scheduledAt: plan.scheduledAt,
          startedAt: goesLive ? now : null,
          completedAt: goesLive && plan.percentage >= 100 ? now : null,
          createdBy: args.createdBy ?? null,
          healthGate,
        };
        const row = await insertDistribution(tx, { values });
        if (goesLive) await markPackageDistributed(tx, { packageId: pkg.id, at: now });
        await this.scheduleNext(runtime, tx, row);
        await releaseChanged(runtime.events, tx, changeOf(row, 'distribution-created'));
        await audit?.record(tx, { targetId: row.id, details: { packageId: pkg.id, status: row.status, percentage: row.percentage } });
        return row;
      });
      runtime.log.info(
        {
          distributionId: created.id,
          packageId: created.packageId,
          strategy: created.strategy,
          status: created.status,
          percentage: created.percentage,
          steps: created.steps?.length ?? 0,
          healthGate: created.healthGate,
        },
        'distribution created',
      );
      return created;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Another request created a live distribution of the same package between our check and insert.
      const holding = await findHoldingDistribution(runtime.db, { packageId: args.packageId });
      throw liveConflict(args.packageId, holding ?? { id: 'unknown', status: 'ACTIVE' });
    }
  }

  /**
   * Sets the share of clients. Raising only adds clients; lowering returns those outside it to
   * their previous offer. A ramp still running ends here (the admin took over): its steps are
   * dropped and its pending step does nothing. ACTIVE ⇄ COMPLETED follows 100 %. NOT_FOUND:
   * unknown id; CONFLICT: HALTED or CANCELLED.
   */
  async setPercentage({ id, percentage }: { id: string; percentage: number }, audit?: AuditRecorder): Promise<DistributionRecord> {
    const value = parsePercentage(percentage);
    return this.change(id, 'distribution-percentage', audit, (row, now) => {
      requireHolding(row, 'change the percentage of');
      const live = row.status === 'ACTIVE' || row.status === 'COMPLETED';
      const rampEnds = row.steps !== null;
      return {
        percentage: value,
        ...(live ? { status: liveStatus(value), completedAt: value >= 100 ? (row.completedAt ?? now) : null } : {}),
        ...(rampEnds ? { steps: null, currentStep: 0, nextStepAt: null, generation: row.generation + 1 } : {}),
      };
    });
  }

  /**
   * Stops offering the package and stops the ramp: a pending step or go-live job finds the
   * distribution PAUSED and does nothing. CONFLICT unless PENDING, ACTIVE or COMPLETED.
   */
  async pause({ id }: { id: string }, audit?: AuditRecorder): Promise<DistributionRecord> {
    return this.change(id, 'distribution-paused', audit, (row, now) => {
      if (row.status !== 'PENDING' && row.status !== 'ACTIVE' && row.status !== 'COMPLETED') {
        throw new ConflictError(`Distribution ${row.id} is ${row.status}: only a PENDING, ACTIVE or COMPLETED distribution can be paused`, { status: row.status });
      }
      return { status: 'PAUSED', pausedAt: now };
    });
  }

  /**
   * Resumes a PAUSED distribution where it stood: a ramp continues with the hold it had left
   * when paused; a distribution paused before going live goes live at `scheduledAt` (or now,
   * when that has passed). Jobs are enqueued under a new generation. CONFLICT unless PAUSED, or
   * when its version was deprecated meanwhile.
   */
  async resume({ id }: { id: string }, audit?: AuditRecorder): Promise<DistributionRecord> {
    return this.change(id, 'distribution-resumed', audit, async (row, now, tx) => {
      if (row.status !== 'PAUSED') throw new ConflictError(`Distribution ${row.id} is ${row.status}, not PAUSED: only a paused distribution can be resumed`, { status: row.status });
      const target = (await lockPackageWithTarget(tx, { packageId: row.packageId }))?.target;
      if (target?.isDeprecated) {
        throw new ConflictError(`Version ${target.version} (id ${target.id}) was deprecated while distribution ${row.id} was paused: it is never offered again`, { versionId: target.id });
      }
      const generation = row.generation + 1;
      if (row.startedAt === null) {
        if (row.scheduledAt && row.scheduledAt > now) return { status: 'PENDING', pausedAt: null, generation };
        return { ...goLiveChanges(row, now), pausedAt: null, generation };
      }
      const remainingMs = row.nextStepAt && row.pausedAt ? Math.max(0, row.nextStepAt.getTime() - row.pausedAt.getTime()) : 0;
      return {
        status: liveStatus(row.percentage),
        pausedAt: null,
        generation,
        nextStepAt: row.nextStepAt ? new Date(now.getTime() + remainingMs) : null,
      };
    });
  }

  /** Withdraws a distribution for good (the package may be distributed again). CONFLICT when HALTED or CANCELLED. */
  async cancel({ id, reason }: { id: string; reason?: string | null }, audit?: AuditRecorder): Promise<DistributionRecord> {
    return this.change(id, 'distribution-cancelled', audit, (row) => {
      requireHolding(row, 'cancel');
      return { status: 'CANCELLED', nextStepAt: null, generation: row.generation + 1, statusReason: reason?.slice(0, 2000) ?? null };
    });
  }

  /**
   * Stops a distribution for good because its release is being rolled back: never offered
   * again, its ramp and go-live do nothing. CONFLICT when already HALTED or CANCELLED.
   */
  async halt({ id, reason }: { id: string; reason: string }, audit?: AuditRecorder): Promise<DistributionRecord> {
    return this.change(id, 'distribution-halted', audit, (row) => {
      requireHolding(row, 'halt');
      return { status: 'HALTED', nextStepAt: null, generation: row.generation + 1, statusReason: reason.slice(0, 2000) };
    });
  }

  async list(filter: DistributionFilter): Promise<Page<DistributionRecord>> {
    const owner = parseOwner(filter.extensionId, filter.productId, false);
    const limit = pageSize(filter.first);
    const afterId = filter.after ? decodeIdCursor(filter.after) : null;
    const { db } = await this.scope.runtime();
    const page = await newestFirstPage<DistributionRow>(
      db,
      { table: distributions, createdAt: distributions.createdAt, id: distributions.id },
      distributionFilter({ owner, status: filter.status ?? null }),
      limit,
      afterId,
    );
    return { ...page, nodes: page.nodes.map(toDistributionRecord) };
  }

  // ---------------------------------------------------------------- job handlers

  /**
   * The `distribution.ramp-step` handler: applies step `step` if the distribution is ACTIVE, at
   * step − 1, in the job's generation; otherwise (paused, cancelled, already applied, superseded)
   * does nothing. Resolves whether it applied the step.
   */
  async applyRampStep(job: RampStepJob): Promise<boolean> {
    return this.runJob(job.distributionId, 'distribution-step', (row, now) => {
      const due = row.status === 'ACTIVE' && row.generation === job.generation && row.currentStep === job.step - 1 && row.steps !== null && job.step < row.steps.length;
      if (!due) return null;
      const percentage = row.steps![job.step]!.percentage;
      return {
        currentStep: job.step,
        percentage,
        status: liveStatus(percentage),
        completedAt: percentage >= 100 ? (row.completedAt ?? now) : null,
        nextStepAt: nextStepAt(row.steps, job.step, now),
      };
    });
  }

  /** The `distribution.go-live` handler: takes a PENDING distribution of the job's generation live. */
  async goLive(job: GoLiveJob): Promise<boolean> {
    return this.runJob(job.distributionId, 'distribution-live', (row, now) => {
      if (row.status !== 'PENDING' || row.generation !== job.generation) return null;
      return goLiveChanges(row, now);
    });
  }

  // ---------------------------------------------------------------- internals

  /** An admin change: NOT_FOUND for an unknown id; `decide` throws for a refused change. `audit` records it in the change's transaction. */
  private async change(id: string, reason: string, audit: AuditRecorder | undefined, decide: Decide): Promise<DistributionRecord> {
    if (!isUuid(id)) throw new NotFoundError('Distribution', String(id));
    const runtime = await this.scope.runtime();
    const updated = await this.transition(runtime, id, reason, decide, audit);
    if (!updated) throw new NotFoundError('Distribution', id);
    runtime.log.info({ distributionId: id, reason, status: updated.status, percentage: updated.percentage, generation: updated.generation }, 'distribution changed');
    return updated;
  }

  private async runJob(id: string, reason: string, decide: Decide): Promise<boolean> {
    const runtime = await this.scope.runtime();
    let applied = false;
    const updated = await this.transition(runtime, id, reason, async (row, now, tx) => {
      const changes = await decide(row, now, tx);
      applied = changes !== null;
      return changes;
    });
    if (applied && updated) {
      runtime.log.info({ distributionId: id, reason, status: updated.status, percentage: updated.percentage, step: updated.currentStep }, 'distribution advanced by job');
    } else {
      runtime.log.debug({ distributionId: id, reason }, 'distribution job had nothing to do');
    }
    return applied;
  }

  /**
   * Lock, decide, compare-and-set, enqueue what comes next, publish — one transaction. Resolves
   * the row after the change (unchanged when `decide` returned null), or null for an unknown id.
   */
  private async transition(
    runtime: ServiceRuntime,
    id: string,
    reason: string,
    decide: Decide,
    audit?: AuditRecorder,
  ): Promise<DistributionRecord | null> {
    return runtime.db.transaction(async (tx) => {
      const row = await lockDistribution(tx, { id });
      if (!row) return null;
      const now = new Date();
      const changes = await decide(row, now, tx);
      if (changes === null) {
        await audit?.record(tx, { details: { unchanged: true } });
        return row;
      }
      const updated = await updateDistributionIf(tx, { id, expected: row, set: changes });
      if (!updated) throw new ConflictError(`Distribution ${id} changed while this request ran: read it again and retry`);
      if (updated.startedAt && !row.startedAt) await markPackageDistributed(tx, { packageId: updated.packageId, at: now });
      await this.scheduleNext(runtime, tx, updated);
      await releaseChanged(runtime.events, tx, changeOf(updated, reason));
      await audit?.record(tx, { details: { from: { status: row.status, percentage: row.percentage }, to: { status: updated.status, percentage: updated.percentage } } });
      return updated;
    });
  }

  /** Enqueues, in the writing transaction, the job the row now waits for: its next ramp step or its go-live. */
  private async scheduleNext(runtime: ServiceRuntime, tx: DbExecutor, row: DistributionRecord): Promise<void> {
    if (row.status === 'ACTIVE' && row.nextStepAt) {
      const job = { distributionId: row.id, step: row.currentStep + 1, generation: row.generation };
      await this.scope.jobs(runtime).send(RAMP_STEP_QUEUE, job, { key: rampStepKey(job), startAfter: row.nextStepAt, tx });
    } else if (row.status === 'PENDING' && row.scheduledAt) {
      const job = { distributionId: row.id, generation: row.generation };
      await this.scope.jobs(runtime).send(GO_LIVE_QUEUE, job, { key: goLiveKey(job), startAfter: row.scheduledAt, tx });
    }
  }
}

/** The changes that take a distribution live now: its percentage (or ramp's first step) and the next step's time. */
function goLiveChanges(row: DistributionRecord, now: Date): Partial<NewDistributionRow> {
  return {
    status: liveStatus(row.percentage),
    startedAt: now,
    completedAt: row.percentage >= 100 ? now : null,
    currentStep: 0,
    nextStepAt: nextStepAt(row.steps, 0, now),
  };
}

function requireHolding(row: DistributionRecord, what: string): asserts row is DistributionRecord & { status: Holding } {
  if (!(HOLDING_STATUSES as readonly string[]).includes(row.status)) {
    throw new ConflictError(`Distribution ${row.id} is ${row.status}: cannot ${what} it. Create a new distribution of the package instead`, { status: row.status });
  }
}

function liveConflict(packageId: string, holding: { id: string; status: DistributionStatus }): ConflictError {
  return new ConflictError(
    `Update package ${packageId} already has a live distribution (id ${holding.id}, ${holding.status}): change its percentage, pause/resume or cancel it instead of creating another`,
    { distributionId: holding.id },
  );
}

function changeOf(row: DistributionRecord, reason: string) {
  return { extensionId: row.extensionId, productId: row.productId, distributionId: row.id, reason };
}
