import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { BadInputError, ConflictError, PayloadTooLargeError } from '../errors.js';
import { ByteProgress } from '../progress.js';
import { parseFileName, quote } from './uploadPaths.js';
import type { CdnScope } from './scope.js';

/**
 * Streams a request body into UPLOAD_DIR/<name> (PUT /uploads/<name>): counted against
 * MAX_FILE_SIZE as it arrives (PAYLOAD_TOO_LARGE, nothing kept), hashed on the way, written
 * to a hidden temp file, fsynced, then renamed into place (replacing an older file of that
 * name atomically). `name` is one file name; names starting with "." are reserved.
 */
export async function receiveUpload(scope: CdnScope, name: string, body: AsyncIterable<Buffer>, declaredLength?: number): Promise<{ path: string; size: number; checksum: string }> {
  const fileName = parseFileName(name, 'name');
  if (fileName.startsWith('.')) throw new BadInputError(`name ${quote(fileName)} starts with "."; such names are reserved for uploads in progress`, { field: 'name' });
  const runtime = await scope.runtime();
  const { uploadDir, maxFileSize } = runtime.config;
  if (declaredLength !== undefined && declaredLength > maxFileSize) {
    throw new PayloadTooLargeError(`The body is ${declaredLength} bytes; the largest accepted file is ${maxFileSize} bytes (MAX_FILE_SIZE)`, { limit: maxFileSize });
  }
  await fs.mkdir(uploadDir, { recursive: true });
  const temp = path.join(uploadDir, `.incoming-${crypto.randomUUID()}`);
  const target = path.join(uploadDir, fileName);
  const handle = await fs.open(temp, 'wx', 0o644);
  let closed = false;
  try {
    const hash = crypto.createHash('sha256');
    let size = 0;
    const progress = new ByteProgress(runtime.log, { fileName, phase: 'receive' }, declaredLength ?? 0, `receiving ${fileName}`);
    for await (const chunk of body) {
      size += chunk.length;
      if (size > maxFileSize) {
        throw new PayloadTooLargeError(`The body is larger than ${maxFileSize} bytes (MAX_FILE_SIZE); nothing was kept`, { limit: maxFileSize });
      }
      hash.update(chunk);
      let offset = 0;
      while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset, null)).bytesWritten;
      progress.update(size);
    }
    await handle.sync();
    await handle.close();
    closed = true;
    const existing = await fs.lstat(target).catch(() => null);
    if (existing?.isDirectory()) throw new ConflictError(`UPLOAD_DIR already has a directory named ${quote(fileName)}`, { field: 'name' });
    await fs.rename(temp, target);
    const dir = await fs.open(uploadDir, fsConstants.O_RDONLY);
    await dir.sync().finally(() => dir.close());
    const checksum = hash.digest('hex');
    runtime.log.info({ fileName, bytes: size, checksum }, 'upload received into UPLOAD_DIR');
    return { path: fileName, size, checksum };
  } catch (error) {
    if (!closed) await handle.close().catch(() => {});
    await fs.unlink(temp).catch(() => {});
    throw error;
  }
}
