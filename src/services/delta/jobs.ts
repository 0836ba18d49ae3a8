/** The delta generation queue: one job per generation, keyed by the version pair and the attempt. */
export interface DeltaGenerationJob {
  generationId: string;
}

export const DELTA_GENERATION_QUEUE = 'delta.generate' as const;

/** `${fromVersionId}:${toVersionId}:${attempt}`: the same pair's attempt can never be enqueued twice. */
export function deltaGenerationKey({ fromVersionId, toVersionId, attempt }: { fromVersionId: string; toVersionId: string; attempt: number }): string {
  return `${fromVersionId}:${toVersionId}:${attempt}`;
}
