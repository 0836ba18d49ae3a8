import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { applyDelta, generateDelta } from '../../src/delta/index.js';
import { makeGzip, makeTar, makeZip, sourceText } from '../helpers/archives.js';

// The compiled module (the test setup builds dist/): only there does the worker script exist,
// as in a production server.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compiled = (await import(pathToFileURL(path.join(root, 'dist/src/delta/offThread.js')).href)) as typeof import('../../src/delta/offThread.js');

const tgz = (version: number) => makeGzip(makeTar([{ name: 'package/index.js', content: sourceText(5, 3000) + sourceText(50 + version, 20) }]));

describe('generateDeltaOffThread (the server job’s way)', () => {
  it('produces on a worker thread the same delta as generateDelta, with progress to 100', async () => {
    const progress: number[] = [];
    const offThread = await compiled.generateDeltaOffThread(tgz(0), tgz(1), { onProgress: (percent) => progress.push(percent) });
    const inline = await generateDelta(tgz(0), tgz(1));
    expect(Buffer.isBuffer(offThread.delta)).toBe(true);
    expect(offThread.delta.equals(inline.delta)).toBe(true);
    expect(offThread).toMatchObject({ formatName: 'dfd1-gzip', targetSha256: inline.targetSha256, candidates: inline.candidates });
    expect(progress.at(-1)).toBe(100);
    expect(applyDelta(tgz(0), offThread.delta).equals(tgz(1))).toBe(true);
  });

  it('rejects with the DeltaError code the worker met', async () => {
    const bomb = makeZip([{ name: 'zeros.bin', content: Buffer.alloc(16 * 1024 * 1024), compress: (content) => zlib.deflateRawSync(content, { level: 9 }) }]);
    const error = await compiled.generateDeltaOffThread(tgz(0), bomb).then(
      () => null,
      (caught: unknown) => caught as { name: string; code: string; message: string },
    );
    expect(error).toMatchObject({ name: 'DeltaError', code: 'LIMIT_EXCEEDED' });
    expect(error!.message).toContain('refused as a zip bomb');
  });
});
