import type { DbExecutor } from '../../db/client.js';
import type { ServiceRuntime } from '../runtime.js';

/** The delta generation queue: one job per generation, keyed by the version pair and the attempt. */
export interface DeltaGenerationJob {
  generationId: string;
}

export const DELTA_GENERATION_QUEUE = 'delta.generate' as const;

/** Automatic mode: one job per new full package (keyed by its id), sent in the package's transaction. */
export interface DeltaAutoJob {
  packageId: string;
}

export const DELTA_AUTO_QUEUE = 'delta.auto' as const;

/** A failed generation asked for again (DELTA_RETRIES): keyed by the failed generation's id, sent when it is marked FAILED. */
export interface DeltaRetryJob {
  failedGenerationId: string;
}

export const DELTA_RETRY_QUEUE = 'delta.retry' as const;

/**
 * Automatic mode, step 1, inside the transaction that records a full package: enqueues the
 * package's `delta.auto` job (keyed by its id; DeltaService.runAutomaticJob is step 2). Nothing
 * with DELTA_AUTO_BASES=0 or for a delta package.
 */
export async function enqueueAutomaticDeltas(runtime: Pick<ServiceRuntime, 'config' | 'jobs'>, tx: DbExecutor, pkg: { id: string; isDelta: boolean }): Promise<void> {
  if (runtime.config.delta.autoBases === 0 || pkg.isDelta) return;
  await runtime.jobs.send(DELTA_AUTO_QUEUE, { packageId: pkg.id }, { key: pkg.id, tx });
}

/** `${fromVersionId}:${toVersionId}:${attempt}`: the same pair's attempt can never be enqueued twice. */
export function deltaGenerationKey({ fromVersionId, toVersionId, attempt }: { fromVersionId: string; toVersionId: string; attempt: number }): string {
  return `${fromVersionId}:${toVersionId}:${attempt}`;
}
