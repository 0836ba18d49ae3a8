import type { RollbackStrategy } from './store.js';

/**
 * `estimatedDowntime`: seconds from the start of execution until the last live client runs the
 * target version, under stated assumptions (docs/rollback.md shows the formula):
 *
 *   install  = INSTALL_OVERHEAD_SECONDS + ceil(packageSize / CLIENT_BYTES_PER_SECOND)
 *              (one client: download at a modest client link, then apply and restart)
 *   fanOut   = ceil(liveClients × packageSize / ORIGIN_BYTES_PER_SECOND)
 *              (every live client downloading at once, bounded by what the CDN serves)
 *   IMMEDIATE, SCHEDULED (from scheduledAt) = install + fanOut
 *   GRADUAL  = ROLLBACK_RAMP's total hold + install + ceil(fanOut × largest step share)
 *              (the last step's clients download together, the others earlier)
 *
 * `liveClients` is the installs clients reported for the current version, less those reported
 * rolled back. An estimate, not a promise: it is for comparing strategies before approving.
 */

export const INSTALL_OVERHEAD_SECONDS = 30;
export const CLIENT_BYTES_PER_SECOND = 5 * 1024 * 1024;
export const ORIGIN_BYTES_PER_SECOND = 1024 * 1024 * 1024;

/** The ramp a GRADUAL rollback follows: share of clients above the target, then hold. */
export const ROLLBACK_RAMP: readonly { percentage: number; holdSeconds: number }[] = [
  { percentage: 25, holdSeconds: 300 },
  { percentage: 50, holdSeconds: 300 },
  { percentage: 100, holdSeconds: 0 },
];

export function estimateDowntime({ strategy, packageSize, liveClients }: { strategy: RollbackStrategy; packageSize: number; liveClients: number }): number {
  const install = INSTALL_OVERHEAD_SECONDS + Math.ceil(packageSize / CLIENT_BYTES_PER_SECOND);
  const fanOut = Math.ceil((liveClients * packageSize) / ORIGIN_BYTES_PER_SECOND);
  if (strategy !== 'GRADUAL') return install + fanOut;
  const hold = ROLLBACK_RAMP.reduce((total, step) => total + step.holdSeconds, 0);
  let largestShare = 0;
  let previous = 0;
  for (const step of ROLLBACK_RAMP) {
    largestShare = Math.max(largestShare, step.percentage - previous);
    previous = step.percentage;
  }
  return hold + install + Math.ceil((fanOut * largestShare) / 100);
}
