import { describe, expect, it } from 'vitest';

import { goLiveKey, rampStepKey } from '../../src/services/distribution/jobs.js';
import { liveStatus, nextStepAt, parsePercentage, parsePlan, parseSteps } from '../../src/services/distribution/rules.js';

const now = new Date('2026-11-26T12:00:00Z');
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (error) {
    return (error as { extensions?: { code?: string } }).extensions?.code;
  }
};

describe('parsePercentage', () => {
  it.each([0, 0.01, 12.5, 99.99, 100])('accepts %s', (value) => expect(parsePercentage(value)).toBe(value));
  it.each([-0.01, 100.01, 33.333, Number.NaN, Number.POSITIVE_INFINITY, '50' as unknown as number])('refuses %s with BAD_USER_INPUT', (value) => {
    expect(code(() => parsePercentage(value))).toBe('BAD_USER_INPUT');
  });
  it('keeps two decimals exactly (0.07 × 100 is not an integer in binary)', () => expect(parsePercentage(0.07)).toBe(0.07));
});

describe('parseSteps', () => {
  it('accepts a strictly increasing ramp and null', () => {
    expect(parseSteps(null)).toBeNull();
    expect(parseSteps([{ percentage: 1, holdSeconds: 60 }, { percentage: 100, holdSeconds: 0 }])).toEqual([
      { percentage: 1, holdSeconds: 60 },
      { percentage: 100, holdSeconds: 0 },
    ]);
  });
  it.each([
    ['empty', []],
    ['equal steps', [{ percentage: 5, holdSeconds: 1 }, { percentage: 5, holdSeconds: 1 }]],
    ['decreasing', [{ percentage: 50, holdSeconds: 1 }, { percentage: 20, holdSeconds: 1 }]],
    ['negative hold', [{ percentage: 5, holdSeconds: -1 }]],
    ['fractional hold', [{ percentage: 5, holdSeconds: 1.5 }]],
    ['hold over 90 days', [{ percentage: 5, holdSeconds: 90 * 86400 + 1 }]],
    ['21 steps', Array.from({ length: 21 }, (_, i) => ({ percentage: i + 1, holdSeconds: 1 }))],
    ['percentage over 100', [{ percentage: 101, holdSeconds: 1 }]],
  ])('refuses %s with BAD_USER_INPUT', (_name, steps) => expect(code(() => parseSteps(steps))).toBe('BAD_USER_INPUT'));
});

describe('parsePlan', () => {
  it('IMMEDIATE is 100 %; GRADUAL takes its percentage or its ramp’s first step; SCHEDULED defaults to 100 %', () => {
    expect(parsePlan({ strategy: 'IMMEDIATE' }, now)).toEqual({ strategy: 'IMMEDIATE', percentage: 100, steps: null, scheduledAt: null });
    expect(parsePlan({ strategy: 'GRADUAL', percentage: 5 }, now).percentage).toBe(5);
    expect(parsePlan({ strategy: 'GRADUAL', steps: [{ percentage: 2, holdSeconds: 1 }, { percentage: 9, holdSeconds: 1 }] }, now).percentage).toBe(2);
    const at = new Date(now.getTime() + 1000);
    expect(parsePlan({ strategy: 'SCHEDULED', scheduledAt: at }, now)).toEqual({ strategy: 'SCHEDULED', percentage: 100, steps: null, scheduledAt: at });
  });
  it.each([
    { strategy: 'ROLLING' },
    { strategy: 'IMMEDIATE', percentage: 50 },
    { strategy: 'IMMEDIATE', steps: [{ percentage: 100, holdSeconds: 0 }] },
    { strategy: 'GRADUAL' },
    { strategy: 'GRADUAL', percentage: 5, scheduledAt: new Date(now.getTime() + 1000) },
    { strategy: 'GRADUAL', percentage: 3, steps: [{ percentage: 2, holdSeconds: 1 }] },
    { strategy: 'SCHEDULED' },
    { strategy: 'SCHEDULED', scheduledAt: now },
    { strategy: 'SCHEDULED', scheduledAt: 'not a date' },
  ])('refuses %j with BAD_USER_INPUT', (input) => expect(code(() => parsePlan(input as never, now))).toBe('BAD_USER_INPUT'));
});

describe('lifecycle helpers', () => {
  it('is COMPLETED at 100 % and ACTIVE below', () => {
    expect(liveStatus(100)).toBe('COMPLETED');
    expect(liveStatus(99.99)).toBe('ACTIVE');
  });
  it('dues the next step one hold after the step applied, and none after the last', () => {
    const steps = [{ percentage: 1, holdSeconds: 60 }, { percentage: 10, holdSeconds: 120 }, { percentage: 100, holdSeconds: 0 }];
    expect(nextStepAt(steps, 0, now)).toEqual(new Date(now.getTime() + 60_000));
    expect(nextStepAt(steps, 1, now)).toEqual(new Date(now.getTime() + 120_000));
    expect(nextStepAt(steps, 2, now)).toBeNull();
    expect(nextStepAt(null, 0, now)).toBeNull();
  });
  it('keys a step `${id}:${step}` and adds the generation after a resume or manual change', () => {
    expect(rampStepKey({ distributionId: 'd', step: 3, generation: 0 })).toBe('d:3');
    expect(rampStepKey({ distributionId: 'd', step: 3, generation: 2 })).toBe('d:3:g2');
    expect(goLiveKey({ distributionId: 'd', generation: 0 })).toBe('d:go-live');
    expect(goLiveKey({ distributionId: 'd', generation: 1 })).toBe('d:go-live:g1');
  });
});
