import crypto from 'node:crypto';
import zlib from 'node:zlib';

import pako from 'pako';
import { describe, expect, it } from 'vitest';

import { applyDelta, generateDelta, inspectDelta, sha256Hex, type DeltaFormat } from '../../src/delta/index.js';
import { makeGzip, makeTar, makeZip, sourceText, type ZipEntrySpec } from '../helpers/archives.js';

/** Generates, applies, and checks the one promise every format makes: the exact target, by sha256. */
async function roundTrip(base: Buffer, target: Buffer, formats?: DeltaFormat[]) {
  const generated = await generateDelta(base, target, { formats });
  const rebuilt = applyDelta(base, generated.delta);
  expect(sha256Hex(rebuilt)).toBe(sha256Hex(target));
  expect(rebuilt.equals(target)).toBe(true);
  expect(inspectDelta(generated.delta)).toMatchObject({ targetSha256: sha256Hex(target), baseSha256: sha256Hex(base), targetSize: target.length });
  return { ...generated, share: generated.delta.length / target.length };
}

const files = (version: number) => [
  { name: 'package/package.json', content: JSON.stringify({ name: 'demo', version: `1.${version}.0`, main: 'lib/index.js' }, null, 2) },
  { name: 'package/lib/index.js', content: sourceText(1, 3000) + (version > 0 ? sourceText(99, 40) : '') },
  { name: 'package/lib/util.js', content: sourceText(2, 2000) },
  { name: 'package/README.md', content: sourceText(3, 800) },
];

describe('raw files', () => {
  it('rebuilds a changed binary exactly, far smaller than the file', async () => {
    const base = crypto.randomBytes(400_000);
    const target = Buffer.concat([base.subarray(0, 150_000), crypto.randomBytes(2_000), base.subarray(150_000, 390_000), Buffer.from('tail')]);
    const result = await roundTrip(base, target);
    expect(result.formatName).toBe('dfd1-raw');
    expect(result.share).toBeLessThan(0.05);
  });

  it('rebuilds a target from an empty base and an empty target from a base', async () => {
    await roundTrip(Buffer.alloc(0), Buffer.from(sourceText(5, 100)));
    expect((await roundTrip(Buffer.from('old'), Buffer.alloc(0))).delta.length).toBeGreaterThan(0);
  });
});

describe('gzip (.tgz)', () => {
  it('diffs the inner tar and re-creates the exact gzip stream, header fields included', async () => {
    const base = makeGzip(makeTar(files(0)), { level: 9, mtime: 1_700_000_000, fileName: 'demo-1.0.0.tar' });
    const target = makeGzip(makeTar(files(1)), { level: 9, mtime: 1_700_086_400, fileName: 'demo-1.1.0.tar', os: 255 });
    const result = await roundTrip(base, target);
    expect(result.formatName).toBe('dfd1-gzip');
    expect(result.share).toBeLessThan(0.15);
    const raw = result.candidates.find((candidate) => candidate.format === 'raw')!;
    expect(raw.size!).toBeGreaterThan(result.delta.length * 3);
  });

  it.each([1, 6])('finds the level the file was made with (level %i)', async (level) => {
    const result = await roundTrip(makeGzip(makeTar(files(0)), { level }), makeGzip(makeTar(files(1)), { level }));
    expect(result.formatName).toBe('dfd1-gzip');
  });

  it('falls back to the whole file when no compressor setting re-creates the stream, still exact', async () => {
    const huffmanOnly = (content: Buffer) => {
      const gz = zlib.gzipSync(content, { strategy: zlib.constants.Z_HUFFMAN_ONLY });
      return gz;
    };
    const result = await roundTrip(huffmanOnly(makeTar(files(0))), huffmanOnly(makeTar(files(1))));
    expect(result.formatName).toBe('dfd1-raw');
    expect(result.candidates.find((candidate) => candidate.format === 'gzip')).toMatchObject({ size: null });
  });
});

describe('zip (.vsix, .jar)', () => {
  const vsix = (version: number, overrides: Partial<Record<string, Partial<ZipEntrySpec>>> = {}) =>
    files(version).map((file) => ({ ...file, name: file.name.replace('package/', 'extension/'), ...overrides[file.name] }));

  it('copies unchanged entries, rebuilds changed, added and renamed ones, drops removed ones', async () => {
    const base = makeZip([
      { name: '[Content_Types].xml', content: '<Types/>', compress: 'store' },
      ...vsix(0),
      { name: 'extension/old-only.js', content: sourceText(7, 500) },
      { name: 'extension/images/icon.png', content: crypto.randomBytes(20_000), compress: 'store' },
    ]);
    const target = makeZip([
      { name: '[Content_Types].xml', content: '<Types/>', compress: 'store' },
      ...vsix(1),
      { name: 'extension/renamed-util.js', content: sourceText(2, 2000) },
      { name: 'extension/new-file.js', content: sourceText(8, 300) },
      { name: 'extension/media/empty.txt', content: '', compress: 'store' },
    ]);
    const result = await roundTrip(base, target);
    expect(result.formatName).toBe('dfd1-zip');
    expect(result.entries!.copied).toBeGreaterThanOrEqual(2);
    expect(result.entries!.rebuilt).toBeGreaterThanOrEqual(3);
    expect(result.entries!.shipped).toBe(0);
    expect(result.share).toBeLessThan(0.15);
  });

  it('reproduces entries compressed by vanilla zlib (pako) and by Node’s zlib at other levels', async () => {
    const byPako = (content: Buffer) => Buffer.from(pako.deflateRaw(content, { level: 9 }));
    const byNode1 = (content: Buffer) => zlib.deflateRawSync(content, { level: 1, memLevel: 9 });
    const entries = (version: number) => vsix(version).map((entry, index) => ({ ...entry, compress: index % 2 ? byPako : byNode1 }));
    const result = await roundTrip(makeZip(entries(0)), makeZip(entries(1)), ['zip']);
    expect(result.formatName).toBe('dfd1-zip');
    expect(result.entries!.shipped).toBe(0);
  });

  it('stays byte-identical when entries cannot be re-compressed exactly (their compressed bytes ship)', async () => {
    const huffmanOnly = (content: Buffer) => zlib.deflateRawSync(content, { strategy: zlib.constants.Z_HUFFMAN_ONLY });
    const entries = (version: number) => vsix(version).map((entry) => ({ ...entry, compress: huffmanOnly }));
    const result = await roundTrip(makeZip(entries(0)), makeZip(entries(1)), ['zip']);
    expect(result.formatName).toBe('dfd1-zip');
    // index.js and package.json changed: no recipe re-creates them, so their compressed bytes ship.
    expect(result.entries).toEqual({ copied: 2, rebuilt: 0, shipped: 2 });
  });

  it('keeps data descriptors, extra fields, comments, timestamps and a prefix exactly', async () => {
    const decorate = (version: number) =>
      vsix(version).map((entry, index) => ({ ...entry, dataDescriptor: index % 2 === 0, extra: Buffer.from([0x55, 0x54, 5, 0, 1, version, 2, 3, 4]), comment: `entry ${index} v${version}`, dosTime: 0x6000 + version }));
    const base = makeZip(decorate(0), { comment: 'built by test 1.0', prefix: Buffer.from('#!/bin/sh\nexit 0\n') });
    const target = makeZip(decorate(1), { comment: 'built by test 1.1', prefix: Buffer.from('#!/bin/sh\nexit 0\n') });
    const result = await roundTrip(base, target, ['zip']);
    expect(result.formatName).toBe('dfd1-zip');
    expect(result.entries).toEqual({ copied: 2, rebuilt: 2, shipped: 0 });
  });

  it('handles a target zip whose base is not a zip (diffs against the base bytes)', async () => {
    const result = await roundTrip(Buffer.from(sourceText(1, 3000)), makeZip(vsix(1)));
    expect(['dfd1-zip', 'dfd1-raw']).toContain(result.formatName);
  });
});
