/**
 * Deltas between two versions of an artifact (a .vsix/.zip/.jar, a .tgz, any file): made on the
 * server, applied by clients. The package's entry point (`import { applyDelta } from
 * 'dev-forge-distribution'`). Format and guarantees: docs/deltas.md.
 */
export { applyDelta, sha256Hex, type ApplyOptions } from './apply.js';
export { generateDelta, type GenerateOptions, type GeneratedDelta, type CandidateOutcome } from './generate.js';
export { generateDeltaOffThread, workerScript } from './offThread.js';
export { inspectDelta, formatName, CONTAINER_VERSION, type DeltaHeader, type DeltaFormat } from './container.js';
export { DeltaError, type DeltaErrorCode } from './errors.js';
export { DEFAULT_LIMITS, type ArchiveLimits } from './limits.js';
export { applyDeltaFile, type ApplyDeltaFileArgs } from './applyFile.js';
