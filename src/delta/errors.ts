/**
 * Why a delta could not be made or applied. `code` is stable (the CLI prints it, callers branch
 * on it); the message says what to do.
 */
export type DeltaErrorCode =
  /** The bytes do not start with this project's delta header. */
  | 'NOT_A_DELTA'
  /** A delta container version this code does not know (made by a newer release). */
  | 'UNSUPPORTED_VERSION'
  /** Shorter than its header says: an interrupted download. */
  | 'TRUNCATED'
  /** Its checksum does not match its bytes, or its instructions are inconsistent. */
  | 'CORRUPT'
  /** The base file is not the one the delta was made from. */
  | 'WRONG_BASE'
  /** Applying it did not reproduce the target's sha256 (e.g. a different zlib build on this machine). */
  | 'TARGET_MISMATCH'
  /** An archive exceeds a limit (entry count, uncompressed size, compression ratio). */
  | 'LIMIT_EXCEEDED'
  /** The runtime lacks something the format needs (Node ≥ 22.15 for zstd). */
  | 'UNSUPPORTED_RUNTIME';

export class DeltaError extends Error {
  constructor(
    readonly code: DeltaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DeltaError';
  }
}

/** An entry name fit for an error message: never used as a path, quoted, control characters escaped, bounded. */
export function describeEntryName(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 120 ? `${quoted.slice(0, 117)}…"` : quoted;
}
