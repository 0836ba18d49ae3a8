import crypto from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { BUCKETS, bucketsFor, isInRollout, rolloutBucket } from '../../src/services/distribution/bucketing.js';

const clients = Array.from({ length: 10_000 }, (_, i) => `client-${i}-${crypto.createHash('md5').update(String(i)).digest('hex').slice(0, 8)}`);
const salt = 'b5b3c1f0-5d1e-4c8e-9a55-5c0b9f6f2a11';

const share = (percentage: number, rolloutSalt = salt) =>
  (clients.filter((client) => isInRollout(rolloutSalt, client, percentage)).length / clients.length) * 100;

describe('rolloutBucket', () => {
  it('gives a client the same bucket on every call, in 0..9999', () => {
    for (const client of clients.slice(0, 500)) {
      const bucket = rolloutBucket(salt, client);
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(BUCKETS);
      expect(Number.isInteger(bucket)).toBe(true);
      expect(rolloutBucket(salt, client)).toBe(bucket);
    }
  });

  it('is the documented hash: first 32 bits of sha256("<salt>:<clientId>") mod 10,000 (never change it)', () => {
    // Pinned values: a change here moves clients in and out of every running rollout.
    expect(rolloutBucket('salt-a', 'client-1')).toBe(
      crypto.createHash('sha256').update('salt-a:client-1').digest().readUInt32BE(0) % 10_000,
    );
    expect([rolloutBucket('fixed-salt', 'alice'), rolloutBucket('fixed-salt', 'bob')]).toEqual([3200, 1688]);
  });

  it.each([1, 5, 20, 33.33, 50, 90])('takes in %s %% of 10,000 clients within ±2 points', (percentage) => {
    expect(Math.abs(share(percentage) - percentage)).toBeLessThanOrEqual(2);
  });

  it('takes in no one at 0 % and everyone at 100 %', () => {
    expect(share(0)).toBe(0);
    expect(share(100)).toBe(100);
  });

  it('only grows the eligible set as the percentage rises (nobody leaves)', () => {
    let previous = new Set<string>();
    for (const percentage of [0.5, 1, 5, 12.5, 20, 50, 75, 99.99, 100]) {
      const eligible = new Set(clients.filter((client) => isInRollout(salt, client, percentage)));
      for (const client of previous) expect(eligible.has(client)).toBe(true);
      expect(eligible.size).toBeGreaterThanOrEqual(previous.size);
      previous = eligible;
    }
  });

  it('takes in different first clients for two rollouts (salts)', () => {
    const first = new Set(clients.filter((client) => isInRollout('salt-of-release-1', client, 5)));
    const second = clients.filter((client) => isInRollout('salt-of-release-2', client, 5));
    const overlap = second.filter((client) => first.has(client)).length;
    // Independent 5 % samples overlap in about 5 % of each other; the same salt would overlap 100 %.
    expect(overlap / second.length).toBeLessThan(0.15);
  });

  it('resolves percentages to 0.01 % buckets, robust to float read-back', () => {
    expect(bucketsFor(12.34)).toBe(1234);
    expect(bucketsFor(12.339999999)).toBe(1234);
    expect(bucketsFor(0.01)).toBe(1);
    expect(bucketsFor(-1)).toBe(0);
    expect(bucketsFor(150)).toBe(BUCKETS);
  });

  it('costs a few microseconds per client (measured, not asserted tightly: the machine is shared)', () => {
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) rolloutBucket(salt, clients[i % clients.length]!);
    const perCallUs = ((performance.now() - started) * 1000) / 100_000;
    expect(perCallUs).toBeLessThan(50);
  });
});
