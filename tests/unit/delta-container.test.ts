import crypto from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import { deltaRefusal } from '../helpers/deltaRefusal.js';
import { decodeContainer, HEADER_BYTES, MAGIC } from '../../src/delta/container.js';
import { generateDelta, inspectDelta } from '../../src/delta/index.js';

/**
 * The container's own checks, each reached on its own: a forged header is re-sealed with a valid
 * checksum so that the check under test — not the checksum — is what refuses it.
 */


/** The checksum (sha256 of bytes 0–143 and the sections) written back at bytes 144–175. */
function reseal(delta: Buffer): Buffer {
  const sealed = Buffer.from(delta);
  const hash = crypto.createHash('sha256').update(sealed.subarray(0, 144)).update(sealed.subarray(HEADER_BYTES));
  hash.digest().copy(sealed, 144);
  return sealed;
}

let delta: Buffer;
let base: Buffer;
let target: Buffer;
beforeAll(async () => {
  base = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(200));
  target = Buffer.concat([base, Buffer.from('and then some more\n')]);
  delta = (await generateDelta(base, target)).delta;
});

describe('the delta container', () => {
  it('reads back the header it wrote: sizes, checksums and sections add up to the file', () => {
    const header = inspectDelta(delta);
    expect(header).toMatchObject({
      baseSha256: crypto.createHash('sha256').update(base).digest('hex'),
      targetSha256: crypto.createHash('sha256').update(target).digest('hex'),
      baseSize: base.length,
      targetSize: target.length,
    });
    const { sections } = decodeContainer(delta);
    const sectionBytes = sections.recipes.length + sections.instructions.length + sections.literals.length + sections.content.length;
    expect(HEADER_BYTES + sectionBytes).toBe(delta.length);
  });

  it('refuses what does not start with the delta header, short or long, as NOT_A_DELTA', () => {
    const message = 'This file is not a Dev Forge delta (its first bytes are not the delta header)';
    expect(deltaRefusal(() => decodeContainer(MAGIC.subarray(0, 7)))).toEqual({ code: 'NOT_A_DELTA', message });
    expect(deltaRefusal(() => decodeContainer(Buffer.alloc(400, 7)))).toEqual({ code: 'NOT_A_DELTA', message });
  });

  it('refuses a file cut inside its header, and one cut inside its sections, saying how much is there', () => {
    expect(deltaRefusal(() => decodeContainer(delta.subarray(0, HEADER_BYTES - 1)))).toEqual({
      code: 'TRUNCATED',
      message: `The delta is truncated: ${HEADER_BYTES - 1} bytes, not even its ${HEADER_BYTES}-byte header. Download it again`,
    });
    expect(deltaRefusal(() => decodeContainer(delta.subarray(0, delta.length - 1)))).toEqual({
      code: 'TRUNCATED',
      message: `The delta is truncated: ${delta.length - 1} of ${delta.length} bytes. Download it again`,
    });
  });

  it('refuses bytes past its end, naming how many', () => {
    expect(deltaRefusal(() => decodeContainer(Buffer.concat([delta, Buffer.from([1, 2, 3])])))).toEqual({
      code: 'CORRUPT',
      message: 'The delta is corrupted: it has 3 bytes past its end. Download it again',
    });
  });

  it('refuses a container version it does not know, naming both versions', () => {
    const v2 = Buffer.from(delta);
    v2.writeUInt16LE(2, 8);
    expect(deltaRefusal(() => decodeContainer(v2))).toEqual({
      code: 'UNSUPPORTED_VERSION',
      message: 'The delta uses container version 2; this code reads version 1. Update dev-forge-distribution',
    });
  });

  it('refuses a header whose checksum does not match', () => {
    const flipped = Buffer.from(delta);
    flipped[20]! ^= 0xff; // inside the base sha256
    expect(deltaRefusal(() => decodeContainer(flipped))).toEqual({ code: 'CORRUPT', message: 'The delta is corrupted: its checksum does not match its bytes. Download it again' });
  });

  it('refuses an unknown format or base view even with a valid checksum', () => {
    const unknownFormat = Buffer.from(delta);
    unknownFormat[10] = 9;
    const unknownView = Buffer.from(delta);
    unknownView[11] = 7;
    for (const forged of [unknownFormat, unknownView]) {
      expect(deltaRefusal(() => decodeContainer(reseal(forged)))).toEqual({ code: 'CORRUPT', message: 'The delta is corrupted: it names an unknown format. Download it again' });
    }
    expect(inspectDelta(reseal(Buffer.from(delta))).format).toBe(inspectDelta(delta).format);
  });

  it('refuses sizes above 2^53 − 1 naming the field, and accepts 2^53 − 1 itself', () => {
    const fields: [number, string][] = [
      [80, 'base size'],
      [88, 'target size'],
      [96, 'content length'],
      [104, 'literals length'],
      [112, 'instructions length'],
    ];
    for (const [offset, field] of fields) {
      const huge = Buffer.from(delta);
      huge.writeBigUInt64LE(BigInt(Number.MAX_SAFE_INTEGER) + 1n, offset);
      expect(deltaRefusal(() => decodeContainer(reseal(huge)))).toEqual({ code: 'CORRUPT', message: `The delta is corrupted: its ${field} is impossibly large. Download it again` });
    }
    const largest = Buffer.from(delta);
    largest.writeBigUInt64LE(BigInt(Number.MAX_SAFE_INTEGER), 80);
    expect(inspectDelta(reseal(largest)).baseSize).toBe(Number.MAX_SAFE_INTEGER);
  });
});
