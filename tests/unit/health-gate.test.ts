import { describe, expect, it } from 'vitest';

import { assessHealth, describeHealth, HEALTH_GATE_DEFAULTS, HEALTH_GATE_MAX_SAMPLES, HEALTH_GATE_Z, parseHealthGate, wilsonLowerBound } from '../../src/services/distribution/healthGate.js';

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (error) {
    return (error as { extensions?: { code?: string } }).extensions?.code;
  }
};

describe('wilsonLowerBound', () => {
  it('matches published Wilson intervals at z = 1.96 (5 of 10 → 0.2366; 1 of 10 → 0.0179)', () => {
    expect(wilsonLowerBound(5, 10, 1.96)).toBeCloseTo(0.2366, 4);
    expect(wilsonLowerBound(1, 10, 1.96)).toBeCloseTo(0.0179, 4);
  });

  it('uses a one-sided 95 % bound by default (z = Φ⁻¹(0.95) ≈ 1.645)', () => {
    expect(HEALTH_GATE_Z).toBeCloseTo(1.6449, 4);
    // Reference values computed independently from the closed form.
    expect(wilsonLowerBound(7, 40)).toBeCloseTo(0.09776, 5);
    expect(wilsonLowerBound(4, 50)).toBeCloseTo(0.03642, 5);
    expect(wilsonLowerBound(6, 50)).toBeCloseTo(0.06334, 5);
    expect(wilsonLowerBound(3, 4)).toBeCloseTo(0.35617, 5);
    expect(wilsonLowerBound(70, 1000)).toBeCloseTo(0.05786, 5);
  });

  it('is 0 without trials or without failures, below 1 at 100 %, and never above the observed rate', () => {
    expect(wilsonLowerBound(0, 0)).toBe(0);
    expect(wilsonLowerBound(0, 100)).toBe(0);
    expect(wilsonLowerBound(100, 100)).toBeCloseTo(0.97366, 5);
    for (const [failures, trials] of [[1, 2], [3, 40], [50, 1000], [999, 1000]] as const) {
      const bound = wilsonLowerBound(failures, trials);
      expect(bound).toBeGreaterThan(0);
      expect(bound).toBeLessThan(failures / trials);
    }
  });

  it('tightens towards the observed rate as samples grow', () => {
    const bounds = [20, 200, 2000, 20000].map((n) => wilsonLowerBound(n / 10, n));
    for (let i = 1; i < bounds.length; i++) expect(bounds[i]).toBeGreaterThan(bounds[i - 1]!);
    expect(bounds.at(-1)).toBeGreaterThan(0.095);
  });
});

describe('assessHealth', () => {
  const gate = { minSamples: 50, maxFailureRate: 0.05, autoExecute: false };

  it('counts FAILED and ROLLED_BACK as failures, INSTALLED as success', () => {
    expect(assessHealth(gate, { installed: 33, failed: 5, rolledBack: 2 })).toEqual({
      samples: 40,
      failures: 7,
      observedRate: 0.175,
      wilsonLowerBound: expect.closeTo(0.09776, 5),
      breached: false, // 40 < minSamples
    });
  });

  it('does not trip on a few early failures: 3 of 4 is below minSamples even though its bound is 35.6 %', () => {
    expect(assessHealth(gate, { installed: 1, failed: 3, rolledBack: 0 }).breached).toBe(false);
  });

  it('does not trip on a raw ratio above the threshold whose lower bound is not (4 of 50 = 8 %, bound 3.6 %)', () => {
    const health = assessHealth(gate, { installed: 46, failed: 4, rolledBack: 0 });
    expect(health.observedRate).toBeGreaterThan(gate.maxFailureRate);
    expect(health.breached).toBe(false);
  });

  it('trips once the bound is above the threshold with enough samples (6 of 50: bound 6.3 %)', () => {
    expect(assessHealth(gate, { installed: 44, failed: 3, rolledBack: 3 }).breached).toBe(true);
    expect(assessHealth(gate, { installed: 45, failed: 5, rolledBack: 0 }).breached).toBe(false);
  });

  it('has no rate without samples', () => {
    expect(assessHealth(gate, { installed: 0, failed: 0, rolledBack: 0 })).toEqual({ samples: 0, failures: 0, observedRate: null, wilsonLowerBound: 0, breached: false });
  });

  it('describes the numbers a person checks', () => {
    const lenient = { ...gate, minSamples: 10 };
    expect(describeHealth(lenient, assessHealth(lenient, { installed: 33, failed: 7, rolledBack: 0 }))).toBe('7 failures in 40 installs (17.5 %, Wilson lower bound 9.8 % > 5 %)');
    expect(describeHealth(gate, assessHealth(gate, { installed: 0, failed: 1, rolledBack: 0 }))).toBe('1 failure in 1 install (100 %, Wilson lower bound 27 % > 5 %)');
  });
});

describe('parseHealthGate', () => {
  it('is null without a gate and fills in the defaults for fields left out', () => {
    expect(parseHealthGate(null)).toBeNull();
    expect(parseHealthGate(undefined)).toBeNull();
    expect(parseHealthGate({})).toEqual(HEALTH_GATE_DEFAULTS);
    expect(HEALTH_GATE_DEFAULTS).toEqual({ minSamples: 50, maxFailureRate: 0.05, autoExecute: false });
    expect(parseHealthGate({ minSamples: 1, maxFailureRate: 0.999, autoExecute: true })).toEqual({ minSamples: 1, maxFailureRate: 0.999, autoExecute: true });
  });

  it.each([
    { minSamples: 0 },
    { minSamples: -5 },
    { minSamples: 2.5 },
    { minSamples: 10_000_000 },
    { maxFailureRate: 0 },
    { maxFailureRate: 1 },
    { maxFailureRate: -0.1 },
    { maxFailureRate: 5 },
    { maxFailureRate: Number.NaN },
  ])('refuses %o with BAD_USER_INPUT', (input) => {
    expect(code(() => parseHealthGate(input))).toBe('BAD_USER_INPUT');
  });

  it('accepts the largest minSamples, and names the field and the value it refuses', () => {
    expect(parseHealthGate({ minSamples: HEALTH_GATE_MAX_SAMPLES })).toMatchObject({ minSamples: 1_000_000 });
    expect(() => parseHealthGate({ minSamples: 1_000_001 })).toThrow(
      expect.objectContaining({
        message: 'healthGate.minSamples must be a whole number from 1 to 1000000 (client outcomes before the gate may act), got 1000001',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'healthGate.minSamples' }),
      }),
    );
    expect(() => parseHealthGate({ maxFailureRate: 1 })).toThrow(
      expect.objectContaining({
        message: 'healthGate.maxFailureRate must be a fraction strictly between 0 and 1 (0.05 = 5 % of installs failing), got 1',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'healthGate.maxFailureRate' }),
      }),
    );
  });
});

describe('the threshold itself', () => {
  it('is not a breach when the bound equals maxFailureRate exactly (the bound must be above it), and reads ≤', () => {
    const atBound = { minSamples: 10, maxFailureRate: wilsonLowerBound(3, 10), autoExecute: false };
    const health = assessHealth(atBound, { installed: 7, failed: 3, rolledBack: 0 });
    expect(health).toMatchObject({ samples: 10, failures: 3, breached: false });
    expect(describeHealth(atBound, health)).toMatch(/ ≤ /);
  });

  it('reads ≤ for a healthy release (4 of 50: bound 3.6 % under 5 %)', () => {
    const gate = { minSamples: 50, maxFailureRate: 0.05, autoExecute: false };
    expect(describeHealth(gate, assessHealth(gate, { installed: 46, failed: 4, rolledBack: 0 }))).toBe('4 failures in 50 installs (8 %, Wilson lower bound 3.6 % ≤ 5 %)');
  });
});
