import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { applyDelta, sha256Hex, type ApplyOptions } from './apply.js';
import { inspectDelta } from './container.js';
import { DeltaError } from './errors.js';

export interface ApplyDeltaFileArgs extends ApplyOptions {
  basePath: string;
  deltaPath: string;
  outPath: string;
}

/**
 * applyDelta on files: writes the target to a temporary file beside `outPath`, checks its sha256
 * once more as written, then renames it into place. On any failure nothing is left at `outPath`
 * (an existing file there is untouched) and the temporary file is removed.
 * Resolves the target's sha256.
 */
export async function applyDeltaFile({ basePath, deltaPath, outPath, ...options }: ApplyDeltaFileArgs): Promise<{ sha256: string; bytes: number }> {
  const [base, delta] = await Promise.all([fs.readFile(basePath), fs.readFile(deltaPath)]);
  const target = applyDelta(base, delta, options);
  const expected = inspectDelta(delta).targetSha256;
  const temporary = path.join(path.dirname(path.resolve(outPath)), `.${path.basename(outPath)}.${crypto.randomBytes(6).toString('hex')}.partial`);
  try {
    await fs.writeFile(temporary, target, { flag: 'wx' });
    const written = sha256Hex(await fs.readFile(temporary));
    if (written !== expected) throw new DeltaError('TARGET_MISMATCH', `The file written hashes to ${written}, not ${expected}: the disk returned other bytes`);
    await fs.rename(temporary, outPath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  return { sha256: expected, bytes: target.length };
}
