import type { DbExecutor } from '../../db/client.js';
import { haltVersionDistributions, distributeRollback } from '../distribution/halts.js';
import { DomainError } from '../errors.js';
import type { ServiceRuntime } from '../runtime.js';
import { VERSION_PUBLISHED } from '../versions/service.js';
import * as versionStore from '../versions/store.js';
import { ROLLBACK_RAMP } from './estimate.js';
import * as store from './store.js';
import type { RollbackPlanRecord, RollbackStepRecord } from './store.js';

/**
 * Running a plan: three named steps, as a job (`rollback.execute`, keyed by plan id and
 * execution generation) that is safe to run any number of times.
 *
 *   halt-distributions → deprecate-version → distribute-target
 *
 * Crash recovery by construction: a step's work and its COMPLETED entry in the plan's step log
 * commit in one transaction, under a lock on the plan row. So a step is either done and
 * recorded, or neither. Before the work, the step is recorded RUNNING (its own commit, so
 * watchers see it start; `attempts` counts the starts). If the process dies, pg-boss hands the
 * job to another instance (or this one after a restart) once its lease runs out; the run skips
 * COMPLETED steps and does the RUNNING one again — its earlier attempt left nothing behind. Two
 * runners at once (a lease that ran out on a slow, live process) serialise on the row lock and
 * the second finds the step COMPLETED. A failing step marks it and the plan FAILED, with an
 * `error` naming the step; `retryRollbackPlan` resumes from there.
 */

export const STEP_NAMES = ['halt-distributions', 'deprecate-version', 'distribute-target'] as const satisfies readonly RollbackStepRecord['name'][];
export type StepName = (typeof STEP_NAMES)[number];

export function initialSteps(): RollbackStepRecord[] {
  return STEP_NAMES.map((name) => ({ name, status: 'PENDING', startedAt: null, finishedAt: null, message: null, attempts: 0 }));
}

/** Deterministic job key: one job per plan and execution generation. */
export function executeJobKey(planId: string, generation: number): string {
  return `${planId}:g${generation}`;
}

/** A step's work inside the step transaction; returns the message recorded on the step. */
type StepWork = (context: { tx: DbExecutor; runtime: ServiceRuntime; plan: RollbackPlanRecord; now: Date }) => Promise<{ message: string; set?: Partial<store.NewRollbackPlanRow> }>;

const STEPS: Record<StepName, StepWork> = {
  async 'halt-distributions'({ tx, runtime, plan, now }) {
    if (!plan.fromVersionId) throw new Error(`version ${plan.fromVersion} is not on record`);
    const halted = await haltVersionDistributions(tx, { versionId: plan.fromVersionId, reason: `rollback plan ${plan.id}: ${plan.reason}`, events: runtime.events, now });
    return {
      message: halted.length === 0 ? `No distribution of ${plan.fromVersion} was holding a package` : `Halted ${halted.length} distribution(s) of ${plan.fromVersion}: ${halted.map((d) => d.id).join(', ')}`,
    };
  },

  async 'deprecate-version'({ tx, runtime, plan, now }) {
    if (!plan.fromVersionId) throw new Error(`version ${plan.fromVersion} is not on record`);
    const row = await versionStore.markDeprecated(tx, {
      id: plan.fromVersionId,
      reason: `Rolled back to ${plan.toVersion} (rollback plan ${plan.id}): ${plan.reason}`,
      deprecatedBy: plan.approvedBy ?? plan.createdBy,
      at: now,
    });
    if (!row) return { message: `${plan.fromVersion} was already deprecated` };
    await runtime.events.publish(VERSION_PUBLISHED, { action: 'DEPRECATED', version: row }, { tx });
    return { message: `Deprecated ${plan.fromVersion}: it is never offered again` };
  },

  async 'distribute-target'({ tx, runtime, plan, now }) {
    if (!plan.toVersionId) throw new Error(`version ${plan.toVersion} is not on record`);
    const pkg = await store.selectFullPackage(tx, { versionId: plan.toVersionId });
    if (!pkg) throw new Error(`version ${plan.toVersion} has no full update package`);
    const gradual = plan.rollbackStrategy === 'GRADUAL';
    const distribution = await distributeRollback(tx, {
      packageId: pkg.id,
      strategy: gradual ? 'GRADUAL' : 'IMMEDIATE',
      ramp: gradual ? ROLLBACK_RAMP : undefined,
      reason: `rollback plan ${plan.id}: ${plan.fromVersion} → ${plan.toVersion}`,
      createdBy: plan.approvedBy ?? plan.createdBy,
      events: runtime.events,
      jobs: runtime.jobs,
      now,
    });
    return {
      message: `Distributed ${plan.toVersion} (package ${pkg.id}) as rollback distribution ${distribution.id} at ${distribution.percentage}%`,
      set: { rollbackDistributionId: distribution.id },
    };
  },
};

export class RollbackExecution {
  constructor(private readonly runtime: () => Promise<ServiceRuntime>) {}

  /** Publishes ROLLBACK_PLAN_CHANGED inside `tx`: watchers on every instance see it iff it commits. */
  async publish(runtime: ServiceRuntime, tx: DbExecutor, change: string, plan: RollbackPlanRecord): Promise<void> {
    await runtime.events.publish('ROLLBACK_PLAN_CHANGED', { change, plan }, { tx });
  }

  /**
   * Runs the plan's remaining steps for `generation`. Does nothing when the plan is no longer
   * EXECUTING at that generation (done, failed, or a newer retry owns it). Throws only when it
   * could not record the outcome (pg-boss then retries the job, which resumes).
   */
  async run({ planId, generation }: { planId: string; generation: number }): Promise<void> {
    const runtime = await this.runtime();
    const log = runtime.log.child({ planId, generation, component: 'rollback' });
    const plan = await store.selectPlan(runtime.db, { id: planId });
    if (!plan || plan.status !== 'EXECUTING' || plan.executionGeneration !== generation) {
      log.info({ status: plan?.status ?? null }, 'rollback job has nothing to do');
      return;
    }
    for (const name of STEP_NAMES) {
      const started = await this.markStarted(runtime, planId, generation, name);
      if (started === 'gone') return;
      if (started === 'done') continue;
      if (runtime.config.rollback.testHoldStep === name) {
        log.warn({ step: name }, 'rollback step held by ROLLBACK_TEST_HOLD_STEP (test hook)');
        await new Promise(() => {});
      }
      try {
        const outcome = await this.perform(runtime, planId, generation, name);
        if (outcome === 'gone') return;
        log.info({ step: name }, 'rollback step completed');
      } catch (error) {
        const why = describeError(error);
        log.error({ err: error, step: name }, 'rollback step failed');
        await this.fail(runtime, planId, generation, name, why);
        return;
      }
    }
    const completed = await runtime.db.transaction(async (tx) => {
      const row = await store.updatePlanIf(tx, { id: planId, from: ['EXECUTING'], generation, set: { status: 'COMPLETED', completedAt: new Date() } });
      if (row) await this.publish(runtime, tx, 'completed', row);
      return row;
    });
    if (completed) log.info({ rollbackDistributionId: completed.rollbackDistributionId }, 'rollback plan completed');
  }

  /** Records the step RUNNING (attempts + 1). 'done': already COMPLETED; 'gone': the plan moved on. */
  private markStarted(runtime: ServiceRuntime, planId: string, generation: number, name: StepName): Promise<'started' | 'done' | 'gone'> {
    return runtime.db.transaction(async (tx) => {
      const plan = await store.lockPlan(tx, { id: planId });
      if (!plan || plan.status !== 'EXECUTING' || plan.executionGeneration !== generation) return 'gone';
      const step = plan.steps.find((entry) => entry.name === name);
      if (step?.status === 'COMPLETED') return 'done';
      const steps = withStep(plan.steps, name, (entry) => ({ ...entry, status: 'RUNNING', startedAt: new Date().toISOString(), finishedAt: null, message: null, attempts: entry.attempts + 1 }));
      const row = await store.updatePlan(tx, { id: planId, set: { steps } });
      await this.publish(runtime, tx, `step-started:${name}`, row);
      return 'started';
    });
  }

  /** The step's work and its COMPLETED log entry, in one transaction under the plan's row lock. */
  private perform(runtime: ServiceRuntime, planId: string, generation: number, name: StepName): Promise<'done' | 'gone'> {
    return runtime.db.transaction(async (tx) => {
      const plan = await store.lockPlan(tx, { id: planId });
      if (!plan || plan.status !== 'EXECUTING' || plan.executionGeneration !== generation) return 'gone';
      if (plan.steps.find((entry) => entry.name === name)?.status === 'COMPLETED') return 'done';
      const now = new Date();
      if (runtime.config.rollback.testFailStep === name) throw new Error('failed on purpose by ROLLBACK_TEST_FAIL_STEP (test hook)');
      const { message, set } = await STEPS[name]({ tx, runtime, plan, now });
      const steps = withStep(plan.steps, name, (entry) => ({ ...entry, status: 'COMPLETED', finishedAt: new Date().toISOString(), message }));
      const row = await store.updatePlan(tx, { id: planId, set: { ...set, steps } });
      await this.publish(runtime, tx, `step-completed:${name}`, row);
      return 'done';
    });
  }

  private async fail(runtime: ServiceRuntime, planId: string, generation: number, name: StepName, why: string): Promise<void> {
    await runtime.db.transaction(async (tx) => {
      const plan = await store.lockPlan(tx, { id: planId });
      if (!plan || plan.status !== 'EXECUTING' || plan.executionGeneration !== generation) return;
      const steps = withStep(plan.steps, name, (entry) => ({ ...entry, status: 'FAILED', finishedAt: new Date().toISOString(), message: why }));
      const row = await store.updatePlan(tx, { id: planId, set: { steps, status: 'FAILED', error: `step ${name} failed: ${why}`, completedAt: new Date() } });
      await this.publish(runtime, tx, `step-failed:${name}`, row);
    });
  }
}

function withStep(steps: RollbackStepRecord[], name: StepName, change: (entry: RollbackStepRecord) => RollbackStepRecord): RollbackStepRecord[] {
  const current = steps.length > 0 ? steps : initialSteps();
  return current.map((entry) => (entry.name === name ? change(entry) : entry));
}

/** A message safe to store on the plan: domain messages as they are, database errors without their SQL. */
function describeError(error: unknown): string {
  if (error instanceof DomainError) return error.message;
  let current: unknown = error;
  // Drizzle wraps driver errors as "Failed query: <sql>"; the cause says what went wrong.
  while (current instanceof Error && current.message.startsWith('Failed query') && current.cause) current = current.cause;
  return current instanceof Error ? current.message.slice(0, 500) : String(current).slice(0, 500);
}
