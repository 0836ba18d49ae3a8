import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { DeltaError, type DeltaErrorCode } from './errors.js';
import { generateDelta, type GeneratedDelta, type GenerateOptions } from './generate.js';

type WorkerMessage = { progress: number } | { result: GeneratedDelta } | { error: { message: string; code: DeltaErrorCode | null } };

/**
 * generateDelta on a worker thread, so a server keeps answering while it runs: bsdiff's suffix
 * sort, pako's recipe checks and the verification are synchronous work of seconds on large
 * packages. Same result, progress and errors as generateDelta. The base and target are copied
 * to the worker. When the compiled worker script is absent (running from TypeScript sources,
 * as the in-process test servers do) it runs generateDelta on this thread instead.
 */
export function generateDeltaOffThread(base: Buffer, target: Buffer, options: GenerateOptions = {}): Promise<GeneratedDelta> {
  const script = workerScript();
  if (!script) return generateDelta(base, target, options);
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { base, target, limits: options.limits, formats: options.formats } });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    worker.on('message', (message: WorkerMessage) => {
      if ('progress' in message) options.onProgress?.(message.progress);
      else if ('result' in message) settle(() => resolve({ ...message.result, delta: Buffer.from(message.result.delta) }));
      else settle(() => reject(message.error.code ? new DeltaError(message.error.code, message.error.message) : new Error(message.error.message)));
    });
    worker.on('error', (error) => settle(() => reject(error)));
    worker.on('exit', (code) => settle(() => reject(new Error(`the delta generation worker exited with code ${code} before answering`))));
  });
}

/** The compiled worker script beside this module, or null when running from TypeScript sources. */
export function workerScript(): string | null {
  const script = fileURLToPath(new URL('./generateWorker.js', import.meta.url));
  return fs.existsSync(script) ? script : null;
}
