/**
 * The job queues distributions run on, and the deterministic keys that make every step and
 * go-live enqueue (and so run) at most once per generation.
 */

/** Applies step `step` of a distribution's ramp, if the distribution is still at step − 1 of `generation`. */
export interface RampStepJob {
  distributionId: string;
  step: number;
  generation: number;
}

/** Takes a PENDING (scheduled) distribution live, if it is still PENDING at `generation`. */
export interface GoLiveJob {
  distributionId: string;
  generation: number;
}

export const RAMP_STEP_QUEUE = 'distribution.ramp-step' as const;
export const GO_LIVE_QUEUE = 'distribution.go-live' as const;

/** `${distributionId}:${step}`, plus the generation once a resume or manual change started a new one. */
export function rampStepKey({ distributionId, step, generation }: RampStepJob): string {
  return generation === 0 ? `${distributionId}:${step}` : `${distributionId}:${step}:g${generation}`;
}

/** `${distributionId}:go-live`, plus the generation after a resume. */
export function goLiveKey({ distributionId, generation }: GoLiveJob): string {
  return generation === 0 ? `${distributionId}:go-live` : `${distributionId}:go-live:g${generation}`;
}
