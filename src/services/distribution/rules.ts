import { BadInputError } from '../errors.js';
import type { DistributionStatus, DistributionStrategy, RampStep } from './store.js';

/**
 * The pure rules of distributions: what a valid request is, and which state a distribution is in
 * after each event of its life. No database here.
 */

export const RAMP_LIMITS = {
  steps: 20,
  /** Longest hold between two ramp steps: 90 days. */
  holdSeconds: 90 * 24 * 3600,
};

/** A share of clients: 0–100 with at most 2 decimals (eligibility has 10,000 buckets). */
export function parsePercentage(value: unknown, field = 'percentage'): number {
  const n = typeof value === 'number' ? value : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > 100) {
    throw new BadInputError(`${field} must be a number from 0 to 100 (the share of clients offered the update), got ${String(value)}`, { field });
  }
  if (Math.abs(n * 100 - Math.round(n * 100)) > 1e-6) {
    throw new BadInputError(`${field} ${n} has more than 2 decimals: eligibility is decided in steps of 0.01 % (10,000 buckets)`, { field });
  }
  return Math.round(n * 100) / 100;
}

/** A ramp: 1–20 steps of strictly increasing percentage, each held 0–90 days (whole seconds). */
export function parseSteps(value: readonly { percentage: unknown; holdSeconds: unknown }[] | null | undefined): RampStep[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length === 0 || value.length > RAMP_LIMITS.steps) {
    throw new BadInputError(`steps must list 1–${RAMP_LIMITS.steps} ramp steps such as [{percentage: 1, holdSeconds: 3600}, {percentage: 100, holdSeconds: 0}]`, { field: 'steps' });
  }
  const steps = value.map((step, index) => {
    const holdSeconds = step?.holdSeconds;
    if (typeof holdSeconds !== 'number' || !Number.isInteger(holdSeconds) || holdSeconds < 0 || holdSeconds > RAMP_LIMITS.holdSeconds) {
      throw new BadInputError(`steps[${index}].holdSeconds must be whole seconds from 0 to ${RAMP_LIMITS.holdSeconds} (90 days)`, { field: `steps[${index}].holdSeconds` });
    }
    return { percentage: parsePercentage(step?.percentage, `steps[${index}].percentage`), holdSeconds };
  });
  for (let index = 1; index < steps.length; index++) {
    if (steps[index]!.percentage <= steps[index - 1]!.percentage) {
      throw new BadInputError(
        `steps must increase: step ${index} (${steps[index]!.percentage} %) is not above step ${index - 1} (${steps[index - 1]!.percentage} %). Lower a live percentage with updateDistributionPercentage instead`,
        { field: `steps[${index}].percentage` },
      );
    }
  }
  return steps;
}

export interface DistributionPlan {
  strategy: DistributionStrategy;
  /** The share offered once live (the ramp's first step when there is a ramp). */
  percentage: number;
  steps: RampStep[] | null;
  scheduledAt: Date | null;
}

/** Validates a distributeUpdate request against its strategy. */
export function parsePlan(
  {
    strategy,
    percentage,
    steps,
    scheduledAt,
  }: { strategy: unknown; percentage?: unknown; steps?: { percentage: unknown; holdSeconds: unknown }[] | null; scheduledAt?: Date | string | null },
  now: Date,
): DistributionPlan {
  if (strategy !== 'IMMEDIATE' && strategy !== 'GRADUAL' && strategy !== 'SCHEDULED') {
    throw new BadInputError(`strategy ${JSON.stringify(strategy)} is not one of IMMEDIATE, GRADUAL, SCHEDULED`, { field: 'strategy' });
  }
  const ramp = parseSteps(steps);
  const given = percentage === undefined || percentage === null ? null : parsePercentage(percentage);
  const at = scheduledAt === undefined || scheduledAt === null ? null : new Date(scheduledAt);
  if (at && Number.isNaN(at.getTime())) throw new BadInputError('scheduledAt is not a valid date-time', { field: 'scheduledAt' });
  if (strategy === 'IMMEDIATE') {
    if ((given !== null && given !== 100) || ramp) {
      throw new BadInputError('IMMEDIATE offers the update to every client at once: leave percentage and steps out, or use GRADUAL', { field: 'percentage' });
    }
  }
  if (strategy !== 'SCHEDULED' && at) {
    throw new BadInputError('scheduledAt applies to the SCHEDULED strategy only', { field: 'scheduledAt' });
  }
  if (strategy === 'SCHEDULED') {
    if (!at) throw new BadInputError('SCHEDULED needs scheduledAt: the time the update goes live', { field: 'scheduledAt' });
    if (at.getTime() <= now.getTime()) {
      throw new BadInputError(`scheduledAt ${at.toISOString()} is in the past: give a future time, or use IMMEDIATE`, { field: 'scheduledAt' });
    }
  }
  if (strategy === 'GRADUAL' && given === null && !ramp) {
    throw new BadInputError('GRADUAL needs a percentage (the share of clients offered the update) or a ramp of steps', { field: 'percentage' });
  }
  if (ramp && given !== null && given !== ramp[0]!.percentage) {
    throw new BadInputError(`percentage ${given} differs from the ramp's first step (${ramp[0]!.percentage} %): a ramp starts at its first step; leave percentage out`, { field: 'percentage' });
  }
  return { strategy, percentage: ramp ? ramp[0]!.percentage : (given ?? 100), steps: ramp, scheduledAt: at };
}

/** ACTIVE below 100 %, COMPLETED at 100 %. */
export function liveStatus(percentage: number): Extract<DistributionStatus, 'ACTIVE' | 'COMPLETED'> {
  return percentage >= 100 ? 'COMPLETED' : 'ACTIVE';
}

/** When the step after `stepIndex` is due, or null when the ramp has no further step. */
export function nextStepAt(steps: RampStep[] | null, stepIndex: number, from: Date): Date | null {
  if (!steps || stepIndex + 1 >= steps.length) return null;
  return new Date(from.getTime() + steps[stepIndex]!.holdSeconds * 1000);
}
