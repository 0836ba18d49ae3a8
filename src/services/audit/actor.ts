import { isUuid } from '../ids.js';

/**
 * Who made an audited change. Every audited service method takes one (`actor`); the trail
 * records its `id` and `role`.
 *
 * - `admin`: a caller of the API — `callerActor(ctx.caller)` in resolvers; `id` is the token's `sub`.
 * - `script`: code calling a service directly (the seed's ready-made instances). `id` is the
 *   user id the script passed (`createdBy`, `releasedBy`, …), else `script`.
 * - `system`: the server acting by itself (a job, the health gate): `id` is `system:<name>`,
 *   from SYSTEM_ACTORS — add a name there rather than inventing one at the call site.
 */
export type ActorRole = 'admin' | 'script' | 'system';

export interface Actor {
  id: string;
  role: ActorRole;
}

/** The actor for an authenticated API caller (resolvers: `callerActor(ctx.caller)`). */
export function callerActor(caller: { id: string } | null | undefined): Actor {
  // Admin mutations are refused before the resolver without a caller; `unknown` never reaches the trail in practice.
  return { id: caller?.id ?? 'unknown', role: 'admin' };
}

/** The actor for a script's direct service call: the user id it passed (when it is one), else `script`. */
export function scriptActor(userId?: string | null): Actor {
  return { id: userId && isUuid(userId) ? userId.toLowerCase() : 'script', role: 'script' };
}

/** The server acting on its own. `name`: lowercase words joined by `-`. */
export function systemActor(name: string): Actor {
  return { id: `system:${name}`, role: 'system' };
}

/** The system actors that record changes, by what they are. */
export const SYSTEM_ACTORS = {
  /** Runs an approved SCHEDULED rollback plan at its `scheduledAt` (`executeRollbackPlan`). */
  rollbackScheduler: systemActor('rollback-scheduler'),
  /** The distribution health gate (pauses a distribution and plans a rollback on a breach). */
  healthGate: systemActor('health-gate'),
  /** Asks for deltas to a new full package from the most-installed earlier versions (`generateDeltaPackage`, DELTA_AUTO_BASES). */
  deltaAuto: systemActor('delta-auto'),
  /** Asks again for a delta whose generation failed for a reason that may pass (`generateDeltaPackage`, DELTA_RETRIES). */
  deltaRetry: systemActor('delta-retry'),
} as const satisfies Record<string, Actor>;

const SYSTEM_ID = /^system:[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Whether `id` is one the trail can hold as an actor id: a user id (uuid), `script`, or `system:<name>`. */
export function isActorId(id: string): boolean {
  return isUuid(id) || id === 'script' || SYSTEM_ID.test(id);
}
