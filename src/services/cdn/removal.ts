import { and, eq, inArray, lte, ne, or } from 'drizzle-orm';

import type { Database } from '../../db/client.js';
import type { AuditRecorder } from '../audit/trail.js';
import { cdnFileRegions, cdnFiles, updatePackages } from '../../db/schema.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import type { ServiceRuntime } from '../runtime.js';
import type { CdnInvalidations } from './invalidations.js';
import type { CdnReplicas } from './replicas.js';
import { LIMITS } from './rules.js';
import type { CdnScope } from './scope.js';
import { removeStaleTempFiles, type TempCleanup } from './tempFiles.js';
import type { CdnFileRow, DeleteOptions } from './types.js';

/** Files leaving the CDN: deleted by a caller, expired, or left behind by a crashed upload (rows and temp files). Each has its bytes removed; deleted and expired files also have their URLs invalidated. */
export class CdnFileRemoval {
  constructor(
    private readonly scope: CdnScope,
    private readonly replicas: CdnReplicas,
    private readonly invalidations: CdnInvalidations,
  ) {}

  /**
   * Deletes a file: its URL answers 404 at once, its bytes are removed from every region and
   * its URLs invalidated. CONFLICT while an update package points at it (by cdn_file_id or by
   * package_url = cdnUrl) unless `force`, which is recorded on the file with the package ids.
   * NOT_FOUND for an unknown or already deleted file. Resolves true. `audit`: the audited
   * delete's recorder; its entry commits with the DELETED mark.
   */
  async deleteFile(id: string, options: DeleteOptions = {}, audit?: AuditRecorder): Promise<boolean> {
    if (!isUuid(id)) throw new NotFoundError('CDN file', String(id));
    const runtime = await this.scope.runtime();
    const { db, log } = runtime;
    const now = new Date();
    const deleted = await markDeleted(db, id, options, now, audit);
    log.info(
      { fileId: id, fileName: deleted.file.fileName, deletedBy: options.deletedBy, forced: deleted.packages.length > 0, packageIds: deleted.packages.map((p) => p.id) },
      deleted.packages.length > 0 ? 'cdn file force-deleted while update packages pointed at it' : 'cdn file deleted',
    );
    await this.replicas.removeBytes(runtime, deleted.file);
    await this.invalidations.invalidateFileUrls(runtime, deleted.file, 'DELETE', options.deletedBy ?? null);
    return true;
  }

  /**
   * Expires files past expiresAt (their bytes removed from every region, their URLs
   * invalidated; the record stays, reading EXPIRED, and its URL answers 410), and cleans up
   * uploads that crashed (stale UPLOADING rows and whatever bytes they stored). Safe to run twice.
   */
  async sweepExpired(): Promise<{ expired: number; bytes: number; staleUploads: number; tempFiles: number }> {
    const runtime = await this.scope.runtime();
    const now = new Date();
    const expired = await claimExpired(runtime.db, now);
    const bytes = await this.removeExpired(runtime, expired);
    const staleUploads = await this.removeStaleUploads(runtime, now);
    const temp = await removeStaleTempFiles(runtime);
    if (expired.length > 0 || staleUploads > 0) {
      runtime.log.info({ expired: expired.length, bytes, staleUploads }, 'cdn expiry sweep removed files');
    }
    return { expired: expired.length, bytes, staleUploads, tempFiles: temp.files };
  }

  /** Removes temp files that crashed uploads left (./tempFiles.ts); called at start-up and by every sweep. */
  async removeStaleTempFiles(): Promise<TempCleanup> {
    return removeStaleTempFiles(await this.scope.runtime());
  }

  /** Removes the bytes and invalidates the URLs of files just marked EXPIRED. Resolves the bytes freed. */
  private async removeExpired(runtime: ServiceRuntime, expired: CdnFileRow[]): Promise<number> {
    const { db, log } = runtime;
    let bytes = 0;
    for (const [index, file] of expired.entries()) {
      const stillUsed = await db
        .select({ id: updatePackages.id })
        .from(updatePackages)
        .where(or(eq(updatePackages.cdnFileId, file.id), eq(updatePackages.packageUrl, file.cdnUrl)))
        .limit(5);
      if (stillUsed.length > 0) {
        log.warn({ fileId: file.id, packageIds: stillUsed.map((p) => p.id) }, 'an expired cdn file was still used by update packages; removing it as its expiresAt asked');
      }
      await this.replicas.removeBytes(runtime, file);
      await this.invalidations.invalidateFileUrls(runtime, file, 'EXPIRY', null);
      bytes += file.fileSize;
      if (expired.length >= 10 && (index + 1) % 10 === 0) {
        log.info({ done: index + 1, total: expired.length, percent: Math.round(((index + 1) / expired.length) * 100) }, 'expiry sweep progress');
      }
    }
    return bytes;
  }

  /** Undoes uploads whose intent row has not been touched for LIMITS.staleUploadMs (the process crashed). Resolves how many. */
  private async removeStaleUploads(runtime: ServiceRuntime, now: Date): Promise<number> {
    const { db } = runtime;
    const stale = await db
      .select()
      .from(cdnFiles)
      .where(and(eq(cdnFiles.status, 'UPLOADING'), lte(cdnFiles.uploadedAt, new Date(now.getTime() - LIMITS.staleUploadMs))))
      .limit(LIMITS.sweepBatch);
    for (const file of stale) {
      const regions = await db.select().from(cdnFileRegions).where(eq(cdnFileRegions.fileId, file.id));
      await this.replicas.abandonUpload(
        runtime,
        file.id,
        file.storageKey,
        file.checksum,
        regions.map((r) => r.region),
      );
    }
    return stale.length;
  }
}

/** Marks a batch of ACTIVE files past expiresAt EXPIRED and their regions REMOVING, skipping rows another instance holds. */
async function claimExpired(db: Database, now: Date): Promise<CdnFileRow[]> {
  return db.transaction(async (tx) => {
    const due = await tx
      .select({ id: cdnFiles.id })
      .from(cdnFiles)
      .where(and(eq(cdnFiles.status, 'ACTIVE'), lte(cdnFiles.expiresAt, now)))
      .limit(LIMITS.sweepBatch)
      .for('update', { skipLocked: true });
    if (due.length === 0) return [];
    const ids = due.map((row) => row.id);
    const rows = await tx.update(cdnFiles).set({ status: 'EXPIRED' }).where(inArray(cdnFiles.id, ids)).returning();
    await tx
      .update(cdnFileRegions)
      .set({ status: 'REMOVING', nextAttemptAt: now, updatedAt: now })
      .where(and(inArray(cdnFileRegions.fileId, ids), ne(cdnFileRegions.status, 'REMOVED')));
    return rows;
  });
}

/**
 * In one transaction: checks the file is visible (NOT_FOUND) and unused by update packages
 * (CONFLICT unless `force`), marks it DELETED with who and what it overrode, and its regions REMOVING.
 */
function markDeleted(
  db: Database,
  id: string,
  options: DeleteOptions,
  now: Date,
  audit: AuditRecorder | undefined,
): Promise<{ file: CdnFileRow; packages: { id: string; toVersion: string }[] }> {
  return db.transaction(async (tx) => {
    const [file] = await tx
      .select()
      .from(cdnFiles)
      .where(and(eq(cdnFiles.id, id), inArray(cdnFiles.status, ['ACTIVE', 'EXPIRED'])))
      .for('update');
    if (!file) throw new NotFoundError('CDN file', id);
    const packages = await tx
      .select({ id: updatePackages.id, toVersion: updatePackages.toVersion })
      .from(updatePackages)
      .where(or(eq(updatePackages.cdnFileId, id), eq(updatePackages.packageUrl, file.cdnUrl)))
      .limit(50);
    if (packages.length > 0 && !options.force) {
      throw new ConflictError(
        `CDN file ${file.fileName} (id ${id}) is still used by ${packages.length} update package(s) (${packages
          .slice(0, 5)
          .map((p) => `${p.id} → ${p.toVersion}`)
          .join(', ')}): clients would get broken downloads. Remove those packages first, or pass force: true`,
        { packageIds: packages.map((p) => p.id) },
      );
    }
    const [row] = await tx
      .update(cdnFiles)
      .set({
        status: 'DELETED',
        deletedAt: now,
        deletedBy: options.deletedBy ?? null,
        deletionForced: packages.length > 0,
        deletionOverrodePackages: packages.map((p) => p.id),
      })
      .where(eq(cdnFiles.id, id))
      .returning();
    await tx
      .update(cdnFileRegions)
      .set({ status: 'REMOVING', nextAttemptAt: now, updatedAt: now })
      .where(and(eq(cdnFileRegions.fileId, id), ne(cdnFileRegions.status, 'REMOVED')));
    await audit?.record(tx, { details: { fileName: row!.fileName, forced: packages.length > 0, overrodePackages: packages.map((p) => p.id) } });
    return { file: row!, packages };
  });
}
