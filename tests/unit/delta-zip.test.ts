import zlib from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { DEFAULT_LIMITS } from '../../src/delta/index.js';
import type { ArchiveLimits } from '../../src/delta/limits.js';
import { compressedBytes, entryContent, hasReadableContent, isDeflated, looksLikeZip, readZipEntries, zipContents, type ZipEntry } from '../../src/delta/zip.js';
import { makeZip } from '../helpers/archives.js';
import { deltaRefusal } from '../helpers/deltaRefusal.js';

/**
 * The zip reader on its own: which files it takes for zips, what it reads from each header, and
 * the exact refusal for every way a zip can be one it does not handle. Deltas of zips stand on
 * these offsets, so each field is checked against the bytes the test wrote.
 */

const limits = (overrides: Partial<ArchiveLimits> = {}): ArchiveLimits => ({ ...DEFAULT_LIMITS, ...overrides });

/** Where the end-of-central-directory record starts, for a zip whose archive comment is `commentLength` bytes. */
const eocdOf = (zip: Buffer, commentLength = 0) => zip.length - 22 - commentLength;

/** Where central-directory record `index` starts. */
function centralRecordOf(zip: Buffer, index: number, commentLength = 0): number {
  let offset = zip.readUInt32LE(eocdOf(zip, commentLength) + 16);
  for (let i = 0; i < index; i++) offset += 46 + zip.readUInt16LE(offset + 28) + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32);
  return offset;
}

/** A copy of the zip with one 16- or 32-bit little-endian field overwritten. */
function patched(zip: Buffer, offset: number, value: number, bits: 16 | 32 = 32): Buffer {
  const copy = Buffer.from(zip);
  if (bits === 16) copy.writeUInt16LE(value, offset);
  else copy.writeUInt32LE(value, offset);
  return copy;
}


const corrupt = (detail: string) => ({ code: 'CORRUPT', message: `The zip archive cannot be read: ${detail}` });
const expectRefusal = (run: () => unknown, expected: { code: string; message: string }) => expect(deltaRefusal(run)).toEqual(expected);

const stored = (name: string, content: string | Buffer) => ({ name, content, compress: 'store' as const });

describe('which files are zips', () => {
  it('a file starting with a local header is a zip even before its directory is found; 21 bytes are too few for any zip', () => {
    const zip = makeZip([stored('a.txt', 'alpha')]);
    expect(looksLikeZip(zip)).toBe(true);
    const headerThenNoise = Buffer.concat([zip.subarray(0, 4), Buffer.alloc(40, 0x41)]);
    expect(looksLikeZip(headerThenNoise)).toBe(true);
    expect(looksLikeZip(headerThenNoise.subarray(0, 22))).toBe(true);
    expect(looksLikeZip(headerThenNoise.subarray(0, 21))).toBe(false);
  });

  it('a self-extracting zip (an executable stub in front) is found by its end record; an empty zip is 22 bytes and still a zip', () => {
    const prefixed = makeZip([stored('a.txt', 'alpha')], { prefix: Buffer.from('MZ stub that runs the archive\n') });
    expect(looksLikeZip(prefixed)).toBe(true);
    const empty = makeZip([]);
    expect(empty.length).toBe(22);
    expect(looksLikeZip(empty)).toBe(true);
    expect(readZipEntries(empty, limits())).toEqual([]);
  });

  it('other files are not: text, a gzip, a zip with bytes appended after its end record', () => {
    expect(looksLikeZip(Buffer.from('just some text that is long enough to be looked at'))).toBe(false);
    expect(looksLikeZip(zlib.gzipSync(Buffer.from('content')))).toBe(false);
    const prefixed = makeZip([stored('a.txt', 'alpha')], { prefix: Buffer.from('stub') });
    expect(looksLikeZip(Buffer.concat([prefixed, Buffer.from('trailing')]))).toBe(false);
  });
});

describe('reading entries', () => {
  it('reads every field from the central directory and finds the data after the local header, whose extra field differs (zipalign)', () => {
    const first = Buffer.from('first file, deflated by zlib level 9, first file, first file');
    const deflated = zlib.deflateRawSync(first, { level: 9 });
    const zip = makeZip([
      { name: 'extension/a.js', content: first, compress: (bytes) => zlib.deflateRawSync(bytes, { level: 9 }), extra: Buffer.from([0xca, 0xfe, 2, 0, 1, 2]), localExtra: Buffer.alloc(11), comment: 'an entry comment' },
      { name: 'extension/b.txt', content: 'second', compress: 'store', dataDescriptor: true },
      { name: 'ünïcode/名前.json', content: '{"c":3}', compress: 'store' },
    ]);
    const entries = readZipEntries(zip, limits());
    const firstData = 30 + 'extension/a.js'.length + 11;
    const secondHeader = firstData + deflated.length;
    const secondData = secondHeader + 30 + 'extension/b.txt'.length;
    const thirdHeader = secondData + 'second'.length + 16;
    expect(entries).toEqual<ZipEntry[]>([
      { name: 'extension/a.js', method: 8, flags: 0x800, localHeaderOffset: 0, dataOffset: firstData, compressedSize: deflated.length, uncompressedSize: first.length },
      { name: 'extension/b.txt', method: 0, flags: 0x808, localHeaderOffset: secondHeader, dataOffset: secondData, compressedSize: 6, uncompressedSize: 6 },
      { name: 'ünïcode/名前.json', method: 0, flags: 0x800, localHeaderOffset: thirdHeader, dataOffset: thirdHeader + 30 + Buffer.byteLength('ünïcode/名前.json'), compressedSize: 7, uncompressedSize: 7 },
    ]);
    expect(compressedBytes(zip, entries[0]!).equals(deflated)).toBe(true);
    expect(entries.map((entry) => entryContent(zip, entry).toString())).toEqual([first.toString(), 'second', '{"c":3}']);
  });

  it('finds the end record behind an archive comment of the largest size (65,535 bytes), and behind a comment that holds a fake end record', () => {
    const longest = 'c'.repeat(0xffff);
    const zip = makeZip([stored('a.txt', 'alpha')], { comment: longest });
    expect(readZipEntries(zip, limits()).map((entry) => entry.name)).toEqual(['a.txt']);
    expect(looksLikeZip(zip.subarray(4))).toBe(true);
    // An end-record signature inside the comment whose own comment length does not reach the end of the file.
    const decoy = Buffer.concat([Buffer.from('PK\u0005\u0006', 'latin1'), Buffer.alloc(30, 0x20)]).toString('latin1');
    const withDecoy = makeZip([stored('a.txt', 'alpha'), stored('b.txt', 'beta')], { comment: decoy });
    expect(readZipEntries(withDecoy, limits()).map((entry) => entry.name)).toEqual(['a.txt', 'b.txt']);
  });

  it('accepts exactly maxEntries entries and refuses one more, before reading any', () => {
    const three = makeZip(['a', 'b', 'c'].map((name) => stored(name, name)));
    expect(readZipEntries(three, limits({ maxEntries: 3 }))).toHaveLength(3);
    expectRefusal(() => readZipEntries(three, limits({ maxEntries: 2 })), { code: 'LIMIT_EXCEEDED', message: 'The zip archive has 3 entries, above the limit of 2 (maxEntries)' });
  });

  it('adds the declared sizes of all entries against maxUncompressedBytes: equal passes, one byte more is refused', () => {
    const zip = makeZip([stored('a', '12345'), stored('b', '1234567')]);
    expect(readZipEntries(zip, limits({ maxUncompressedBytes: 12 }))).toHaveLength(2);
    expectRefusal(() => readZipEntries(zip, limits({ maxUncompressedBytes: 11 })), {
      code: 'LIMIT_EXCEEDED',
      message: "The zip archive's entries hold more than 11 uncompressed bytes (limit maxUncompressedBytes)",
    });
  });

  it('refuses an entry whose declared ratio is above the limit once it is larger than ratioCheckAboveBytes, as a zip bomb', () => {
    const zip = makeZip([stored('x.bin', Buffer.alloc(20, 7))]);
    const declared = (size: number) => patched(zip, centralRecordOf(zip, 0) + 24, size);
    const rules = limits({ ratioCheckAboveBytes: 100, maxCompressionRatio: 10 });
    // 200 bytes from 20 is exactly 10:1: allowed.
    expect(readZipEntries(declared(200), rules)[0]!.uncompressedSize).toBe(200);
    expectRefusal(() => readZipEntries(declared(201), rules), { code: 'LIMIT_EXCEEDED', message: 'Entry "x.bin" inflates 10:1, above the 10:1 limit: refused as a zip bomb' });
    expectRefusal(() => readZipEntries(declared(290), rules), { code: 'LIMIT_EXCEEDED', message: 'Entry "x.bin" inflates 15:1, above the 10:1 limit: refused as a zip bomb' });
    // At or below ratioCheckAboveBytes the ratio is not checked.
    expect(readZipEntries(declared(100), limits({ ratioCheckAboveBytes: 100, maxCompressionRatio: 2 }))).toHaveLength(1);
    expectRefusal(() => readZipEntries(declared(101), limits({ ratioCheckAboveBytes: 100, maxCompressionRatio: 2 })), {
      code: 'LIMIT_EXCEEDED',
      message: 'Entry "x.bin" inflates 5:1, above the 2:1 limit: refused as a zip bomb',
    });
  });

  it('takes an entry declaring zero compressed bytes as one byte for the ratio', () => {
    const zip = makeZip([stored('empty', ''), stored('after', 'after')]);
    const bomb = patched(zip, centralRecordOf(zip, 0) + 24, 300);
    expectRefusal(() => readZipEntries(bomb, limits({ ratioCheckAboveBytes: 100, maxCompressionRatio: 10 })), {
      code: 'LIMIT_EXCEEDED',
      message: 'Entry "empty" inflates 300:1, above the 10:1 limit: refused as a zip bomb',
    });
  });
});

describe('zips this reader does not handle, each refused with what is wrong', () => {
  const zip = makeZip([stored('a.txt', 'alpha'), stored('b.txt', 'beta')]);
  const eocd = eocdOf(zip);

  it('no end record: bytes after it, or a truncated file', () => {
    expectRefusal(() => readZipEntries(Buffer.concat([zip, Buffer.from('x')]), limits()), corrupt('no end-of-central-directory record'));
    expectRefusal(() => readZipEntries(zip.subarray(0, zip.length - 1), limits()), corrupt('no end-of-central-directory record'));
  });

  it('split archives and zip64 markers in the end record', () => {
    expectRefusal(() => readZipEntries(patched(zip, eocd + 4, 1, 16), limits()), corrupt('split archives are not supported'));
    expectRefusal(() => readZipEntries(patched(zip, eocd + 10, 0xffff, 16), limits()), corrupt('zip64 archives are not supported'));
    expectRefusal(() => readZipEntries(patched(zip, eocd + 12, 0xffffffff), limits()), corrupt('zip64 archives are not supported'));
    expectRefusal(() => readZipEntries(patched(zip, eocd + 16, 0xffffffff), limits()), corrupt('zip64 archives are not supported'));
  });

  it('a central directory that does not fit before the end record', () => {
    const size = zip.readUInt32LE(eocd + 12);
    expectRefusal(() => readZipEntries(patched(zip, eocd + 12, size + 1), limits()), corrupt('the central directory lies outside the file'));
    const at = zip.readUInt32LE(eocd + 16);
    expectRefusal(() => readZipEntries(patched(zip, eocd + 16, at + 1), limits()), corrupt('the central directory lies outside the file'));
  });

  it('more entries declared than records, and a record without its signature', () => {
    expectRefusal(() => readZipEntries(patched(zip, eocd + 10, 3, 16), limits()), corrupt('central directory record 2 is damaged'));
    expectRefusal(() => readZipEntries(patched(zip, centralRecordOf(zip, 1), 0x02014b51), limits()), corrupt('central directory record 1 is damaged'));
  });

  it('a last record cut off after its signature, and a last record of exactly 46 bytes that ends at the end record', () => {
    // The directory is shortened to record 0 and the first 10 bytes of record 1; the end record still counts two.
    const secondRecord = centralRecordOf(zip, 1);
    const end = Buffer.from(zip.subarray(eocd));
    end.writeUInt32LE(secondRecord + 10 - zip.readUInt32LE(eocd + 16), 12);
    const cut = Buffer.concat([zip.subarray(0, secondRecord + 10), end]);
    expectRefusal(() => readZipEntries(cut, limits()), corrupt('central directory record 1 is damaged'));
    const nameless = makeZip([stored('a.txt', 'alpha'), stored('', 'no name')]);
    expect(centralRecordOf(nameless, 1) + 46).toBe(eocdOf(nameless));
    expect(readZipEntries(nameless, limits()).map((entry) => entry.name)).toEqual(['a.txt', '']);
  });

  it('zip64 sizes or offset in an entry', () => {
    const record = centralRecordOf(zip, 1);
    for (const field of [20, 24, 42]) expectRefusal(() => readZipEntries(patched(zip, record + field, 0xffffffff), limits()), corrupt('entry "b.txt" uses zip64 sizes'));
  });

  it('a local header that is missing: not a local header where the record points, or past the end', () => {
    const record = centralRecordOf(zip, 1);
    const secondHeader = zip.readUInt32LE(record + 42);
    expectRefusal(() => readZipEntries(patched(zip, record + 42, secondHeader + 1), limits()), corrupt('the local header of entry "b.txt" is missing'));
    expectRefusal(() => readZipEntries(patched(zip, record + 42, zip.length - 29), limits()), corrupt('the local header of entry "b.txt" is missing'));
    // A local-header signature in the last 29 bytes (inside the archive comment) is too short to be one.
    const tail = makeZip([stored('a.txt', 'alpha')], { comment: `PK\u0003\u0004${'-'.repeat(25)}` });
    const pointed = patched(tail, centralRecordOf(tail, 0, 29) + 42, tail.length - 29);
    expectRefusal(() => readZipEntries(pointed, limits()), corrupt('the local header of entry "a.txt" is missing'));
  });

  it('an entry whose data runs past the end of the file', () => {
    const record = centralRecordOf(zip, 1);
    const dataOffset = zip.readUInt32LE(record + 42) + 30 + 'b.txt'.length;
    expectRefusal(() => readZipEntries(patched(zip, record + 20, zip.length - dataOffset + 1), limits()), corrupt('entry "b.txt" runs past the end of the file'));
    // Data reaching exactly the last byte of the file is still inside it.
    expect(readZipEntries(patched(zip, record + 20, zip.length - dataOffset), limits())[1]!.compressedSize).toBe(zip.length - dataOffset);
  });

  it('a local header placed as the last 30 bytes of the file (inside the archive comment) is read', () => {
    // The comment holds a complete local header with no name and no data, and entry 0 points at it.
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    const zipWithHeaderInComment = makeZip([stored('tail', '')], { comment: header.toString('latin1') });
    const pointed = patched(zipWithHeaderInComment, centralRecordOf(zipWithHeaderInComment, 0, 30) + 42, zipWithHeaderInComment.length - 30);
    const [entry] = readZipEntries(pointed, limits());
    expect(entry).toMatchObject({ localHeaderOffset: pointed.length - 30, dataOffset: pointed.length, compressedSize: 0 });
  });

  it('names in messages are quoted and bounded, never raw', () => {
    const longName = `${'d/'.repeat(100)}\u0007evil.js`;
    const zip = makeZip([stored(longName, 'x')]);
    const error = deltaRefusal(() => readZipEntries(patched(zip, centralRecordOf(zip, 0) + 24, 0xffffffff), limits()));
    expect(error.message).toBe(`The zip archive cannot be read: entry ${JSON.stringify(longName).slice(0, 117)}…" uses zip64 sizes`);
  });
});

describe('entry content', () => {
  it('stored content is the bytes as they are; deflated content is inflated; an empty deflated entry is empty', () => {
    const zip = makeZip([stored('s', 'stored bytes'), { name: 'd', content: 'deflated '.repeat(20) }, { name: 'e', content: '' }]);
    const [s, d, e] = readZipEntries(zip, limits());
    expect(entryContent(zip, s!).toString()).toBe('stored bytes');
    expect(entryContent(zip, d!).toString()).toBe('deflated '.repeat(20));
    expect(entryContent(zip, e!).length).toBe(0);
  });

  it('an entry that inflates past its declared size is refused as a limit, not read further', () => {
    const zip = makeZip([{ name: 'liar.txt', content: 'x'.repeat(1000) }]);
    const [entry] = readZipEntries(zip, limits());
    expectRefusal(() => entryContent(zip, { ...entry!, uncompressedSize: 999 }), { code: 'LIMIT_EXCEEDED', message: 'Entry "liar.txt" inflates to more than its declared 999 bytes: refused' });
  });

  it('an entry that inflates to fewer bytes than declared, or does not inflate at all, is corrupt', () => {
    const zip = makeZip([{ name: 'short.txt', content: 'y'.repeat(100) }]);
    const [entry] = readZipEntries(zip, limits());
    expectRefusal(() => entryContent(zip, { ...entry!, uncompressedSize: 101 }), corrupt('entry "short.txt" inflates to 100 bytes, its header says 101'));
    const garbage = makeZip([{ name: 'garbage.bin', content: 'z'.repeat(50), compress: () => Buffer.alloc(16, 0xff) }]);
    const error = deltaRefusal(() => entryContent(garbage, readZipEntries(garbage, limits())[0]!));
    expect(error.code).toBe('CORRUPT');
    expect(error.message).toMatch(/^The zip archive cannot be read: entry "garbage\.bin" does not inflate \(.+\)$/);
  });

  it('which entries can be read: stored and deflated, unless encrypted; other methods cannot', () => {
    const entry = (method: number, flags: number): ZipEntry => ({ name: 'n', method, flags, localHeaderOffset: 0, dataOffset: 30, compressedSize: 1, uncompressedSize: 1 });
    expect([hasReadableContent(entry(0, 0)), hasReadableContent(entry(8, 0x808)), hasReadableContent(entry(0, 1)), hasReadableContent(entry(8, 1)), hasReadableContent(entry(12, 0)), hasReadableContent(entry(14, 0))]).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect([isDeflated(entry(8, 0)), isDeflated(entry(8, 0x800)), isDeflated(entry(8, 1)), isDeflated(entry(0, 0)), isDeflated(entry(9, 0))]).toEqual([true, true, false, false, false]);
  });

  it('the contents a zip delta is compressed against: readable entries in directory order, others left out', () => {
    const zip = makeZip([stored('1', 'one;'), { name: '2', content: 'two;' }, stored('3', 'three;'), stored('4', 'four;')]);
    // Entry 3 marked encrypted and entry 4 given another method (bzip2) in both headers: neither is readable.
    let marked = patched(zip, centralRecordOf(zip, 2) + 8, 0x801, 16);
    marked = patched(marked, centralRecordOf(marked, 3) + 10, 12, 16);
    expect(zipContents(marked, limits()).toString()).toBe('one;two;');
    expect(zipContents(zip, limits()).toString()).toBe('one;two;three;four;');
    expectRefusal(() => zipContents(zip, limits({ maxEntries: 3 })), { code: 'LIMIT_EXCEEDED', message: 'The zip archive has 4 entries, above the limit of 3 (maxEntries)' });
  });
});
