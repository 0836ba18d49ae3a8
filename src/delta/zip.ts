import zlib from 'node:zlib';

import { describeEntryName, DeltaError } from './errors.js';
import type { ArchiveLimits } from './limits.js';

/**
 * Just enough of the zip format (PKWARE APPNOTE) to find each entry's compressed bytes and their
 * content. Headers, central directory, extra fields and comments are never rebuilt — a delta
 * ships them as bytes — so nothing here has to re-create them. Names are only ever read for
 * error messages: nothing is written to a file system.
 */
export interface ZipEntry {
  /** For error messages only (never a path). */
  name: string;
  method: number;
  /** General-purpose flags; bit 0 = encrypted. */
  flags: number;
  localHeaderOffset: number;
  /** Where the compressed bytes start (after the local header, its name and extra field). */
  dataOffset: number;
  compressedSize: number;
  uncompressedSize: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_MIN = 22;
const STORED = 0;
const DEFLATED = 8;

/** A zip starts with a local header, or (self-extracting, prefixed) ends with an end-of-central-directory record. */
export function looksLikeZip(data: Buffer): boolean {
  if (data.length < EOCD_MIN) return false;
  return data.readUInt32LE(0) === LOCAL_SIGNATURE || findEndOfCentralDirectory(data) >= 0;
}

function notReadable(detail: string): DeltaError {
  return new DeltaError('CORRUPT', `The zip archive cannot be read: ${detail}`);
}

/**
 * The entries of a zip, in central-directory order, after checking the limits on count, total
 * uncompressed size and ratio (as declared; inflating checks the declared sizes are honest).
 * Throws CORRUPT for what is not a zip this reader handles (zip64, split archives, bad offsets)
 * and LIMIT_EXCEEDED past a limit.
 */
export function readZipEntries(data: Buffer, limits: ArchiveLimits): ZipEntry[] {
  const eocd = findEndOfCentralDirectory(data);
  if (eocd < 0) throw notReadable('no end-of-central-directory record');
  const disk = data.readUInt16LE(eocd + 4);
  const count = data.readUInt16LE(eocd + 10);
  const centralSize = data.readUInt32LE(eocd + 12);
  const centralOffset = data.readUInt32LE(eocd + 16);
  if (disk !== 0) throw notReadable('split archives are not supported');
  if (count === 0xffff || centralOffset === 0xffffffff || centralSize === 0xffffffff) throw notReadable('zip64 archives are not supported');
  if (count > limits.maxEntries) throw new DeltaError('LIMIT_EXCEEDED', `The zip archive has ${count} entries, above the limit of ${limits.maxEntries} (maxEntries)`);
  if (centralOffset + centralSize > eocd) throw notReadable('the central directory lies outside the file');
  const entries: ZipEntry[] = [];
  let offset = centralOffset;
  let totalUncompressed = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 46 > eocd || data.readUInt32LE(offset) !== CENTRAL_SIGNATURE) throw notReadable(`central directory record ${i} is damaged`);
    const flags = data.readUInt16LE(offset + 8);
    const method = data.readUInt16LE(offset + 10);
    const compressedSize = data.readUInt32LE(offset + 20);
    const uncompressedSize = data.readUInt32LE(offset + 24);
    const nameLength = data.readUInt16LE(offset + 28);
    const extraLength = data.readUInt16LE(offset + 30);
    const commentLength = data.readUInt16LE(offset + 32);
    const localHeaderOffset = data.readUInt32LE(offset + 42);
    const name = data.toString('utf8', offset + 46, Math.min(offset + 46 + nameLength, data.length));
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) throw notReadable(`entry ${describeEntryName(name)} uses zip64 sizes`);
    if (localHeaderOffset + 30 > data.length || data.readUInt32LE(localHeaderOffset) !== LOCAL_SIGNATURE) throw notReadable(`the local header of entry ${describeEntryName(name)} is missing`);
    const dataOffset = localHeaderOffset + 30 + data.readUInt16LE(localHeaderOffset + 26) + data.readUInt16LE(localHeaderOffset + 28);
    if (dataOffset + compressedSize > data.length) throw notReadable(`entry ${describeEntryName(name)} runs past the end of the file`);
    totalUncompressed += uncompressedSize;
    if (totalUncompressed > limits.maxUncompressedBytes) {
      throw new DeltaError('LIMIT_EXCEEDED', `The zip archive's entries hold more than ${limits.maxUncompressedBytes} uncompressed bytes (limit maxUncompressedBytes)`);
    }
    if (uncompressedSize > limits.ratioCheckAboveBytes && uncompressedSize / Math.max(1, compressedSize) > limits.maxCompressionRatio) {
      throw new DeltaError(
        'LIMIT_EXCEEDED',
        `Entry ${describeEntryName(name)} inflates ${Math.round(uncompressedSize / Math.max(1, compressedSize))}:1, above the ${limits.maxCompressionRatio}:1 limit: refused as a zip bomb`,
      );
    }
    entries.push({ name, method, flags, localHeaderOffset, dataOffset, compressedSize, uncompressedSize });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEndOfCentralDirectory(data: Buffer): number {
  const stop = Math.max(0, data.length - EOCD_MIN - 0xffff);
  for (let offset = data.length - EOCD_MIN; offset >= stop; offset--) {
    if (data.readUInt32LE(offset) === EOCD_SIGNATURE && offset + EOCD_MIN + data.readUInt16LE(offset + 20) === data.length) return offset;
  }
  return -1;
}

/** Whether the entry's content can be read: stored or deflated, not encrypted. */
export function hasReadableContent(entry: ZipEntry): boolean {
  return (entry.flags & 1) === 0 && (entry.method === STORED || entry.method === DEFLATED);
}

export function isDeflated(entry: ZipEntry): boolean {
  return entry.method === DEFLATED && (entry.flags & 1) === 0;
}

export function compressedBytes(data: Buffer, entry: ZipEntry): Buffer {
  return data.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
}

/** The entry's content; inflating never produces more than the declared size (an entry that would is refused). */
export function entryContent(data: Buffer, entry: ZipEntry): Buffer {
  const raw = compressedBytes(data, entry);
  if (entry.method === STORED) return raw;
  let content: Buffer;
  try {
    content = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (error) {
    // zlib stops at maxOutputLength with this code: the entry holds more than its header declares.
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new DeltaError('LIMIT_EXCEEDED', `Entry ${describeEntryName(entry.name)} inflates to more than its declared ${entry.uncompressedSize} bytes: refused`);
    throw notReadable(`entry ${describeEntryName(entry.name)} does not inflate (${(error as Error).message})`);
  }
  if (content.length !== entry.uncompressedSize) throw notReadable(`entry ${describeEntryName(entry.name)} inflates to ${content.length} bytes, its header says ${entry.uncompressedSize}`);
  return content;
}

/**
 * Every readable entry's content, concatenated in central-directory order: what a zip delta's
 * content is compressed against (renamed and moved files are still found in it).
 */
export function zipContents(data: Buffer, limits: ArchiveLimits): Buffer {
  const parts: Buffer[] = [];
  for (const entry of readZipEntries(data, limits)) if (hasReadableContent(entry)) parts.push(entryContent(data, entry));
  return Buffer.concat(parts);
}
