import crypto from 'node:crypto';

import { corrupt } from './bytes.js';
import { DeltaError } from './errors.js';

/**
 * The delta container, version 1 (documented in docs/deltas.md). All integers little-endian.
 *
 *   0   8  magic 89 'D' 'F' 'D' 'L' 'T' 0d 0a (a text transfer mangling CR/LF or the high bit shows)
 *   8   2  container version (1)
 *  10   1  format: 1 raw, 2 gzip, 3 zip, 4 bsdiff (what the target was read as / how it was matched)
 *  11   1  base view: 0 raw bytes, 1 gunzipped, 2 zip entry contents (what content is diffed against)
 *  12   1  zstd window log
 *  13   3  reserved, zero
 *  16  32  sha256 of the base
 *  48  32  sha256 of the target
 *  80   8  base size
 *  88   8  target size
 *  96   8  content length (uncompressed)
 * 104   8  literals length (uncompressed)
 * 112   8  instructions length (uncompressed)
 * 120   4  recipes section length
 * 124   4  instructions section length (zstd, no dictionary)
 * 128   8  literals section length (zstd, dictionary: the base file)
 * 136   8  content section length (zstd, dictionary: the base view)
 * 144  32  sha256 of bytes 0..144 and of everything after the header
 * 176      sections, in that order
 */
export const MAGIC = Buffer.from([0x89, 0x44, 0x46, 0x44, 0x4c, 0x54, 0x0d, 0x0a]);
export const CONTAINER_VERSION = 1;
export const HEADER_BYTES = 176;
const CHECKSUM_OFFSET = 144;

export const FORMATS = { raw: 1, gzip: 2, zip: 3, bsdiff: 4 } as const;
export type DeltaFormat = keyof typeof FORMATS;
export const BASE_VIEWS = { raw: 0, gzip: 1, zip: 2 } as const;
export type BaseView = keyof typeof BASE_VIEWS;

/** The `deltaFormat` recorded on update packages: container version + how the target was read. */
export function formatName(format: DeltaFormat): string {
  return `dfd1-${format}`;
}

export interface DeltaHeader {
  format: DeltaFormat;
  baseView: BaseView;
  windowLog: number;
  baseSha256: string;
  targetSha256: string;
  baseSize: number;
  targetSize: number;
  contentLength: number;
  literalsLength: number;
  instructionsLength: number;
}

export interface DeltaSections {
  recipes: Buffer;
  instructions: Buffer;
  literals: Buffer;
  content: Buffer;
}

export function encodeContainer(header: DeltaHeader, sections: DeltaSections): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(head, 0);
  head.writeUInt16LE(CONTAINER_VERSION, 8);
  head.writeUInt8(FORMATS[header.format], 10);
  head.writeUInt8(BASE_VIEWS[header.baseView], 11);
  head.writeUInt8(header.windowLog, 12);
  Buffer.from(header.baseSha256, 'hex').copy(head, 16);
  Buffer.from(header.targetSha256, 'hex').copy(head, 48);
  head.writeBigUInt64LE(BigInt(header.baseSize), 80);
  head.writeBigUInt64LE(BigInt(header.targetSize), 88);
  head.writeBigUInt64LE(BigInt(header.contentLength), 96);
  head.writeBigUInt64LE(BigInt(header.literalsLength), 104);
  head.writeBigUInt64LE(BigInt(header.instructionsLength), 112);
  head.writeUInt32LE(sections.recipes.length, 120);
  head.writeUInt32LE(sections.instructions.length, 124);
  head.writeBigUInt64LE(BigInt(sections.literals.length), 128);
  head.writeBigUInt64LE(BigInt(sections.content.length), 136);
  const body = [sections.recipes, sections.instructions, sections.literals, sections.content];
  checksum(head.subarray(0, CHECKSUM_OFFSET), body).copy(head, CHECKSUM_OFFSET);
  return Buffer.concat([head, ...body]);
}

function checksum(head: Buffer, body: Buffer[]): Buffer {
  const hash = crypto.createHash('sha256').update(head);
  for (const part of body) hash.update(part);
  return hash.digest();
}

function safeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`its ${field} is impossibly large`);
  return Number(value);
}

/**
 * Reads and checks a container: magic, version, complete length (TRUNCATED names how much is
 * missing), then the checksum over header and sections (CORRUPT). Only then are fields trusted.
 */
export function decodeContainer(delta: Buffer): { header: DeltaHeader; sections: DeltaSections } {
  if (delta.length < MAGIC.length || !delta.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new DeltaError('NOT_A_DELTA', 'This file is not a Dev Forge delta (its first bytes are not the delta header)');
  }
  if (delta.length < HEADER_BYTES) throw new DeltaError('TRUNCATED', `The delta is truncated: ${delta.length} bytes, not even its ${HEADER_BYTES}-byte header. Download it again`);
  const version = delta.readUInt16LE(8);
  if (version !== CONTAINER_VERSION) {
    throw new DeltaError('UNSUPPORTED_VERSION', `The delta uses container version ${version}; this code reads version ${CONTAINER_VERSION}. Update dev-forge-distribution`);
  }
  const lengths = [delta.readUInt32LE(120), delta.readUInt32LE(124), safeNumber(delta.readBigUInt64LE(128), 'literals length'), safeNumber(delta.readBigUInt64LE(136), 'content length')];
  const expected = HEADER_BYTES + lengths.reduce((sum, length) => sum + length, 0);
  if (delta.length < expected) throw new DeltaError('TRUNCATED', `The delta is truncated: ${delta.length} of ${expected} bytes. Download it again`);
  if (delta.length > expected) throw corrupt(`it has ${delta.length - expected} bytes past its end`);
  const body: Buffer[] = [];
  let offset = HEADER_BYTES;
  for (const length of lengths) {
    body.push(delta.subarray(offset, offset + length));
    offset += length;
  }
  if (!checksum(delta.subarray(0, CHECKSUM_OFFSET), body).equals(delta.subarray(CHECKSUM_OFFSET, HEADER_BYTES))) {
    throw corrupt('its checksum does not match its bytes');
  }
  const format = (Object.keys(FORMATS) as DeltaFormat[]).find((name) => FORMATS[name] === delta[10]);
  const baseView = (Object.keys(BASE_VIEWS) as BaseView[]).find((name) => BASE_VIEWS[name] === delta[11]);
  if (!format || !baseView) throw corrupt('it names an unknown format');
  return {
    header: {
      format,
      baseView,
      windowLog: delta[12]!,
      baseSha256: delta.toString('hex', 16, 48),
      targetSha256: delta.toString('hex', 48, 80),
      baseSize: safeNumber(delta.readBigUInt64LE(80), 'base size'),
      targetSize: safeNumber(delta.readBigUInt64LE(88), 'target size'),
      contentLength: safeNumber(delta.readBigUInt64LE(96), 'content length'),
      literalsLength: safeNumber(delta.readBigUInt64LE(104), 'literals length'),
      instructionsLength: safeNumber(delta.readBigUInt64LE(112), 'instructions length'),
    },
    sections: { recipes: body[0]!, instructions: body[1]!, literals: body[2]!, content: body[3]! },
  };
}

/** Reads the header of a delta (checked like decodeContainer) without applying it. */
export function inspectDelta(delta: Buffer): DeltaHeader {
  return decodeContainer(delta).header;
}
