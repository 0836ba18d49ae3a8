import crypto from 'node:crypto';
import zlib from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { applyDelta, DeltaError, generateDelta, type DeltaErrorCode } from '../../src/delta/index.js';
import { deltaRefusal } from '../helpers/deltaRefusal.js';
import { makeGzip, makeTar, makeZip, sourceText } from '../helpers/archives.js';


async function refusalOf(promise: Promise<unknown>): Promise<{ code: DeltaErrorCode; message: string }> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DeltaError);
  return { code: (error as DeltaError).code, message: (error as DeltaError).message };
}

const base = makeZip([
  { name: 'extension/a.js', content: sourceText(1, 1500) },
  { name: 'extension/b.js', content: sourceText(2, 1500) },
]);
const target = makeZip([
  { name: 'extension/a.js', content: sourceText(1, 1500) + sourceText(3, 20) },
  { name: 'extension/b.js', content: sourceText(2, 1500) },
]);

describe('refusing bad deltas', () => {
  it('refuses a corrupted delta (one byte flipped anywhere) as CORRUPT', async () => {
    const { delta } = await generateDelta(base, target);
    for (const position of [20, 100, 170, Math.floor(delta.length / 2), delta.length - 1]) {
      const damaged = Buffer.from(delta);
      damaged[position]! ^= 0x40;
      expect(deltaRefusal(() => applyDelta(base, damaged)).code).toBe('CORRUPT');
    }
  });

  it('refuses a truncated delta as TRUNCATED, saying how much is missing', async () => {
    const { delta } = await generateDelta(base, target);
    const refused = deltaRefusal(() => applyDelta(base, delta.subarray(0, delta.length - 10)));
    expect(refused).toEqual({ code: 'TRUNCATED', message: `The delta is truncated: ${delta.length - 10} of ${delta.length} bytes. Download it again` });
    expect(deltaRefusal(() => applyDelta(base, delta.subarray(0, 100))).code).toBe('TRUNCATED');
  });

  it('refuses the wrong base as WRONG_BASE, naming the expected sha256', async () => {
    const generated = await generateDelta(base, target);
    const refused = deltaRefusal(() => applyDelta(target, generated.delta));
    expect(refused.code).toBe('WRONG_BASE');
    expect(refused.message).toContain(generated.baseSha256);
  });

  it('refuses what is not a delta, and a container version it does not know', async () => {
    expect(deltaRefusal(() => applyDelta(base, target)).code).toBe('NOT_A_DELTA');
    const { delta } = await generateDelta(base, target);
    const future = Buffer.from(delta);
    future.writeUInt16LE(2, 8);
    expect(deltaRefusal(() => applyDelta(base, future))).toMatchObject({ code: 'UNSUPPORTED_VERSION' });
  });
});

describe('archive limits', () => {
  it('refuses a zip bomb (an entry inflating past the ratio limit) before inflating it', async () => {
    const bomb = makeZip([{ name: 'extension/zeros.bin', content: Buffer.alloc(64 * 1024 * 1024), compress: (content) => zlib.deflateRawSync(content, { level: 9 }) }]);
    expect(bomb.length).toBeLessThan(100_000);
    const refused = await refusalOf(generateDelta(base, bomb));
    expect(refused.code).toBe('LIMIT_EXCEEDED');
    expect(refused.message).toMatch(/"extension\/zeros.bin" inflates \d+:1, above the 1000:1 limit: refused as a zip bomb/);
  });

  it('lets a small entry compress past 1000:1 (a blank asset is not a bomb): the ratio applies above 1 MiB', async () => {
    const blank = makeZip([{ name: 'extension/blank.bin', content: Buffer.alloc(1024 * 1024), compress: (content) => zlib.deflateRawSync(content, { level: 9 }) }]);
    expect(1024 * 1024 / (blank.length - 200)).toBeGreaterThan(1000); // the entry's ratio, its headers aside
    const made = await generateDelta(base, blank);
    expect(applyDelta(base, made.delta).equals(blank)).toBe(true);
  });

  it('refuses a gzip bomb, too', async () => {
    const bomb = makeGzip(Buffer.alloc(64 * 1024 * 1024));
    expect((await refusalOf(generateDelta(base, bomb))).message).toMatch(/above the 1000:1 limit: refused as a compression bomb/);
  });

  it('refuses an entry that inflates past its declared size', async () => {
    const lying = makeZip([{ name: 'a.txt', content: sourceText(4, 200) }]);
    // Declare 10 bytes in the central directory; the entry really holds several KB.
    const central = lying.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    lying.writeUInt32LE(10, central + 24);
    expect((await refusalOf(generateDelta(base, lying))).message).toContain('"a.txt" inflates to more than its declared 10 bytes');
  });

  it('refuses more entries or more uncompressed bytes than the limits allow', async () => {
    const many = makeZip(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}.txt`, content: `file ${i}` })));
    expect((await refusalOf(generateDelta(base, many, { limits: { maxEntries: 20 } }))).message).toBe('The zip archive has 30 entries, above the limit of 20 (maxEntries)');
    expect((await refusalOf(generateDelta(base, target, { limits: { maxUncompressedBytes: 10_000 } }))).code).toBe('LIMIT_EXCEEDED');
  });

  it('applies the limits to the base archive when applying', async () => {
    const tgz = (version: number) => makeGzip(makeTar([{ name: 'package/index.js', content: sourceText(7, 2000 + version) }]));
    const { delta, formatName } = await generateDelta(tgz(0), tgz(1));
    expect(formatName).toBe('dfd1-gzip');
    expect(deltaRefusal(() => applyDelta(tgz(0), delta, { limits: { maxUncompressedBytes: 1000 } })).code).toBe('LIMIT_EXCEEDED');
    expect(deltaRefusal(() => applyDelta(tgz(0), delta, { limits: { maxTargetBytes: 1000 } })).code).toBe('LIMIT_EXCEEDED');
  });

  it('never trusts entry names: a name like "../../etc/passwd" is only data', async () => {
    const noise = crypto.randomBytes(100);
    const evil = (version: number) => makeZip([{ name: '../../etc/passwd', content: `root:x:0:0:${version}\n`.repeat(50) }, { name: 'C:\\evil\u0000.js', content: noise }]);
    const { delta } = await generateDelta(evil(0), evil(1));
    expect(applyDelta(evil(0), delta).equals(evil(1))).toBe(true);
  });
});
