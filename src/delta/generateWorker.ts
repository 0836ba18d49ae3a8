import { parentPort, workerData } from 'node:worker_threads';

import { DeltaError } from './errors.js';
import { generateDelta, type GenerateOptions } from './generate.js';

/**
 * The worker-thread side of generateDeltaOffThread (offThread.ts): generates one delta and posts
 * progress, then the result or the error. Runs only from the compiled file (dist/).
 */
const { base, target, limits, formats } = workerData as { base: Uint8Array; target: Uint8Array; limits: GenerateOptions['limits']; formats: GenerateOptions['formats'] };
try {
  const result = await generateDelta(Buffer.from(base.buffer, base.byteOffset, base.byteLength), Buffer.from(target.buffer, target.byteOffset, target.byteLength), {
    limits,
    formats,
    onProgress: (percent) => parentPort!.postMessage({ progress: percent }),
  });
  parentPort!.postMessage({ result });
} catch (error) {
  parentPort!.postMessage({ error: { message: (error as Error).message, code: error instanceof DeltaError ? error.code : null } });
}
