import zlib from 'node:zlib';
import { promisify } from 'node:util';

import { DeltaError, type DeltaErrorCode } from './errors.js';

/**
 * zstd with a reference buffer as dictionary: `zstd --patch-from` semantics through Node's own
 * zlib (Node ≥ 22.15). The reference is loaded as raw content, so any run of bytes the target
 * shares with it costs a few bytes; the window covers reference + data so every part of the
 * reference stays reachable (long-distance matching finds far matches). The window log is
 * stored in the delta header: the decoder must allow the same window.
 */

/** Level 19: ~the size of `zstd -19 --patch-from`; generation runs in the background, so size wins over time. */
export const ZSTD_LEVEL = 19;
const MIN_WINDOW_LOG = 10;
/** zstd's window limit on 64-bit builds. */
const MAX_WINDOW_LOG = 31;

const zstdCompressAsync = promisify(zlib.zstdCompress ?? (() => {}));

export function requireZstd(): void {
  if (typeof zlib.zstdCompressSync !== 'function' || typeof zlib.zstdDecompressSync !== 'function') {
    throw new DeltaError('UNSUPPORTED_RUNTIME', `Deltas need zstd in node:zlib (Node ≥ 22.15); this is Node ${process.version}`);
  }
}

/** The smallest window log whose window holds `reference` and `data` together. */
export function windowLogFor(referenceBytes: number, dataBytes: number): number {
  const total = Math.max(1, referenceBytes + dataBytes);
  const log = Math.max(MIN_WINDOW_LOG, Math.ceil(Math.log2(total)));
  if (log > MAX_WINDOW_LOG) throw new DeltaError('LIMIT_EXCEEDED', `Base and target together (${total} bytes) exceed zstd's 2 GiB window`);
  return log;
}

/** Compresses `data` against `reference` (off the main thread: libuv's pool). */
export async function zstdPatch(data: Buffer, reference: Buffer, windowLog: number): Promise<Buffer> {
  requireZstd();
  const { constants } = zlib;
  const options: zlib.ZstdOptions = {
    params: {
      [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_enableLongDistanceMatching]: 1,
      [constants.ZSTD_c_checksumFlag]: 1,
    },
  };
  // An empty dictionary is refused by zstd; without one it is plain compression.
  if (reference.length > 0) options.dictionary = reference;
  return (await zstdCompressAsync(data, options)) as Buffer;
}

/**
 * Inverse of zstdPatch. `expectedBytes` comes from the delta header: more output than that is a
 * corrupt delta, never an allocation the header did not announce.
 */
export function zstdUnpatch(compressed: Buffer, reference: Buffer, windowLog: number, expectedBytes: number, section: string): Buffer {
  requireZstd();
  const options: zlib.ZstdOptions = {
    params: { [zlib.constants.ZSTD_d_windowLogMax]: Math.max(windowLog, MIN_WINDOW_LOG) },
    maxOutputLength: Math.max(1, expectedBytes),
  };
  if (reference.length > 0) options.dictionary = reference;
  let out: Buffer;
  try {
    out = expectedBytes === 0 && compressed.length === 0 ? Buffer.alloc(0) : zlib.zstdDecompressSync(compressed, options);
  } catch (error) {
    const code: DeltaErrorCode = /dictionary/i.test(String(error)) ? 'WRONG_BASE' : 'CORRUPT';
    throw new DeltaError(code, `The delta is corrupted: its ${section} section does not decompress (${(error as Error).message}). Download it again`);
  }
  if (out.length !== expectedBytes) {
    throw new DeltaError('CORRUPT', `The delta is corrupted: its ${section} section holds ${out.length} bytes, its header says ${expectedBytes}`);
  }
  return out;
}
