import { describe, expect, it } from 'vitest';

import { CLIENT_BYTES_PER_SECOND, estimateDowntime, INSTALL_OVERHEAD_SECONDS, ORIGIN_BYTES_PER_SECOND, ROLLBACK_RAMP } from '../../src/services/rollback/estimate.js';

/** `estimatedDowntime` of a rollback plan, by the formula docs/rollback.md states. */
describe('estimateDowntime', () => {
  it('uses the documented constants', () => {
    expect([INSTALL_OVERHEAD_SECONDS, CLIENT_BYTES_PER_SECOND, ORIGIN_BYTES_PER_SECOND]).toEqual([30, 5 * 1024 * 1024, 1024 * 1024 * 1024]);
    expect(ROLLBACK_RAMP).toEqual([
      { percentage: 25, holdSeconds: 300 },
      { percentage: 50, holdSeconds: 300 },
      { percentage: 100, holdSeconds: 0 },
    ]);
  });

  it('is the install overhead alone for an empty package and no clients', () => {
    expect(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: 0, liveClients: 0 })).toBe(30);
  });

  it('IMMEDIATE and SCHEDULED: install (download at the client link, rounded up) plus fan-out through the origin', () => {
    const packageSize = 10 * 1024 * 1024 + 1; // 2 s and a byte at 5 MiB/s → 3 s
    const liveClients = 1000; // ~10 GiB → 10 s and a bit → 11 s
    for (const strategy of ['IMMEDIATE', 'SCHEDULED'] as const) {
      expect(estimateDowntime({ strategy, packageSize, liveClients })).toBe(30 + 3 + 10);
    }
    expect(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: 5 * 1024 * 1024, liveClients: 1 })).toBe(30 + 1 + 1);
    expect(estimateDowntime({ strategy: 'IMMEDIATE', packageSize: 1024 * 1024 * 1024, liveClients: 3 })).toBe(30 + 205 + 3);
  });

  it('GRADUAL: the ramp holds, install, and the fan-out of the largest step share (50 %)', () => {
    const packageSize = 1024 * 1024 * 1024; // install 30 + 205
    const liveClients = 10; // fan-out 10 s, largest step 50 % → 5 s
    expect(estimateDowntime({ strategy: 'GRADUAL', packageSize, liveClients })).toBe(600 + 30 + 205 + 5);
    expect(estimateDowntime({ strategy: 'GRADUAL', packageSize: 0, liveClients: 0 })).toBe(630);
    // The share rounds up: 3 s of fan-out × 50 % → 2 s.
    expect(estimateDowntime({ strategy: 'GRADUAL', packageSize: 1024 * 1024 * 1024, liveClients: 3 })).toBe(600 + 30 + 205 + 2);
  });
});
