import zlib from 'node:zlib';

import { DeltaError } from './errors.js';
import type { ArchiveLimits } from './limits.js';

/**
 * A single-member gzip file split into the parts a delta treats differently: the header (mtime,
 * OS, file name… shipped as is), the raw deflate stream (re-created from its content) and the
 * 8-byte trailer (CRC-32 and size, shipped as is).
 */
export interface GzipParts {
  header: Buffer;
  deflated: Buffer;
  trailer: Buffer;
}

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

export function looksLikeGzip(data: Buffer): boolean {
  return data.length >= 18 && data[0] === 0x1f && data[1] === 0x8b && data[2] === 8;
}

/** The parts of a gzip file, or null when it is not one this format handles (bad header, reserved flags). */
export function splitGzip(data: Buffer): GzipParts | null {
  if (!looksLikeGzip(data)) return null;
  const flags = data[3]!;
  if (flags & 0xe0) return null;
  let offset = 10;
  // XLEN is always there to read: looksLikeGzip guarantees 18 bytes. A length running past the
  // end is caught by the trailer check below.
  if (flags & FEXTRA) offset += 2 + data.readUInt16LE(offset);
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const end = data.indexOf(0, offset);
      if (end === -1) return null;
      offset = end + 1;
    }
  }
  if (flags & FHCRC) offset += 2;
  if (offset + 8 > data.length) return null;
  return { header: data.subarray(0, offset), deflated: data.subarray(offset, data.length - 8), trailer: data.subarray(data.length - 8) };
}

/**
 * The uncompressed content of a gzip file (every member), within the limits: inflating stops at
 * `maxUncompressedBytes` (zlib refuses to produce more), and a ratio above `maxCompressionRatio`
 * is refused as a bomb. A stream zlib cannot read is CORRUPT, naming `what`.
 */
export function gunzipWithin(data: Buffer, limits: ArchiveLimits, what: string): Buffer {
  let content: Buffer;
  try {
    content = zlib.gunzipSync(data, { maxOutputLength: limits.maxUncompressedBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DeltaError('LIMIT_EXCEEDED', `The ${what} inflates to more than ${limits.maxUncompressedBytes} bytes (limit maxUncompressedBytes)`);
    }
    throw new DeltaError('CORRUPT', `The ${what} is not a readable gzip stream (${(error as Error).message})`);
  }
  if (content.length > limits.ratioCheckAboveBytes && content.length / data.length > limits.maxCompressionRatio) {
    throw new DeltaError('LIMIT_EXCEEDED', `The ${what} inflates ${Math.round(content.length / data.length)}:1, above the ${limits.maxCompressionRatio}:1 limit: refused as a compression bomb`);
  }
  return content;
}
