import { constants as fsConstants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { BadInputError, PayloadTooLargeError } from '../errors.js';

/**
 * Everything that turns a caller's path or name into a file inside UPLOAD_DIR. Hostile input is
 * the normal case here: each check answers BAD_USER_INPUT with a message that shows only the
 * caller's own text or paths relative to UPLOAD_DIR (never where UPLOAD_DIR is).
 */

/** Longest `filePath` accepted (bytes); Linux's PATH_MAX. */
export const MAX_PATH_BYTES = 4096;
/** Longest file name (bytes); what every common filesystem allows. */
export const MAX_NAME_BYTES = 255;

/** `%2e` `.`, `%2f` `/`, `%5c` `\`, `%00` NUL and `%25` `%` (double encoding): the bytes of traversal, disguised. */
const ENCODED_TRAVERSAL = /%(?:2e|2f|5c|00|25)/i;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Quotes the caller's text for a message, shortened so a 10 KB input does not echo back whole. */
export function quote(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Validates a stored file name: 1–255 bytes, one path segment (no `/` or `\`), no control
 * characters, not `.` or `..`. Throws BAD_USER_INPUT naming `field`.
 */
export function parseFileName(name: unknown, field = 'fileName'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new BadInputError(`${field} must be a non-empty file name such as "extension-1.2.0.vsix"`, { field });
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new BadInputError(`${field} is ${bytes} bytes long; file names are at most ${MAX_NAME_BYTES} bytes`, { field });
  }
  if (CONTROL.test(name)) throw new BadInputError(`${field} ${quote(name)} contains control characters or NUL`, { field });
  if (/[/\\]/.test(name)) throw new BadInputError(`${field} ${quote(name)} must be a name, not a path: it contains "/" or "\\"`, { field });
  if (name === '.' || name === '..') throw new BadInputError(`${field} ${quote(name)} is not a file name`, { field });
  if (name.trim() !== name) throw new BadInputError(`${field} ${quote(name)} starts or ends with whitespace`, { field });
  return name;
}

/** An opened upload: read it through `handle` (positional reads), never through its path again. */
export interface OpenedUpload {
  handle: FileHandle;
  /** Path relative to UPLOAD_DIR after following symlinks (`releases/app-1.2.0.zip`). */
  relativePath: string;
  size: number;
}

async function realpathOrNull(target: string): Promise<string | null> {
  try {
    return await fs.realpath(target);
  } catch {
    return null;
  }
}

function inside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/**
 * Opens `input` (relative to UPLOAD_DIR, or absolute inside it) for reading, refusing anything
 * that resolves outside UPLOAD_DIR once symlinks are followed, anything that is not a regular
 * file, and files over `maxFileSize` (PAYLOAD_TOO_LARGE). The file is opened by its resolved
 * path with O_NOFOLLOW and checked again through /proc/self/fd, so swapping a path component for
 * a symlink between the checks and the open does not escape either.
 */
export async function openUpload(uploadDir: string, input: unknown, maxFileSize: number): Promise<OpenedUpload> {
  const field = 'filePath';
  if (typeof input !== 'string' || input.trim() === '') {
    throw new BadInputError('filePath must be the path of a file inside UPLOAD_DIR, e.g. "releases/app-1.2.0.zip"', { field });
  }
  const bytes = Buffer.byteLength(input);
  if (bytes > MAX_PATH_BYTES) throw new BadInputError(`filePath is ${bytes} bytes long; at most ${MAX_PATH_BYTES} are accepted`, { field });
  if (input.includes('\u0000')) throw new BadInputError(`filePath ${quote(input)} contains a NUL byte`, { field });
  if (CONTROL.test(input)) throw new BadInputError(`filePath ${quote(input)} contains control characters`, { field });
  if (input.includes('\\')) throw new BadInputError(`filePath ${quote(input)} contains "\\": use "/" between directories`, { field });
  if (ENCODED_TRAVERSAL.test(input)) {
    throw new BadInputError(
      `filePath ${quote(input)} contains percent-encoded dots, slashes or NUL: paths are taken literally, never URL-decoded; pass the plain path`,
      { field },
    );
  }

  await fs.mkdir(uploadDir, { recursive: true });
  const root = await fs.realpath(uploadDir);
  const candidate = path.resolve(uploadDir, input);
  if (!inside(uploadDir, candidate) && !inside(root, candidate)) {
    if (candidate === path.resolve(uploadDir) || candidate === root) {
      throw new BadInputError(`filePath ${quote(input)} is UPLOAD_DIR itself, not a file in it`, { field });
    }
    throw new BadInputError(`filePath ${quote(input)} resolves outside UPLOAD_DIR: give a path inside it (no "..", no absolute paths elsewhere)`, { field });
  }
  const real = await realpathOrNull(candidate);
  if (real === null) {
    throw new BadInputError(`filePath ${quote(input)}: there is no such file in UPLOAD_DIR (upload it first, e.g. with PUT /uploads/<name>)`, { field });
  }
  if (!inside(root, real)) {
    throw new BadInputError(`filePath ${quote(input)} is a symlink that points outside UPLOAD_DIR`, { field });
  }
  const relativePath = path.relative(root, real).split(path.sep).join('/');
  const linkStat = await fs.lstat(real).catch(() => null);
  if (!linkStat) throw new BadInputError(`filePath ${quote(input)}: the file disappeared while it was being opened`, { field });
  if (linkStat.isDirectory()) throw new BadInputError(`filePath ${quote(input)} is a directory, not a file`, { field });
  if (!linkStat.isFile()) throw new BadInputError(`filePath ${quote(input)} is not a regular file`, { field });

  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in after the lstat must not hang the open.
    handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    throw new BadInputError(`filePath ${quote(input)} cannot be opened (it changed while being opened, or is not readable)`, { field });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.ino !== linkStat.ino || stat.dev !== linkStat.dev) {
      throw new BadInputError(`filePath ${quote(input)} changed while it was being opened; try again`, { field });
    }
    const opened = await fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
    if (opened !== null && !inside(root, opened)) {
      throw new BadInputError(`filePath ${quote(input)} resolves outside UPLOAD_DIR`, { field });
    }
    if (stat.size > maxFileSize) {
      throw new PayloadTooLargeError(`${relativePath} is ${stat.size} bytes; the largest accepted file is ${maxFileSize} bytes (MAX_FILE_SIZE)`, {
        field,
        size: stat.size,
        limit: maxFileSize,
      });
    }
    return { handle, relativePath, size: stat.size };
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}
