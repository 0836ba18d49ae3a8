import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { CdnIntegrationService } from '../cdn/service.js';

/**
 * Reading full packages' bytes from the CDN and handing a delta back to it. A full package is
 * read through the CDN service's own download path (any region holding it), bounded by
 * MAX_FILE_SIZE, and must hash to the package's recorded checksum.
 */
export async function readArtifact({ cdn, cdnFileId, checksum, maxBytes }: { cdn: CdnIntegrationService; cdnFileId: string; checksum: string; maxBytes: number }): Promise<Buffer> {
  const file = await cdn.getFile(cdnFileId);
  if (!file) throw new Error(`its CDN file ${cdnFileId} was not found`);
  const target = await cdn.resolveDownload(file.id, file.fileName);
  if (target.kind !== 'ready') throw new Error(`its CDN file ${file.fileName} (id ${file.id}) is ${target.kind === 'expired' ? 'expired' : target.kind === 'unavailable' ? 'in no available region' : 'missing'}`);
  const { stream } = await cdn.openDownload(target);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      stream.destroy();
      throw new Error(`its CDN file ${file.fileName} is larger than MAX_FILE_SIZE (${maxBytes} bytes)`);
    }
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  const actual = crypto.createHash('sha256').update(bytes).digest('hex');
  if (actual !== checksum) throw new Error(`its CDN file ${file.fileName} hashes to ${actual}, not the package's checksum ${checksum}`);
  return bytes;
}

/** A name for the delta's CDN file: owner, versions and `.delta`, in characters safe anywhere. */
export function deltaFileName({ owner, fromVersion, toVersion }: { owner: string; fromVersion: string; toVersion: string }): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return `${safe(owner)}-${safe(fromVersion)}-to-${safe(toVersion)}.delta`;
}

/**
 * Writes the delta where the CDN service takes uploads from (UPLOAD_DIR/delta-generations/<id>/),
 * resolves its path relative to UPLOAD_DIR and a function that removes it again.
 */
export async function stageDelta({ uploadDir, generationId, fileName, delta }: { uploadDir: string; generationId: string; fileName: string; delta: Buffer }): Promise<{ relativePath: string; remove: () => Promise<void> }> {
  const dir = path.join(uploadDir, 'delta-generations', generationId);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, fileName), delta);
  return { relativePath: path.join('delta-generations', generationId, fileName), remove: () => fs.rm(dir, { recursive: true, force: true }) };
}
