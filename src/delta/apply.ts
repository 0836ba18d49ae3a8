import crypto from 'node:crypto';

import { ByteReader, corrupt } from './bytes.js';
import { decodeContainer, type BaseView, type DeltaHeader } from './container.js';
import { decodeRecipe, deflateWith, type DeflateRecipe } from './deflateRecipes.js';
import { DeltaError } from './errors.js';
import { gunzipWithin } from './gzip.js';
import { OP } from './instructions.js';
import { withDefaults, type ArchiveLimits } from './limits.js';
import { zipContents } from './zip.js';
import { zstdUnpatch } from './zstdPatch.js';

export interface ApplyOptions {
  /** Bounds on reading the base archive and on the target's size (see ArchiveLimits for defaults). */
  limits?: Partial<ArchiveLimits>;
}

export function sha256Hex(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * Rebuilds the target from the base it was made from. Checks, in order: the container (magic,
 * version, length, checksum), the base (size and sha256 as recorded), then the rebuilt target's
 * sha256 — so the result is the exact full package or an error, never something in between.
 * Memory: the base, its uncompressed contents (for archives), the delta and the target.
 *
 * Throws DeltaError: NOT_A_DELTA, UNSUPPORTED_VERSION, TRUNCATED, CORRUPT, WRONG_BASE,
 * TARGET_MISMATCH, LIMIT_EXCEEDED, UNSUPPORTED_RUNTIME.
 */
export function applyDelta(base: Buffer, delta: Buffer, options: ApplyOptions = {}): Buffer {
  const limits = withDefaults(options.limits);
  const { header, sections } = decodeContainer(delta);
  checkBase(header, base);
  if (header.targetSize > limits.maxTargetBytes) {
    throw new DeltaError('LIMIT_EXCEEDED', `The delta would produce ${header.targetSize} bytes, above the limit of ${limits.maxTargetBytes} (maxTargetBytes)`);
  }
  const recipes = readRecipes(sections.recipes);
  const instructions = zstdUnpatch(sections.instructions, Buffer.alloc(0), header.windowLog, header.instructionsLength, 'instructions');
  const literals = zstdUnpatch(sections.literals, base, header.windowLog, header.literalsLength, 'literals');
  const content = zstdUnpatch(sections.content, baseView(base, header.baseView, limits), header.windowLog, header.contentLength, 'content');
  const target = run({ instructions, base, literals, content, recipes, targetSize: header.targetSize });
  const actual = sha256Hex(target);
  if (actual !== header.targetSha256) {
    throw new DeltaError(
      'TARGET_MISMATCH',
      `The rebuilt file hashes to ${actual}, not the target's ${header.targetSha256}: this machine's compressor differs from the one the delta was made with. Download the full package instead`,
    );
  }
  return target;
}

function checkBase(header: DeltaHeader, base: Buffer): void {
  if (base.length !== header.baseSize || sha256Hex(base) !== header.baseSha256) {
    throw new DeltaError(
      'WRONG_BASE',
      `This delta applies to a different base: it expects ${header.baseSize} bytes with sha256 ${header.baseSha256}, the file given has ${base.length} bytes with sha256 ${sha256Hex(base)}`,
    );
  }
}

/** What the content stream is compressed against: the same function on both sides. */
export function baseView(base: Buffer, view: BaseView, limits: ArchiveLimits): Buffer {
  if (view === 'gzip') return gunzipWithin(base, limits, 'base');
  if (view === 'zip') return zipContents(base, limits);
  return base;
}

function readRecipes(section: Buffer): DeflateRecipe[] {
  if (section.length % 5 !== 0) throw corrupt('its recipes section has a partial recipe');
  const recipes: DeflateRecipe[] = [];
  for (let offset = 0; offset < section.length; offset += 5) {
    const recipe = decodeRecipe(section.subarray(offset, offset + 5));
    if (!recipe) throw corrupt('it names an unknown compressor');
    recipes.push(recipe);
  }
  return recipes;
}

interface Program {
  instructions: Buffer;
  base: Buffer;
  literals: Buffer;
  content: Buffer;
  recipes: DeflateRecipe[];
  targetSize: number;
}

/** Runs the instructions; every length is checked against its source and the target's size. */
function run({ instructions, base, literals, content, recipes, targetSize }: Program): Buffer {
  const target = Buffer.allocUnsafe(targetSize);
  const reader = new ByteReader(instructions);
  const literalReader = new ByteReader(literals);
  const contentReader = new ByteReader(content);
  let position = 0;
  const append = (bytes: Buffer) => {
    if (position + bytes.length > targetSize) throw corrupt('its instructions write past the target size');
    bytes.copy(target, position);
    position += bytes.length;
  };
  for (;;) {
    const op = reader.varint();
    if (op === OP.END) break;
    if (op === OP.COPY_BASE) {
      const offset = reader.varint();
      const length = reader.varint();
      if (offset + length > base.length) throw corrupt('it copies past the end of the base');
      append(base.subarray(offset, offset + length));
    } else if (op === OP.LITERAL) {
      append(literalReader.bytes(reader.varint()));
    } else if (op === OP.CONTENT) {
      append(contentReader.bytes(reader.varint()));
    } else if (op === OP.DEFLATE) {
      const length = reader.varint();
      const recipe = recipes[reader.varint()];
      if (!recipe) throw corrupt('it names a recipe it does not hold');
      append(deflateWith(recipe, contentReader.bytes(length)));
    } else if (op === OP.ADD_BASE) {
      const offset = reader.varint();
      const length = reader.varint();
      if (offset + length > base.length) throw corrupt('it adds to bytes past the end of the base');
      if (position + length > targetSize) throw corrupt('its instructions write past the target size');
      const diff = contentReader.bytes(length);
      for (let i = 0; i < length; i++) target[position + i] = (base[offset + i]! + diff[i]!) & 0xff;
      position += length;
    } else {
      throw corrupt(`unknown instruction ${op}`);
    }
  }
  if (!reader.done || !literalReader.done || !contentReader.done || position !== targetSize) throw corrupt('its instructions do not account for every byte');
  return target;
}
