import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateDelta, sha256Hex } from '../../src/delta/index.js';
import { makeZip, sourceText } from '../helpers/archives.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/src/bin/dev-forge-distribution.js');
const run = promisify(execFile);

/** The package's command as a client runs it: a real child process (dist/ is built by the test setup). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let dir: string;
const base = makeZip([{ name: 'extension/main.js', content: sourceText(1, 2000) }, { name: 'extension/package.json', content: '{"version":"1.0.0"}' }]);
const target = makeZip([{ name: 'extension/main.js', content: sourceText(1, 2000) + sourceText(2, 30) }, { name: 'extension/package.json', content: '{"version":"1.1.0"}' }]);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dfd-delta-cli-'));
  await fs.writeFile(path.join(dir, 'old.vsix'), base);
  await fs.writeFile(path.join(dir, 'x.delta'), (await generateDelta(base, target)).delta);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const filesIn = async () => (await fs.readdir(dir)).sort();

describe('dev-forge-distribution apply-delta', () => {
  it('writes the exact target to --out and prints its sha256', async () => {
    const result = await cli('apply-delta', '--base', 'old.vsix', '--delta', 'x.delta', '--out', 'new.vsix');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`sha256 ${sha256Hex(target)}`);
    expect((await fs.readFile(path.join(dir, 'new.vsix'))).equals(target)).toBe(true);
  });

  it.each([
    ['a corrupted delta', 'CORRUPT', async (delta: Buffer) => Object.assign(Buffer.from(delta), { [delta.length - 5]: delta[delta.length - 5]! ^ 1 })],
    ['a truncated delta', 'TRUNCATED', async (delta: Buffer) => delta.subarray(0, delta.length - 50)],
  ])('refuses %s with exit 1 and leaves nothing at --out', async (_what, code, damage) => {
    await fs.writeFile(path.join(dir, 'bad.delta'), await damage(await fs.readFile(path.join(dir, 'x.delta'))));
    const before = await filesIn();
    const result = await cli('apply-delta', '--base', 'old.vsix', '--delta', 'bad.delta', '--out', 'refused.vsix');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^error ${code}: `));
    expect(await filesIn()).toEqual(before);
  });

  it('refuses the wrong base and keeps an existing --out file as it was', async () => {
    await fs.writeFile(path.join(dir, 'keep.vsix'), 'previous contents');
    await fs.writeFile(path.join(dir, 'other.vsix'), target);
    const result = await cli('apply-delta', '--base', 'other.vsix', '--delta', 'x.delta', '--out', 'keep.vsix');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error WRONG_BASE: This delta applies to a different base/);
    expect(await fs.readFile(path.join(dir, 'keep.vsix'), 'utf8')).toBe('previous contents');
    expect((await filesIn()).filter((name) => name.endsWith('.partial'))).toEqual([]);
  });

  it('answers bad usage with exit 2 and the usage text', async () => {
    const missing = await cli('apply-delta', '--base', 'old.vsix');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Missing --delta, --out');
    expect((await cli('explode')).code).toBe(2);
    expect((await cli('--help')).stdout).toContain('Usage: dev-forge-distribution apply-delta');
  });

  it('names a missing file', async () => {
    const result = await cli('apply-delta', '--base', 'nope.vsix', '--delta', 'x.delta', '--out', 'y.vsix');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ENOENT: .*nope\.vsix/);
  });
});
