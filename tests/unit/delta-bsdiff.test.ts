import crypto from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { bsdiffBlocks, suffixArray } from '../../src/delta/bsdiff.js';
import { applyDelta, generateDelta, sha256Hex } from '../../src/delta/index.js';

/** Code-like bytes: instructions whose 32-bit operands are addresses into the same file. */
function executable(seed: number, functions: number, shift = 0): Buffer {
  const parts: Buffer[] = [];
  for (let f = 0; f < functions; f++) {
    const body = Buffer.alloc(64);
    crypto.createHash('sha256').update(`${seed}:${f}`).digest().copy(body, 0);
    for (let i = 32; i < 64; i += 8) {
      body[i] = 0xe8; // call rel32
      body.writeUInt32LE((f * 64 + i * 13 + (f > 100 ? shift : 0)) >>> 0, i + 1);
    }
    parts.push(body);
  }
  return Buffer.concat(parts);
}

describe('bsdiff matching', () => {
  it('sorts suffixes exactly like a naive sort', () => {
    for (const data of [Buffer.from('banana'), Buffer.from('abracadabra'), crypto.randomBytes(300), Buffer.alloc(200, 7)]) {
      const naive = Array.from({ length: data.length + 1 }, (_, i) => i).sort((a, b) => Buffer.compare(data.subarray(a), data.subarray(b)));
      expect(Array.from(suffixArray(data))).toEqual(naive);
    }
  });

  it('describes the target exactly: differences added to the base plus extra bytes', () => {
    const base = executable(1, 400);
    const target = Buffer.concat([Buffer.from('new header'), executable(1, 400, 16)]);
    let rebuilt = Buffer.alloc(0);
    for (const block of bsdiffBlocks(base, target)) {
      const added = Buffer.from(block.diff.map((byte, i) => (byte + base[block.baseOffset + i]!) & 0xff));
      rebuilt = Buffer.concat([rebuilt, added, Buffer.from(block.extra)]);
    }
    expect(rebuilt.equals(target)).toBe(true);
  });

  it('is chosen for an executable whose addresses moved, and rebuilds it exactly', async () => {
    const base = executable(2, 2000);
    const target = Buffer.concat([executable(2, 2000, 64).subarray(0, 64_000), crypto.randomBytes(500), executable(2, 2000, 64).subarray(64_000)]);
    const generated = await generateDelta(base, target);
    expect(generated.formatName).toBe('dfd1-bsdiff');
    const zstdOnly = generated.candidates.find((candidate) => candidate.format === 'raw')!.size!;
    expect(generated.delta.length).toBeLessThan(zstdOnly);
    expect(sha256Hex(applyDelta(base, generated.delta))).toBe(sha256Hex(target));
  });

  it('refuses a bsdiff delta applied to another base', async () => {
    const base = executable(3, 500);
    const { delta } = await generateDelta(base, executable(3, 500, 8), { formats: ['bsdiff'] });
    const other = Buffer.from(base);
    other[10]! ^= 1;
    expect(() => applyDelta(other, delta)).toThrow(/different base/);
  });
});
