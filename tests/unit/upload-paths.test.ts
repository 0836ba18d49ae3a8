import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_NAME_BYTES, MAX_PATH_BYTES, openUpload, parseFileName, quote } from '../../src/services/cdn/uploadPaths.js';

/**
 * Upload path confinement: `filePath` / `packagePath` name a file inside UPLOAD_DIR; anything
 * resolving outside it (after following symlinks), anything not a regular file, and anything
 * over the size limit is refused with the right code, and no message says where UPLOAD_DIR is.
 */

let base: string;
let uploadDir: string;
let outside: string;

beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'dfd-upload-paths-'));
  uploadDir = path.join(base, 'uploads');
  outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(uploadDir, 'releases'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(uploadDir, 'releases', 'app-1.0.0.zip'), Buffer.alloc(100, 1));
  fs.writeFileSync(path.join(uploadDir, '%41.bin'), 'literal percent');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(uploadDir, 'link-out'));
  fs.symlinkSync(outside, path.join(uploadDir, 'dir-out'));
  fs.symlinkSync(path.join(uploadDir, 'releases', 'app-1.0.0.zip'), path.join(uploadDir, 'latest.zip'));
  execFileSync('mkfifo', [path.join(uploadDir, 'pipe')]);
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

async function refusal(input: unknown, maxFileSize = 1000, dir = uploadDir): Promise<{ code: string; message: string; extensions: Record<string, unknown> }> {
  try {
    const opened = await openUpload(dir, input, maxFileSize);
    await opened.handle.close();
  } catch (error) {
    const { code, message, extensions } = error as { code: string; message: string; extensions: Record<string, unknown> };
    // Never where UPLOAD_DIR is, beyond the caller's own text quoted back.
    expect(typeof input === 'string' ? message.replace(JSON.stringify(input), '') : message).not.toContain(base);
    return { code, message, extensions };
  }
  throw new Error(`${JSON.stringify(input)} was accepted`);
}

async function opened(input: string, maxFileSize = 1000, dir = uploadDir) {
  const upload = await openUpload(dir, input, maxFileSize);
  try {
    const { bytesRead } = await upload.handle.read(Buffer.alloc(1000), 0, 1000, 0);
    return { relativePath: upload.relativePath, size: upload.size, bytesRead };
  } finally {
    await upload.handle.close();
  }
}

describe('openUpload accepts files inside UPLOAD_DIR', () => {
  it('by a relative path, by an absolute path inside, and through a symlink that stays inside', async () => {
    expect(await opened('releases/app-1.0.0.zip')).toEqual({ relativePath: 'releases/app-1.0.0.zip', size: 100, bytesRead: 100 });
    expect(await opened(path.join(uploadDir, 'releases/app-1.0.0.zip'))).toEqual({ relativePath: 'releases/app-1.0.0.zip', size: 100, bytesRead: 100 });
    expect(await opened('releases/../releases/./app-1.0.0.zip')).toMatchObject({ relativePath: 'releases/app-1.0.0.zip' });
    expect(await opened('latest.zip')).toMatchObject({ relativePath: 'releases/app-1.0.0.zip', size: 100 });
  });

  it('takes percent signs literally when they do not encode traversal', async () => {
    expect(await opened('%41.bin')).toMatchObject({ relativePath: '%41.bin', size: 15 });
  });

  it('accepts a file of exactly MAX_FILE_SIZE bytes and refuses one byte over with PAYLOAD_TOO_LARGE', async () => {
    expect(await opened('releases/app-1.0.0.zip', 100)).toMatchObject({ size: 100 });
    const refused = await refusal('releases/app-1.0.0.zip', 99);
    expect(refused.code).toBe('PAYLOAD_TOO_LARGE');
    expect(refused.message).toBe('releases/app-1.0.0.zip is 100 bytes; the largest accepted file is 99 bytes (MAX_FILE_SIZE)');
    expect(refused.extensions).toMatchObject({ field: 'filePath', size: 100, limit: 99 });
  });

  it('works when UPLOAD_DIR is itself reached through a symlink, and creates a missing UPLOAD_DIR', async () => {
    const linked = path.join(base, 'uploads-link');
    fs.symlinkSync(uploadDir, linked);
    expect(await opened('releases/app-1.0.0.zip', 1000, linked)).toMatchObject({ relativePath: 'releases/app-1.0.0.zip' });
    expect(await opened(path.join(linked, 'releases/app-1.0.0.zip'), 1000, linked)).toMatchObject({ relativePath: 'releases/app-1.0.0.zip' });
    // UPLOAD_DIR itself, named through the link or by its real path, is not a file in it.
    for (const input of ['.', linked, fs.realpathSync(uploadDir)]) {
      expect((await refusal(input, 1000, linked)).message, input).toBe(`filePath ${JSON.stringify(input)} is UPLOAD_DIR itself, not a file in it`);
    }
    const fresh = path.join(base, 'fresh');
    expect((await refusal('x', 1000, fresh)).message).toMatch(/there is no such file in UPLOAD_DIR/);
    expect(fs.statSync(fresh).isDirectory()).toBe(true);
  });
});

describe('openUpload refuses', () => {
  it.each([
    ['a path with ..', '../outside/secret.txt', /resolves outside UPLOAD_DIR/],
    ['an absolute path elsewhere', '/etc/hostname', /resolves outside UPLOAD_DIR/],
    ['UPLOAD_DIR itself', '.', /is UPLOAD_DIR itself, not a file in it/],
    ['UPLOAD_DIR itself, by "releases/.."', 'releases/..', /is UPLOAD_DIR itself/],
    ['a symlink to a file outside', 'link-out', /is a symlink that points outside UPLOAD_DIR/],
    ['a path through a symlinked directory outside', 'dir-out/secret.txt', /is a symlink that points outside UPLOAD_DIR/],
    ['a missing file', 'releases/nope.zip', /there is no such file in UPLOAD_DIR/],
    ['a directory', 'releases', /is a directory, not a file/],
    ['a FIFO', 'pipe', /is not a regular file/],
    ['an empty path', '', /must be the path of a file inside UPLOAD_DIR/],
    ['a blank path', '   ', /must be the path of a file inside UPLOAD_DIR/],
    ['a NUL byte', 'releases/app\u0000.zip', /contains a NUL byte/],
    ['a control character', 'releases/app\n.zip', /contains control characters/],
    ['a DEL character', 'releases/app\u007f.zip', /contains control characters/],
    ['a backslash', 'releases\\app-1.0.0.zip', /contains "\\": use "\/" between directories/],
    ['an encoded dot', '%2e%2e/outside/secret.txt', /percent-encoded/],
    ['an encoded slash', '..%2Foutside', /percent-encoded/],
    ['an encoded backslash', '..%5coutside', /percent-encoded/],
    ['an encoded NUL', 'a%00b', /percent-encoded/],
    ['a double-encoded byte', '%252e%252e/x', /percent-encoded/],
  ])('%s as BAD_USER_INPUT on filePath', async (_label, input, message) => {
    const refused = await refusal(input);
    expect(refused.code).toBe('BAD_USER_INPUT');
    expect(refused.extensions).toMatchObject({ field: 'filePath' });
    expect(refused.message).toMatch(message);
  });

  it('a value that is not a string', async () => {
    for (const input of [undefined, null, 42, ['a']]) expect((await refusal(input)).message).toMatch(/must be the path of a file inside UPLOAD_DIR/);
  });

  it(`a path over ${MAX_PATH_BYTES} bytes, counting bytes not characters`, async () => {
    const tooLong = await refusal('a'.repeat(MAX_PATH_BYTES + 1));
    expect(tooLong.message).toBe(`filePath is ${MAX_PATH_BYTES + 1} bytes long; at most ${MAX_PATH_BYTES} are accepted`);
    expect(tooLong.extensions).toMatchObject({ field: 'filePath' });
    expect((await refusal('é'.repeat(MAX_PATH_BYTES / 2 + 1))).message).toMatch(/bytes long/);
    // Exactly at the limit passes the length check (and then is simply not there).
    expect((await refusal('a'.repeat(MAX_PATH_BYTES))).message).not.toMatch(/bytes long/);
  });
});

describe('parseFileName', () => {
  it('accepts names of 1 to 255 bytes and names the field it checks', () => {
    expect(parseFileName('a')).toBe('a');
    expect(parseFileName('x'.repeat(MAX_NAME_BYTES))).toBe('x'.repeat(MAX_NAME_BYTES));
    expect(parseFileName('.hidden')).toBe('.hidden');
    expect(parseFileName('...')).toBe('...');
    expect(() => parseFileName('x'.repeat(MAX_NAME_BYTES + 1), 'packageName')).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', message: `packageName is ${MAX_NAME_BYTES + 1} bytes long; file names are at most ${MAX_NAME_BYTES} bytes`, extensions: expect.objectContaining({ field: 'packageName' }) }),
    );
  });

  it.each([
    [undefined, /must be a non-empty file name/],
    [42, /must be a non-empty file name/],
    ['', /must be a non-empty file name/],
    ['a\u0001b', /contains control characters or NUL/],
    ['a\u007fb', /contains control characters or NUL/],
    ['a/b', /must be a name, not a path/],
    ['a\\b', /must be a name, not a path/],
    ['.', /is not a file name/],
    ['..', /is not a file name/],
    ['name ', /starts or ends with whitespace/],
    [' name', /starts or ends with whitespace/],
  ])('refuses %j', (name, message) => {
    expect(() => parseFileName(name)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', message: expect.stringMatching(message), extensions: expect.objectContaining({ field: 'fileName' }) }));
  });
});

describe('quote', () => {
  it('quotes short text whole and shortens long text to 80 characters and an ellipsis', () => {
    expect(quote('a"b')).toBe('"a\\"b"');
    expect(quote('x'.repeat(80))).toBe(JSON.stringify('x'.repeat(80)));
    expect(quote('x'.repeat(81))).toBe(JSON.stringify(`${'x'.repeat(80)}…`));
    expect(quote('abcdef', 3)).toBe('"abc…"');
  });
});
