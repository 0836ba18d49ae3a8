import type { DbExecutor } from '../../db/client.js';
import type { EventStream } from '../../events/stream.js';
import { scriptActor, SYSTEM_ACTORS, type Actor } from '../audit/actor.js';
import { audited, type AuditRecorder } from '../audit/trail.js';
import type { CdnIntegrationService } from '../cdn/service.js';
import { BadInputError, ConflictError, DomainError, ErrorCode, ForbiddenError, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import { decodeIdCursor } from '../keysetPage.js';
import { parseOwner, type Owner } from '../owner.js';
import { pageSize, type Page, type PageRequest } from '../pagination.js';
import { Service, type RuntimeSource, type ServiceRuntime } from '../runtime.js';
import { parseVersion, type ParsedVersion } from '../versions/semverOrder.js';
import { firstFailed, runSafetyChecks, type CheckOutcome, type CheckPhase } from './checks.js';
import { RollbackExecution, STEP_NAMES, executeJobKey, initialSteps } from './execution.js';
import { HealthGateMonitor, type HealthGateTrip } from './healthGate.js';
import * as store from './store.js';
import {
  ROLLBACK_STATUSES,
  ROLLBACK_STRATEGIES,
  type RollbackPlanRecord,
  type RollbackStatus,
  type RollbackStrategy,
  type SafetyCheckRecord,
} from './store.js';

export type { RollbackPlanRecord, RollbackStatus, RollbackStrategy, RollbackStepRecord, SafetyCheckRecord } from './store.js';
export { ROLLBACK_STATUSES, ROLLBACK_STRATEGIES } from './store.js';
export type { HealthGateTrip } from './healthGate.js';

export interface CreateRollbackPlanArgs {
  /** The version clients run now (strict SemVer). */
  fromVersion: string;
  /** The older version to take them back to. */
  toVersion: string;
  reason: string;
  extensionId?: string | null;
  productId?: string | null;
  /** IMMEDIATE (default), GRADUAL or SCHEDULED; case-insensitive (the seed passes `'immediate'`). */
  rollbackStrategy?: string | null;
  /** SCHEDULED only: when it runs (must be in the future). */
  scheduledAt?: Date | string | null;
  /** The caller's user id. */
  createdBy?: string | null;
  /** Who is asking, for the audit trail (default: a script acting as `createdBy`). */
  actor?: Actor;
}

export interface RollbackPlanFilter extends PageRequest {
  extensionId?: string | null;
  productId?: string | null;
  status?: string | null;
}

export interface RollbackServiceOptions {
  /** The CDN service whose provider holds package bytes (the checksum check reads them back). */
  cdn: CdnIntegrationService;
}

const REASON_MAX = 2000;

/**
 * Rollback automation: plans with safety checks, approval (optionally by a second admin),
 * execution exactly once as a durable job that survives crashes (./execution.ts), and live
 * status. Methods take one named-argument object; the seed's positional shapes are in seedApi.ts.
 */
export class RollbackAutomationService extends Service {
  private readonly execution: RollbackExecution;
  private readonly healthGate: HealthGateMonitor;

  constructor(
    source: RuntimeSource | undefined,
    private readonly options: RollbackServiceOptions,
  ) {
    super(source);
    this.execution = new RollbackExecution(() => this.runtime());
    this.healthGate = new HealthGateMonitor(() => this.runtime(), this);
  }

  /**
   * Creates a PENDING plan and runs its safety checks (stored on it, FAILED ones included: the
   * plan shows what blocks it). BAD_USER_INPUT: invalid SemVer, the same version twice, a target
   * not older than the source, a bad strategy or schedule, a missing reason or owner.
   */
  async createPlan({ actor, ...input }: CreateRollbackPlanArgs): Promise<RollbackPlanRecord> {
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'createRollbackPlan', actor: actor ?? scriptActor(input.createdBy), input }, async (audit) => {
      const values = await this.preparePlan(input);
      const plan = await runtime.db.transaction((tx) => this.insertPreparedPlan(runtime, tx, values, { audit }));
      runtime.log.info({ planId: plan.id, from: plan.fromVersion, to: plan.toVersion, failed: firstFailed(plan.safetyChecks)?.name ?? null }, 'rollback plan created');
      return plan;
    });
  }

  /**
   * Validates a plan and runs its safety checks, writing nothing: the row `insertPreparedPlan`
   * stores. Throws what `createPlan` throws. (The health gate prepares outside its transaction —
   * the checks read bytes back from the CDN — and inserts inside it.)
   */
  async preparePlan(args: Omit<CreateRollbackPlanArgs, 'actor'>): Promise<store.NewRollbackPlanRow> {
    const owner = parseOwner(args.extensionId, args.productId);
    const from = parseVersion(args.fromVersion, 'fromVersion');
    const to = parseVersion(args.toVersion, 'toVersion');
    if (from.sortKey === to.sortKey) {
      throw new BadInputError(`fromVersion and toVersion are the same version (${from.version}): a rollback goes to an older version`, { field: 'toVersion' });
    }
    if (to.sortKey > from.sortKey) {
      throw new BadInputError(`toVersion ${to.version} is newer than fromVersion ${from.version}: a rollback goes to an older version (publish and distribute ${to.version} to move forward)`, {
        field: 'toVersion',
      });
    }
    const reason = parseReason(args.reason, from.version);
    const strategy = parseStrategy(args.rollbackStrategy);
    const scheduledAt = parseSchedule(strategy, args.scheduledAt);
    const createdBy = args.createdBy && isUuid(args.createdBy) ? args.createdBy : null;
    const runtime = await this.runtime();
    const outcome = await this.check(runtime, { owner, from, to, strategy, scheduledAt, planId: null, phase: 'create' });
    return {
      ...owner,
      fromVersion: from.version,
      toVersion: to.version,
      fromVersionId: outcome.fromVersion?.id ?? null,
      toVersionId: outcome.toVersion?.id ?? null,
      reason,
      safetyChecks: outcome.checks,
      estimatedDowntime: outcome.estimatedDowntime,
      rollbackStrategy: strategy,
      scheduledAt,
      createdBy,
    };
  }

  /**
   * Stores a prepared plan PENDING inside the caller's transaction, publishes its creation and
   * writes its audit entry there (watchers and the trail see it iff `tx` commits). `reason`
   * replaces the prepared one (validated alike).
   */
  async insertPreparedPlan(
    runtime: ServiceRuntime,
    tx: DbExecutor,
    values: store.NewRollbackPlanRow,
    { reason, audit, auditDetails }: { reason?: string; audit?: AuditRecorder; auditDetails?: Record<string, unknown> } = {},
  ): Promise<RollbackPlanRecord> {
    const row = await store.insertPlan(tx, { values: reason === undefined ? values : { ...values, reason: parseReason(reason, values.fromVersion) } });
    await this.execution.publish(runtime, tx, 'created', row);
    await audit?.record(tx, { targetId: row.id, details: { failedCheck: firstFailed(row.safetyChecks)?.name ?? null, ...auditDetails } });
    return row;
  }

  async getPlan({ id }: { id: string }): Promise<RollbackPlanRecord | null> {
    if (!isUuid(id)) return null;
    const { db } = await this.runtime();
    return store.selectPlan(db, { id });
  }

  /** A page of plans, newest first; owner ids and status narrow it. */
  async listPlans(filter: RollbackPlanFilter = {}): Promise<Page<RollbackPlanRecord>> {
    const owner = parseOwner(filter.extensionId, filter.productId, false);
    const status = filter.status === undefined || filter.status === null ? null : parseStatus(filter.status);
    const limit = pageSize(filter.first);
    const afterId = filter.after ? decodeIdCursor(filter.after) : null;
    const { db } = await this.runtime();
    return store.selectPlanPage(db, { owner, status, limit, afterId });
  }

  /**
   * PENDING → APPROVED, after the checks ran again. CONFLICT naming the state when not PENDING,
   * or naming the FAILED check (the fresh checks are kept on the plan). With
   * ROLLBACK_REQUIRE_SECOND_APPROVER=true, FORBIDDEN when the approver created the plan. A
   * SCHEDULED plan's run is enqueued here, at its scheduledAt.
   */
  async approvePlan({ actor, ...input }: { id: string; approvedBy?: string | null; actor?: Actor }): Promise<RollbackPlanRecord> {
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'approveRollbackPlan', actor: actor ?? scriptActor(input.approvedBy), targetId: input.id, input }, (audit) =>
      this.approve(runtime, input, audit),
    );
  }

  private async approve(runtime: ServiceRuntime, { id, approvedBy }: { id: string; approvedBy?: string | null }, audit: AuditRecorder): Promise<RollbackPlanRecord> {
    const plan = await this.requirePlan(runtime, id);
    requireStatus(plan, ['PENDING'], 'approve');
    const approver = approvedBy && isUuid(approvedBy) ? approvedBy : null;
    if (runtime.config.rollback.requireSecondApprover && (approver === null || approver === plan.createdBy)) {
      throw new ForbiddenError(
        approver === null
          ? `Rollback plan ${plan.id} needs an identified approver other than its creator (ROLLBACK_REQUIRE_SECOND_APPROVER=true)`
          : `Rollback plan ${plan.id} was created by you: another admin must approve it (ROLLBACK_REQUIRE_SECOND_APPROVER=true)`,
      );
    }
    const outcome = await this.check(runtime, planCheckInput(plan, 'approve'));
    const blocking = firstFailed(outcome.checks);
    const approved = await runtime.db.transaction(async (tx) => {
      const set = { safetyChecks: outcome.checks, estimatedDowntime: outcome.estimatedDowntime };
      if (blocking) {
        const row = await store.updatePlanIf(tx, { id, from: ['PENDING'], set });
        if (row) await this.execution.publish(runtime, tx, 'checks-updated', row);
        return row;
      }
      const row = await store.updatePlanIf(tx, { id, from: ['PENDING'], set: { ...set, status: 'APPROVED', approvedBy: approver, approvedAt: new Date() } });
      if (!row) return null;
      if (row.rollbackStrategy === 'SCHEDULED' && row.scheduledAt) {
        await runtime.jobs.send('rollback.scheduled', { planId: row.id }, { key: row.id, startAfter: row.scheduledAt, tx });
      }
      await this.execution.publish(runtime, tx, 'approved', row);
      await audit.record(tx);
      return row;
    });
    if (!approved) throw await this.stateConflict(runtime, id, 'approve');
    if (blocking) throw checkConflict(approved, blocking, 'approved');
    runtime.log.info({ planId: id, approvedBy: approver }, 'rollback plan approved');
    return approved;
  }

  /** PENDING or APPROVED → CANCELLED. CONFLICT naming the state otherwise (an executing plan runs to its end). */
  async cancelPlan({ actor, ...input }: { id: string; cancelledBy?: string | null; actor?: Actor }): Promise<RollbackPlanRecord> {
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'cancelRollbackPlan', actor: actor ?? scriptActor(input.cancelledBy), targetId: input.id, input }, (audit) =>
      this.cancel(runtime, input, audit),
    );
  }

  private async cancel(runtime: ServiceRuntime, { id, cancelledBy }: { id: string; cancelledBy?: string | null }, audit: AuditRecorder): Promise<RollbackPlanRecord> {
    const plan = await this.requirePlan(runtime, id);
    requireStatus(plan, ['PENDING', 'APPROVED'], 'cancel');
    const cancelled = await runtime.db.transaction(async (tx) => {
      const row = await store.updatePlanIf(tx, {
        id,
        from: ['PENDING', 'APPROVED'],
        set: { status: 'CANCELLED', cancelledAt: new Date(), cancelledBy: cancelledBy && isUuid(cancelledBy) ? cancelledBy : null },
      });
      if (row) {
        await this.execution.publish(runtime, tx, 'cancelled', row);
        await audit.record(tx);
      }
      return row;
    });
    if (!cancelled) throw await this.stateConflict(runtime, id, 'cancel');
    runtime.log.info({ planId: id }, 'rollback plan cancelled');
    return cancelled;
  }

  /**
   * APPROVED → EXECUTING, exactly once: the checks run again first (CONFLICT naming a FAILED
   * one), then one compare-and-set moves the plan; whoever loses that race — on this instance or
   * another — gets CONFLICT naming the state. The steps run as a job enqueued in the same
   * transaction (key: plan id + execution generation), so the winner's commit is the only way
   * the work starts. Returns the plan EXECUTING (the job finishes it in the background).
   * `fromSchedule`: the scheduled job's own call (a SCHEDULED plan is refused before its time).
   */
  async executePlan({ actor = scriptActor(), ...input }: { id: string; fromSchedule?: boolean; actor?: Actor }): Promise<RollbackPlanRecord> {
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'executeRollbackPlan', actor, targetId: input.id, input }, (audit) => this.execute(runtime, input, audit));
  }

  private async execute(runtime: ServiceRuntime, { id, fromSchedule = false }: { id: string; fromSchedule?: boolean }, audit: AuditRecorder): Promise<RollbackPlanRecord> {
    const plan = await this.requirePlan(runtime, id);
    requireStatus(plan, ['APPROVED'], 'execute');
    if (!fromSchedule && plan.rollbackStrategy === 'SCHEDULED' && plan.scheduledAt && plan.scheduledAt.getTime() > Date.now()) {
      throw new ConflictError(
        `Rollback plan ${plan.id} is SCHEDULED for ${plan.scheduledAt.toISOString()} and runs then by itself: cancel it and create an IMMEDIATE plan to roll back now`,
        { status: plan.status },
      );
    }
    const outcome = await this.check(runtime, planCheckInput(plan, 'execute'));
    const blocking = firstFailed(outcome.checks);
    if (blocking) {
      const updated = await runtime.db.transaction(async (tx) => {
        const row = await store.updatePlanIf(tx, { id, from: ['APPROVED'], set: { safetyChecks: outcome.checks, estimatedDowntime: outcome.estimatedDowntime } });
        if (row) await this.execution.publish(runtime, tx, 'checks-updated', row);
        return row;
      });
      if (!updated) throw await this.stateConflict(runtime, id, 'execute');
      throw checkConflict(updated, blocking, 'executed');
    }
    const started = await this.startExecution(runtime, {
      id,
      from: ['APPROVED'],
      set: { safetyChecks: outcome.checks, estimatedDowntime: outcome.estimatedDowntime, executedAt: new Date(), steps: initialSteps(), error: null },
      change: 'executing',
      audit,
    });
    if (!started) throw await this.stateConflict(runtime, id, 'execute');
    runtime.log.info({ planId: id, generation: started.executionGeneration }, 'rollback plan executing');
    return started;
  }

  /**
   * FAILED → EXECUTING again, resuming after the last completed step (completed steps are not
   * repeated). The checks run again first, knowing which steps already ran. CONFLICT naming the
   * state when the plan is not FAILED, or naming a FAILED check.
   */
  async retryPlan({ actor = scriptActor(), ...input }: { id: string; actor?: Actor }): Promise<RollbackPlanRecord> {
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'retryRollbackPlan', actor, targetId: input.id, input }, (audit) => this.retry(runtime, input, audit));
  }

  private async retry(runtime: ServiceRuntime, { id }: { id: string }, audit: AuditRecorder): Promise<RollbackPlanRecord> {
    const plan = await this.requirePlan(runtime, id);
    requireStatus(plan, ['FAILED'], 'retry');
    const completedSteps = plan.steps.filter((step) => step.status === 'COMPLETED').map((step) => step.name);
    const outcome = await this.check(runtime, { ...planCheckInput(plan, 'resume'), completedSteps });
    const blocking = firstFailed(outcome.checks);
    if (blocking) {
      await runtime.db.transaction(async (tx) => {
        const row = await store.updatePlanIf(tx, { id, from: ['FAILED'], set: { safetyChecks: outcome.checks } });
        if (row) await this.execution.publish(runtime, tx, 'checks-updated', row);
      });
      throw checkConflict(plan, blocking, 'retried');
    }
    const steps = plan.steps.map((step) => (step.status === 'COMPLETED' ? step : { ...step, status: 'PENDING' as const, finishedAt: null }));
    const started = await this.startExecution(runtime, { id, from: ['FAILED'], set: { safetyChecks: outcome.checks, steps, error: null, completedAt: null }, change: 'retrying', audit });
    if (!started) throw await this.stateConflict(runtime, id, 'retry');
    runtime.log.info({ planId: id, generation: started.executionGeneration }, 'rollback plan retried');
    return started;
  }

  /** Job handler of `rollback.execute`: runs or resumes the steps (idempotent; see execution.ts). */
  runExecutionJob({ planId, generation }: { planId: string; generation: number }): Promise<void> {
    return this.execution.run({ planId, generation });
  }

  /**
   * Evaluates distributions' health gates (all untripped ones when `distributionIds` is left
   * out) and acts on each breach exactly once across instances: pause, plan, and with
   * autoExecute approve + execute (./healthGate.ts). Resolves the trips this call made.
   */
  evaluateHealthGates(args: { distributionIds?: readonly string[] } = {}): Promise<HealthGateTrip[]> {
    return this.healthGate.evaluate(args);
  }

  /** Job handler of `rollback.health-gate-execute`: approves and executes a plan the gate created (idempotent). */
  runHealthGateExecutionJob(args: { planId: string; distributionId: string }): Promise<void> {
    return this.healthGate.executeAutomatically(args);
  }

  /** Job handler of `rollback.scheduled`: executes an approved SCHEDULED plan at its time. */
  async runScheduledJob({ planId }: { planId: string }): Promise<void> {
    const runtime = await this.runtime();
    try {
      await this.executePlan({ id: planId, fromSchedule: true, actor: SYSTEM_ACTORS.rollbackScheduler });
    } catch (error) {
      // A cancelled or already-run plan, or a check that fails at the scheduled time, is an
      // answer, not a job failure: the plan records it (checks) and the log says why.
      if (error instanceof DomainError && (error.code === ErrorCode.CONFLICT || error.code === ErrorCode.NOT_FOUND)) {
        runtime.log.warn({ planId, err: error }, 'scheduled rollback plan not executed');
        if (error.code === ErrorCode.CONFLICT) await this.failScheduled(runtime, planId, error.message);
        return;
      }
      throw error;
    }
  }

  /**
   * The live feed of `rollbackPlanStatus`: the plan now (when `planId` names one), then the plan
   * after each status or step change. Unset filters match every plan.
   */
  async planEvents({ planId, extensionId, productId }: { planId?: string | null; extensionId?: string | null; productId?: string | null }): Promise<EventStream<'ROLLBACK_PLAN_CHANGED', RollbackPlanRecord>> {
    const { events } = await this.runtime();
    return events.stream('ROLLBACK_PLAN_CHANGED', {
      initial: planId ? async () => (await this.getPlan({ id: planId })) ?? undefined : undefined,
      select: ({ plan }) =>
        (!planId || plan.id === planId) && (!extensionId || plan.extensionId === extensionId) && (!productId || plan.productId === productId) ? plan : undefined,
    });
  }

  // ---------------------------------------------------------------- internals

  private check(runtime: ServiceRuntime, input: PlanCheckInput): Promise<CheckOutcome> {
    return runSafetyChecks({
      ...input,
      db: runtime.db,
      now: new Date(),
      cdnFile: (fileId) => this.options.cdn.getFile(fileId),
      cdnProvider: () => this.options.cdn.provider(),
    });
  }

  /** The compare-and-set that starts an execution, its job, the event and the audit entry: one transaction. */
  private startExecution(
    runtime: ServiceRuntime,
    { id, from, set, change, audit }: { id: string; from: RollbackStatus[]; set: Partial<store.NewRollbackPlanRow>; change: string; audit: AuditRecorder },
  ): Promise<RollbackPlanRecord | null> {
    return runtime.db.transaction(async (tx) => {
      const current = await store.selectPlan(tx, { id });
      if (!current) return null;
      const generation = current.executionGeneration + 1;
      const row = await store.updatePlanIf(tx, { id, from, generation: current.executionGeneration, set: { ...set, status: 'EXECUTING', executionGeneration: generation } });
      if (!row) return null;
      await runtime.jobs.send('rollback.execute', { planId: id, generation }, { key: executeJobKey(id, generation), tx });
      await this.execution.publish(runtime, tx, change, row);
      await audit.record(tx, { details: { generation } });
      return row;
    });
  }

  /** A SCHEDULED plan that could not run at its time ends FAILED with the reason (not left APPROVED forever). */
  private async failScheduled(runtime: ServiceRuntime, planId: string, why: string): Promise<void> {
    await runtime.db.transaction(async (tx) => {
      const row = await store.updatePlanIf(tx, { id: planId, from: ['APPROVED'], set: { status: 'FAILED', error: `scheduled execution refused: ${why}`, completedAt: new Date() } });
      if (row) await this.execution.publish(runtime, tx, 'failed', row);
    });
  }

  private async requirePlan(runtime: ServiceRuntime, id: string): Promise<RollbackPlanRecord> {
    const plan = isUuid(id) ? await store.selectPlan(runtime.db, { id }) : null;
    if (!plan) throw new NotFoundError('Rollback plan', String(id));
    return plan;
  }

  private async stateConflict(runtime: ServiceRuntime, id: string, action: string): Promise<DomainError> {
    const now = await store.selectPlan(runtime.db, { id });
    if (!now) return new NotFoundError('Rollback plan', id);
    return stateError(now, action);
  }
}

type PlanCheckInput = Omit<Parameters<typeof runSafetyChecks>[0], 'db' | 'now' | 'cdnFile' | 'cdnProvider'>;

function planCheckInput(plan: RollbackPlanRecord, phase: CheckPhase): PlanCheckInput {
  const owner: Owner = { extensionId: plan.extensionId, productId: plan.productId };
  return {
    owner,
    from: parseVersion(plan.fromVersion, 'fromVersion') as ParsedVersion,
    to: parseVersion(plan.toVersion, 'toVersion') as ParsedVersion,
    strategy: plan.rollbackStrategy,
    scheduledAt: plan.scheduledAt,
    planId: plan.id,
    phase,
  };
}

const ALLOWED: Record<string, RollbackStatus[]> = {
  approve: ['PENDING'],
  cancel: ['PENDING', 'APPROVED'],
  execute: ['APPROVED'],
  retry: ['FAILED'],
};

function requireStatus(plan: RollbackPlanRecord, allowed: RollbackStatus[], action: string): void {
  if (!allowed.includes(plan.status)) throw stateError(plan, action);
}

function stateError(plan: RollbackPlanRecord, action: string): ConflictError {
  const allowed = ALLOWED[action] ?? [];
  return new ConflictError(
    `Rollback plan ${plan.id} is ${plan.status}: only a ${allowed.join(' or ')} plan can be ${action === 'approve' ? 'approved' : action === 'cancel' ? 'cancelled' : action === 'execute' ? 'executed' : 'retried'}`,
    { status: plan.status },
  );
}

function checkConflict(plan: RollbackPlanRecord, check: SafetyCheckRecord, action: string): ConflictError {
  return new ConflictError(`Rollback plan ${plan.id} cannot be ${action}: safety check ${check.name} FAILED — ${check.message}`, { check: check.name, status: plan.status });
}

function parseReason(value: unknown, fromVersion: string): string {
  const reason = typeof value === 'string' ? value.trim() : '';
  if (reason.length === 0 || reason.length > REASON_MAX) {
    throw new BadInputError(`reason must be 1–${REASON_MAX} characters: say why clients must leave ${fromVersion}`, { field: 'reason' });
  }
  return reason;
}

function parseStrategy(value: string | null | undefined): RollbackStrategy {
  if (value === undefined || value === null) return 'IMMEDIATE';
  const upper = String(value).toUpperCase();
  if (!(ROLLBACK_STRATEGIES as readonly string[]).includes(upper)) {
    throw new BadInputError(`rollbackStrategy ${JSON.stringify(value)} is not one of ${ROLLBACK_STRATEGIES.join(', ')}`, { field: 'rollbackStrategy' });
  }
  return upper as RollbackStrategy;
}

function parseStatus(value: string): RollbackStatus {
  const upper = String(value).toUpperCase();
  if (!(ROLLBACK_STATUSES as readonly string[]).includes(upper)) {
    throw new BadInputError(`status ${JSON.stringify(value)} is not one of ${ROLLBACK_STATUSES.join(', ')}`, { field: 'status' });
  }
  return upper as RollbackStatus;
}

function parseSchedule(strategy: RollbackStrategy, value: Date | string | null | undefined): Date | null {
  if (value === undefined || value === null) {
    if (strategy === 'SCHEDULED') throw new BadInputError('A SCHEDULED plan needs scheduledAt: the time it runs', { field: 'scheduledAt' });
    return null;
  }
  if (strategy !== 'SCHEDULED') throw new BadInputError(`scheduledAt only applies to SCHEDULED plans; this one is ${strategy}`, { field: 'scheduledAt' });
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new BadInputError(`scheduledAt ${JSON.stringify(String(value))} is not a date: use ISO-8601, e.g. 2030-01-01T12:00:00Z`, { field: 'scheduledAt' });
  return date;
}

export { STEP_NAMES };
