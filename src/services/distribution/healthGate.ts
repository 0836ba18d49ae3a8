import type { HealthGateRecord } from '../../db/schema.js';
import { BadInputError } from '../errors.js';

/**
 * The rules of a distribution's health gate (automatic rollback), pure: its settings and
 * defaults, and the statistic that decides a breach from client reports. No database here; the
 * rollback domain acts on a breach (services/rollback/healthGate.ts).
 *
 * A breach needs both:
 *   trials = installed + failed + rolledBack ≥ minSamples, and
 *   the Wilson score lower bound of the failure rate (failed + rolledBack) / trials > maxFailureRate.
 * The lower bound is the failure rate we are 95 % sure the release is at least at (one-sided):
 * a raw ratio above the threshold on a small sample does not trip it (4 failures in 50 is 8 %,
 * but the bound is 3.6 %), while a clearly bad release does as soon as the evidence is there.
 * minSamples guards what the bound alone would not: 3 failures in the first 4 installs have a
 * bound of 35.6 %, yet four outcomes from the most eager clients say little about the rest.
 */

export type { HealthGateRecord };

/**
 * Defaults for fields the caller leaves out; docs/rollback.md explains the choice.
 * - minSamples 50: besides the statistic, the first installs come from the most eager clients
 *   (not representative) and report in bursts; 50 outcomes is the floor of evidence for an
 *   automatic action. At 50 trials and 5 % a breach needs 6 failures (12 %).
 * - maxFailureRate 0.05: a healthy extension update fails on well under 1 % of installs; 5 %
 *   is clearly broken, and far enough above normal noise that the gate does not cry wolf.
 * - autoExecute false: the pause already stops new clients from getting the release; rolling
 *   every client back (deprecating the version) is a bigger step a person approves unless the
 *   distribution opted in.
 */
export const HEALTH_GATE_DEFAULTS: HealthGateRecord = { minSamples: 50, maxFailureRate: 0.05, autoExecute: false };

/** z of a one-sided 95 % bound (Φ⁻¹(0.95)). */
export const HEALTH_GATE_Z = 1.6448536269514722;

/** Largest minSamples accepted: a gate that can never trip is a mistake, not a setting. */
export const HEALTH_GATE_MAX_SAMPLES = 1_000_000;

export interface HealthGateInput {
  minSamples?: number | null;
  maxFailureRate?: number | null;
  autoExecute?: boolean | null;
}

/** Validates a gate and fills in defaults. BAD_USER_INPUT: minSamples not a whole number ≥ 1, maxFailureRate not strictly between 0 and 1. */
export function parseHealthGate(input: HealthGateInput | null | undefined): HealthGateRecord | null {
  if (input === undefined || input === null) return null;
  const minSamples = input.minSamples ?? HEALTH_GATE_DEFAULTS.minSamples;
  if (typeof minSamples !== 'number' || !Number.isInteger(minSamples) || minSamples < 1 || minSamples > HEALTH_GATE_MAX_SAMPLES) {
    throw new BadInputError(`healthGate.minSamples must be a whole number from 1 to ${HEALTH_GATE_MAX_SAMPLES} (client outcomes before the gate may act), got ${String(input.minSamples)}`, {
      field: 'healthGate.minSamples',
    });
  }
  const maxFailureRate = input.maxFailureRate ?? HEALTH_GATE_DEFAULTS.maxFailureRate;
  if (typeof maxFailureRate !== 'number' || !Number.isFinite(maxFailureRate) || maxFailureRate <= 0 || maxFailureRate >= 1) {
    throw new BadInputError(`healthGate.maxFailureRate must be a fraction strictly between 0 and 1 (0.05 = 5 % of installs failing), got ${String(input.maxFailureRate)}`, {
      field: 'healthGate.maxFailureRate',
    });
  }
  return { minSamples, maxFailureRate, autoExecute: input.autoExecute ?? HEALTH_GATE_DEFAULTS.autoExecute };
}

/**
 * Wilson score interval's lower bound for `successes` of `trials` (here: failures of installs),
 * at `z` (default: one-sided 95 %). 0 when there are no trials. Unlike the normal approximation
 * it stays inside [0, 1] and is honest for small samples and rates near 0.
 */
export function wilsonLowerBound(successes: number, trials: number, z = HEALTH_GATE_Z): number {
  if (!(trials > 0)) return 0;
  const p = successes / trials;
  const z2 = z * z;
  const centre = p + z2 / (2 * trials);
  const margin = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return Math.max(0, (centre - margin) / (1 + z2 / trials));
}

export interface HealthCounts {
  installed: number;
  failed: number;
  rolledBack: number;
}

export interface HealthAssessment {
  /** installed + failed + rolledBack. */
  samples: number;
  /** failed + rolledBack. */
  failures: number;
  /** failures / samples; null without samples. */
  observedRate: number | null;
  wilsonLowerBound: number;
  /** samples ≥ minSamples and wilsonLowerBound > maxFailureRate. */
  breached: boolean;
}

export function assessHealth(gate: HealthGateRecord, counts: HealthCounts): HealthAssessment {
  const failures = counts.failed + counts.rolledBack;
  const samples = counts.installed + failures;
  const lowerBound = wilsonLowerBound(failures, samples);
  return {
    samples,
    failures,
    observedRate: samples > 0 ? failures / samples : null,
    wilsonLowerBound: lowerBound,
    breached: samples >= gate.minSamples && lowerBound > gate.maxFailureRate,
  };
}

/** "7 failures in 40 installs (17.5 %, Wilson lower bound 9.8 % > 5 %)" — the numbers a person checks. */
export function describeHealth(gate: HealthGateRecord, health: HealthAssessment): string {
  return `${health.failures} failure${health.failures === 1 ? '' : 's'} in ${health.samples} install${health.samples === 1 ? '' : 's'} (${percent(health.observedRate ?? 0)}, Wilson lower bound ${percent(health.wilsonLowerBound)} ${health.wilsonLowerBound > gate.maxFailureRate ? '>' : '≤'} ${percent(gate.maxFailureRate)})`;
}

function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))} %`;
}
