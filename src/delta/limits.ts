/**
 * Bounds on what reading an archive may cost. Both sides use them: generation reads the full
 * packages, applying reads the client's base. Exceeding one is a `LIMIT_EXCEEDED` DeltaError,
 * never a partial result.
 */
export interface ArchiveLimits {
  /** Entries in one zip (default 65,536). */
  maxEntries: number;
  /** Uncompressed bytes of one archive, all entries together (default 1 GiB; at least 1, as zlib requires of an output bound). */
  maxUncompressedBytes: number;
  /**
   * Largest uncompressed/compressed ratio of an entry (or a gzip stream) that inflates to more
   * than `ratioCheckAboveBytes` (default 1000; deflate cannot exceed ~1032 on ordinary data, so
   * only crafted bombs and runs of one byte go beyond).
   */
  maxCompressionRatio: number;
  /** Entries smaller than this skip the ratio check (default 1 MiB): tiny files compress absurdly well. */
  ratioCheckAboveBytes: number;
  /** Largest target a delta may produce (default 1 GiB): the applier allocates it. */
  maxTargetBytes: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = Object.freeze({
  maxEntries: 65_536,
  maxUncompressedBytes: 1024 * 1024 * 1024,
  maxCompressionRatio: 1000,
  ratioCheckAboveBytes: 1024 * 1024,
  maxTargetBytes: 1024 * 1024 * 1024,
});

export function withDefaults(limits?: Partial<ArchiveLimits>): ArchiveLimits {
  return { ...DEFAULT_LIMITS, ...limits };
}
