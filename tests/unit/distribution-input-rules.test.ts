import { describe, expect, it } from 'vitest';

import { BUCKETS, bucketsFor, isInRollout, rolloutBucket } from '../../src/services/distribution/bucketing.js';
import { parsePercentage, parsePlan, parseSteps, RAMP_LIMITS } from '../../src/services/distribution/rules.js';
import { refusal } from '../helpers/badInput.js';

/**
 * Distribution requests at their edges, with the message and field each refusal gives (an admin
 * reads them to fix the request), and rollout eligibility exactly at a bucket boundary.
 */

const now = new Date('2030-01-01T00:00:00Z');

describe('parsePercentage', () => {
  it('refuses what is not a number from 0 to 100, naming the field (percentage by default)', () => {
    const outOfRange = (field: string, got: string) => ({ message: `${field} must be a number from 0 to 100 (the share of clients offered the update), got ${got}`, field });
    expect(refusal(() => parsePercentage('50'))).toEqual(outOfRange('percentage', '50'));
    expect(refusal(() => parsePercentage(100.01))).toEqual(outOfRange('percentage', '100.01'));
    expect(refusal(() => parsePercentage(-0.01, 'steps[2].percentage'))).toEqual(outOfRange('steps[2].percentage', '-0.01'));
    expect(refusal(() => parsePercentage(Number.POSITIVE_INFINITY))).toEqual(outOfRange('percentage', 'Infinity'));
    expect([parsePercentage(0), parsePercentage(100), parsePercentage(33.33)]).toEqual([0, 100, 33.33]);
  });

  it('refuses more than two decimals, saying why', () => {
    expect(refusal(() => parsePercentage(12.345))).toEqual({ message: 'percentage 12.345 has more than 2 decimals: eligibility is decided in steps of 0.01 % (10,000 buckets)', field: 'percentage' });
    // Binary floating point: 0.07 × 100 is 7.000000000000001, still two decimals.
    expect(parsePercentage(0.07)).toBe(0.07);
    expect(parsePercentage(99.99)).toBe(99.99);
  });
});

describe('parseSteps', () => {
  const step = (percentage: unknown, holdSeconds: unknown = 60) => ({ percentage, holdSeconds });

  it(`takes 1 to ${RAMP_LIMITS.steps} steps held 0 s to 90 days`, () => {
    expect(RAMP_LIMITS).toEqual({ steps: 20, holdSeconds: 7_776_000 });
    const twenty = Array.from({ length: 20 }, (_, index) => step(index + 1));
    expect(parseSteps(twenty)).toHaveLength(20);
    const listMessage = 'steps must list 1–20 ramp steps such as [{percentage: 1, holdSeconds: 3600}, {percentage: 100, holdSeconds: 0}]';
    expect(refusal(() => parseSteps([...twenty, step(50)]))).toEqual({ message: listMessage, field: 'steps' });
    expect(refusal(() => parseSteps([]))).toEqual({ message: listMessage, field: 'steps' });
    expect(parseSteps([step(10, 0), step(20, 7_776_000)])).toEqual([{ percentage: 10, holdSeconds: 0 }, { percentage: 20, holdSeconds: 7_776_000 }]);
  });

  it.each([7_776_001, -1, 1.5, '60', null])('refuses holdSeconds %j, naming the step', (holdSeconds) => {
    expect(refusal(() => parseSteps([step(10), step(20, holdSeconds)]))).toEqual({
      message: 'steps[1].holdSeconds must be whole seconds from 0 to 7776000 (90 days)',
      field: 'steps[1].holdSeconds',
    });
  });

  it('refuses a missing step or percentage naming it, and a ramp that does not increase', () => {
    expect(refusal(() => parseSteps([step(10), null as never]))).toMatchObject({ field: 'steps[1].holdSeconds' });
    expect(refusal(() => parseSteps([step(10), { holdSeconds: 5 } as never]))).toMatchObject({ field: 'steps[1].percentage', message: expect.stringMatching(/^steps\[1\]\.percentage must be a number/) });
    expect(refusal(() => parseSteps([step(10), step(30), step(30)]))).toEqual({
      message: 'steps must increase: step 2 (30 %) is not above step 1 (30 %). Lower a live percentage with updateDistributionPercentage instead',
      field: 'steps[2].percentage',
    });
  });
});

describe('parsePlan', () => {
  const plan = (input: Record<string, unknown>) => () => parsePlan(input as never, now);

  it('refuses an unknown strategy naming it', () => {
    expect(refusal(plan({ strategy: 'ALL_AT_ONCE' }))).toEqual({ message: 'strategy "ALL_AT_ONCE" is not one of IMMEDIATE, GRADUAL, SCHEDULED', field: 'strategy' });
  });

  it('IMMEDIATE: everyone at once; a percentage other than 100 or a ramp is refused', () => {
    expect(parsePlan({ strategy: 'IMMEDIATE', percentage: null, scheduledAt: null }, now)).toEqual({ strategy: 'IMMEDIATE', percentage: 100, steps: null, scheduledAt: null });
    expect(parsePlan({ strategy: 'IMMEDIATE', percentage: 100 }, now).percentage).toBe(100);
    const message = { message: 'IMMEDIATE offers the update to every client at once: leave percentage and steps out, or use GRADUAL', field: 'percentage' };
    expect(refusal(plan({ strategy: 'IMMEDIATE', percentage: 50 }))).toEqual(message);
    expect(refusal(plan({ strategy: 'IMMEDIATE', steps: [{ percentage: 100, holdSeconds: 0 }] }))).toEqual(message);
  });

  it('GRADUAL needs a percentage or a ramp, and a percentage given with a ramp must be its first step', () => {
    expect(refusal(plan({ strategy: 'GRADUAL' }))).toEqual({ message: 'GRADUAL needs a percentage (the share of clients offered the update) or a ramp of steps', field: 'percentage' });
    const steps = [{ percentage: 5, holdSeconds: 60 }, { percentage: 100, holdSeconds: 0 }];
    expect(parsePlan({ strategy: 'GRADUAL', percentage: 5, steps }, now)).toMatchObject({ percentage: 5, steps });
    expect(refusal(plan({ strategy: 'GRADUAL', percentage: 10, steps }))).toEqual({
      message: "percentage 10 differs from the ramp's first step (5 %): a ramp starts at its first step; leave percentage out",
      field: 'percentage',
    });
  });

  it('scheduledAt: only for SCHEDULED, required there, a valid future time', () => {
    expect(refusal(plan({ strategy: 'GRADUAL', percentage: 10, scheduledAt: '2030-02-01T00:00:00Z' }))).toEqual({ message: 'scheduledAt applies to the SCHEDULED strategy only', field: 'scheduledAt' });
    expect(refusal(plan({ strategy: 'SCHEDULED' }))).toEqual({ message: 'SCHEDULED needs scheduledAt: the time the update goes live', field: 'scheduledAt' });
    expect(refusal(plan({ strategy: 'SCHEDULED', scheduledAt: null }))).toEqual({ message: 'SCHEDULED needs scheduledAt: the time the update goes live', field: 'scheduledAt' });
    expect(refusal(plan({ strategy: 'SCHEDULED', scheduledAt: 'next week' }))).toEqual({ message: 'scheduledAt is not a valid date-time', field: 'scheduledAt' });
    expect(refusal(plan({ strategy: 'SCHEDULED', scheduledAt: now }))).toEqual({ message: 'scheduledAt 2030-01-01T00:00:00.000Z is in the past: give a future time, or use IMMEDIATE', field: 'scheduledAt' });
    expect(parsePlan({ strategy: 'SCHEDULED', scheduledAt: '2030-01-01T00:00:01Z' }, now)).toEqual({ strategy: 'SCHEDULED', percentage: 100, steps: null, scheduledAt: new Date('2030-01-01T00:00:01Z') });
  });
});

describe('rollout eligibility at a bucket boundary', () => {
  it('takes a client in exactly when its bucket is below percentage × 100', () => {
    const salt = 'boundary';
    const client = 'client-at-boundary';
    const bucket = rolloutBucket(salt, client);
    expect(bucket).toBeGreaterThan(0);
    expect(bucket).toBeLessThan(BUCKETS);
    expect(isInRollout(salt, client, bucket / 100)).toBe(false);
    expect(isInRollout(salt, client, (bucket + 1) / 100)).toBe(true);
  });

  it('resolves out-of-range and non-numeric percentages to no one or everyone', () => {
    expect([bucketsFor(-5), bucketsFor(Number.NaN), bucketsFor(0), bucketsFor(0.01), bucketsFor(99.99), bucketsFor(100), bucketsFor(150)]).toEqual([0, 0, 0, 1, 9999, 10_000, 10_000]);
  });
});
