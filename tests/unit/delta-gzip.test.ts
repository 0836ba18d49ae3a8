import zlib from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { gunzipWithin, looksLikeGzip, splitGzip } from '../../src/delta/gzip.js';
import { applyDelta, DEFAULT_LIMITS, DeltaError, generateDelta } from '../../src/delta/index.js';
import { makeTar, sourceText } from '../helpers/archives.js';
import { deltaRefusal } from '../helpers/deltaRefusal.js';

/** A gzip member with every optional header field (RFC 1952): FEXTRA, FNAME, FCOMMENT, FHCRC. */
function fullHeaderGzip(content: Buffer): { file: Buffer; headerLength: number; deflated: Buffer } {
  const fixed = Buffer.from([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 1, 2, 3, 4, 0, 3]);
  const extra = Buffer.concat([Buffer.from([5, 0]), Buffer.from('AB\u0003\u0000z', 'latin1')]);
  const name = Buffer.from('package.tar\0', 'latin1');
  const comment = Buffer.from('built by hand\0', 'latin1');
  const headerCrc = Buffer.alloc(2);
  headerCrc.writeUInt16LE(zlib.crc32(Buffer.concat([fixed, extra, name, comment])) & 0xffff);
  const header = Buffer.concat([fixed, extra, name, comment, headerCrc]);
  const deflated = zlib.deflateRawSync(content, { level: 9 });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(content), 0);
  trailer.writeUInt32LE(content.length, 4);
  return { file: Buffer.concat([header, deflated, trailer]), headerLength: header.length, deflated };
}

const tar = (n: number) => makeTar([{ name: 'package/index.js', content: sourceText(n, 400) }, { name: 'package/README.md', content: sourceText(n + 1, 50) }]);

describe('gzip headers', () => {
  it('splits a member with FEXTRA, FNAME, FCOMMENT and FHCRC at the exact byte where the deflate stream starts', () => {
    const { file, headerLength, deflated } = fullHeaderGzip(tar(1));
    expect(headerLength).toBe(10 + 7 + 12 + 14 + 2);
    const parts = splitGzip(file)!;
    expect(parts.header.length).toBe(headerLength);
    expect(parts.deflated.equals(deflated)).toBe(true);
    expect(parts.trailer.length).toBe(8);
    expect(parts.trailer.readUInt32LE(4)).toBe(tar(1).length);
  });

  it('splits a plain member: a 10-byte header', () => {
    const file = zlib.gzipSync(tar(1));
    expect(splitGzip(file)!.header.length).toBe(10);
  });

  it('is not a gzip this format handles: too short, another method, reserved flags, cut-off optional fields', () => {
    const { file } = fullHeaderGzip(tar(1));
    expect(looksLikeGzip(file.subarray(0, 17))).toBe(false);
    expect(looksLikeGzip(file.subarray(0, 18))).toBe(true);
    const method7 = Buffer.from(file);
    method7[2] = 7;
    expect(splitGzip(method7)).toBeNull();
    for (const [at, value] of [[0, 0x1e], [1, 0x8c]] as const) {
      const notMagic = Buffer.from(file);
      notMagic[at] = value;
      expect(looksLikeGzip(notMagic)).toBe(false);
      expect(splitGzip(notMagic)).toBeNull();
    }
    for (const reserved of [0x20, 0x40, 0x80]) {
      const flagged = Buffer.from(file);
      flagged[3] = flagged[3]! | reserved;
      expect(splitGzip(flagged)).toBeNull();
    }
    // FNAME whose terminating zero never comes.
    const unterminated = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]), Buffer.alloc(20, 0x41)]);
    expect(splitGzip(unterminated)).toBeNull();
    // FEXTRA whose length field does not fit.
    const shortExtra = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 3]), Buffer.from([0xff, 0xff]), Buffer.alloc(8)]);
    expect(splitGzip(shortExtra)).toBeNull();
    // A header that leaves no room for the 8-byte trailer.
    const noTrailer = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]), Buffer.from('name\0', 'latin1'), Buffer.alloc(4)]);
    expect(splitGzip(noTrailer)).toBeNull();
  });

  it('splits by framing alone: a header followed by exactly 8 bytes is a header, an empty stream and a trailer', () => {
    const header = Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3, ...Buffer.from('n\0', 'latin1')]);
    const parts = splitGzip(Buffer.concat([header, Buffer.alloc(8, 0x07)]))!;
    expect([parts.header.length, parts.deflated.length, parts.trailer.length]).toEqual([12, 0, 8]);
    expect(splitGzip(Buffer.concat([header, Buffer.alloc(7, 0x07)]))).toBeNull();
  });

  it('rebuilds a .tgz with every optional header field byte for byte through a delta', async () => {
    const base = fullHeaderGzip(tar(1)).file;
    const changed = makeTar([{ name: 'package/index.js', content: sourceText(1, 400) }, { name: 'package/README.md', content: sourceText(9, 50) }]);
    const target = fullHeaderGzip(changed).file;
    const made = await generateDelta(base, target);
    expect(made.formatName).toBe('dfd1-gzip');
    expect(made.delta.length).toBeLessThan(target.length / 2);
    expect(applyDelta(base, made.delta).equals(target)).toBe(true);
  });
});

describe('gunzipWithin', () => {
  const content = tar(3);
  it('inflates within the limits', () => {
    expect(gunzipWithin(zlib.gzipSync(content), DEFAULT_LIMITS, 'target').equals(content)).toBe(true);
  });

  it('refuses more than maxUncompressedBytes, naming what and the limit', () => {
    const limits = { ...DEFAULT_LIMITS, maxUncompressedBytes: content.length - 1 };
    expect(() => gunzipWithin(zlib.gzipSync(content), limits, 'target')).toThrow(
      new DeltaError('LIMIT_EXCEEDED', `The target inflates to more than ${content.length - 1} bytes (limit maxUncompressedBytes)`),
    );
    expect(gunzipWithin(zlib.gzipSync(content), { ...DEFAULT_LIMITS, maxUncompressedBytes: content.length }, 'target').length).toBe(content.length);
  });

  it('applies the ratio only above ratioCheckAboveBytes, and then refuses past maxCompressionRatio', () => {
    const zeros = Buffer.alloc(2 * 1024 * 1024);
    const packed = zlib.gzipSync(zeros, { level: 9 });
    const ratio = Math.round(zeros.length / packed.length);
    expect(() => gunzipWithin(packed, { ...DEFAULT_LIMITS, maxCompressionRatio: 100 }, 'base')).toThrow(
      new DeltaError('LIMIT_EXCEEDED', `The base inflates ${ratio}:1, above the 100:1 limit: refused as a compression bomb`),
    );
    expect(gunzipWithin(packed, { ...DEFAULT_LIMITS, maxCompressionRatio: 100, ratioCheckAboveBytes: zeros.length }, 'base').length).toBe(zeros.length);
    expect(gunzipWithin(packed, { ...DEFAULT_LIMITS, maxCompressionRatio: ratio + 1 }, 'base').length).toBe(zeros.length);
    // A ratio exactly at the limit is allowed.
    expect(gunzipWithin(packed, { ...DEFAULT_LIMITS, maxCompressionRatio: zeros.length / packed.length }, 'base').length).toBe(zeros.length);
  });

  it('a stream zlib cannot read is CORRUPT and names what it was', () => {
    const cut = zlib.gzipSync(content).subarray(0, 40);
    expect(deltaRefusal(() => gunzipWithin(cut, DEFAULT_LIMITS, 'target'))).toEqual({ code: 'CORRUPT', message: 'The target is not a readable gzip stream (unexpected end of file)' });
  });
});
