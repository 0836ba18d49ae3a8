import crypto from 'node:crypto';

/**
 * Deterministic gradual-rollout eligibility (the contract's "stable hash of rollout id +
 * client id into 10,000 buckets").
 *
 * The bucket is the first 32 bits of sha256(`${salt}:${clientId}`) modulo 10,000. sha256 rather
 * than a faster non-crypto hash because (1) it is uniform and uncorrelated across salts, so two
 * distributions take in different first clients, (2) anyone can recompute it — a client, a
 * support script, or PostgreSQL (`sha256()` + `get_byte`) when a report needs the eligible set
 * in SQL — and (3) at ~1 µs it is noise next to a request (measured in
 * tests/unit/bucketing.test.ts). Modulo bias of 2^32 mod 10,000 is below 1e-6 per bucket.
 *
 * Never change this function: it decides who has which release. A different hash would move
 * clients in and out of every running rollout.
 */

/** How many buckets a percentage is resolved in: 0.01 % steps (percentages have 2 decimals). */
export const BUCKETS = 10_000;

/** The bucket (0..9999) of a client in a rollout salted with `salt`. Stable forever. */
export function rolloutBucket(salt: string, clientId: string): number {
  const digest = crypto.createHash('sha256').update(`${salt}:${clientId}`).digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

/**
 * The number of buckets a percentage takes in: 12.34 % → 1234. Rounded to the nearest bucket so
 * a stored numeric(5,2) read back as a float (12.339999…) lands on the bucket it names.
 */
export function bucketsFor(percentage: number): number {
  if (!(percentage > 0)) return 0;
  if (percentage >= 100) return BUCKETS;
  return Math.round(percentage * 100);
}

/**
 * Whether a client is inside a rollout at `percentage` (0–100): bucket < percentage × 100.
 * Raising the percentage only adds clients (a client's bucket never changes); 100 % takes in
 * everyone, 0 % no one.
 */
export function isInRollout(salt: string, clientId: string, percentage: number): boolean {
  const threshold = bucketsFor(percentage);
  if (threshold >= BUCKETS) return true;
  if (threshold === 0) return false;
  return rolloutBucket(salt, clientId) < threshold;
}
