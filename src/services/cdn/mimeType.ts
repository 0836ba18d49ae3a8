import path from 'node:path';

import { fileTypeFromBuffer } from 'file-type';

/**
 * The Content-Type of an artifact, decided by its bytes first: a file named `.zip` that is an
 * ELF binary is served as one. Text formats have no magic bytes: JSON is recognised by parsing
 * (small files) or by its extension, then the extension map, then "is it UTF-8 text?".
 */

/** Bytes of the start of a file the magic-byte detector needs (file-type reads at most this many). */
export const SNIFF_BYTES = 4100;
/** Files up to this size are kept whole during hashing so JSON can be recognised by parsing. */
export const JSON_SNIFF_MAX_BYTES = 1024 * 1024;

const BY_EXTENSION: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.vsix': 'application/zip',
  '.jar': 'application/java-archive',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.exe': 'application/x-msdownload',
  '.dll': 'application/x-msdownload',
  '.msi': 'application/x-msi',
  '.dmg': 'application/x-apple-diskimage',
  '.deb': 'application/vnd.debian.binary-package',
  '.rpm': 'application/x-rpm',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
};

function looksLikeJson(whole: Buffer): boolean {
  const text = whole.toString('utf8').trimStart();
  if (!text.startsWith('{') && !text.startsWith('[')) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function isUtf8Text(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head);
    return true;
  } catch {
    // The head may end in the middle of a multi-byte character: retry without the last 3 bytes.
    if (head.length <= 3) return false;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - 3));
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Detects the MIME type from `head` (the first SNIFF_BYTES of the file), `whole` (the entire file
 * when it is at most JSON_SNIFF_MAX_BYTES, else null) and the file name's extension.
 */
export async function detectMimeType(head: Buffer, whole: Buffer | null, fileName: string): Promise<string> {
  const magic = head.length > 0 ? await fileTypeFromBuffer(head) : undefined;
  if (magic) return magic.mime;
  if (whole && looksLikeJson(whole)) return 'application/json';
  const byExtension = BY_EXTENSION[path.extname(fileName).toLowerCase()];
  if (byExtension) return byExtension;
  if (head.length > 0 && isUtf8Text(head)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
