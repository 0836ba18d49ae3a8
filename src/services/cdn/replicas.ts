import { and, asc, eq, inArray, lte, ne } from 'drizzle-orm';

import { ProviderError } from '../../cdn/provider.js';
import type { Database } from '../../db/client.js';
import { cdnFileRegions, cdnFiles } from '../../db/schema.js';
import { ByteProgress } from '../progress.js';
import type { ServiceRuntime } from '../runtime.js';
import { errorMessage, LIMITS, retryDelay } from './rules.js';
import type { CdnScope } from './scope.js';
import type { CdnFileRow, CdnRegionRow } from './types.js';

/**
 * A file's copies in each region: healing FAILED regions from a healthy one, removing the bytes
 * of REMOVING regions, and marking a region FAILED when it could not serve. Failures back off
 * (retryDelay) and are picked up again by retryRegions.
 */
export class CdnReplicas {
  constructor(private readonly scope: CdnScope) {}

  /**
   * Retries due FAILED regions (copying the bytes from a healthy region) and due REMOVING ones.
   * Claims rows with FOR UPDATE SKIP LOCKED, so several instances never work on the same row;
   * safe to run twice. Resolves what happened.
   */
  async retryRegions(): Promise<{ replicated: number; removed: number; failed: number }> {
    const runtime = await this.scope.runtime();
    const { db } = runtime;
    const now = new Date();
    const claimed = await claimDueRegions(db, now);
    const outcome = { replicated: 0, removed: 0, failed: 0 };
    for (const row of claimed) {
      const [file] = await db.select().from(cdnFiles).where(eq(cdnFiles.id, row.fileId));
      if (!file) continue;
      if (row.status === 'REMOVING') {
        if (await this.removeReplica(runtime, file, row)) outcome.removed++;
        else outcome.failed++;
      } else if (file.status !== 'ACTIVE') {
        // Deleted or expired while the region was failing: remove instead of replicating.
        await db
          .update(cdnFileRegions)
          .set({ status: 'REMOVING', nextAttemptAt: now, updatedAt: now })
          .where(and(eq(cdnFileRegions.fileId, row.fileId), eq(cdnFileRegions.region, row.region), eq(cdnFileRegions.status, 'FAILED')));
      } else if (await this.replicate(runtime, file, row)) outcome.replicated++;
      else outcome.failed++;
    }
    if (claimed.length > 0) runtime.log.info({ claimed: claimed.length, ...outcome }, 'cdn region retry pass');
    return outcome;
  }

  /** Copies a file into a FAILED region from a region holding it. Resolves true on success. */
  private async replicate(runtime: ServiceRuntime, file: CdnFileRow, row: CdnRegionRow): Promise<boolean> {
    const { provider } = this.scope.state(runtime);
    const { db, log } = runtime;
    const sources = (
      await db
        .select({ region: cdnFileRegions.region })
        .from(cdnFileRegions)
        .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.status, 'AVAILABLE')))
    ).map((r) => r.region);
    const attempts = row.attempts + 1;
    let lastError: unknown = new ProviderError('no region holds the bytes to copy from', { retryable: true });
    const progress = new ByteProgress(log, { fileId: file.id, fileName: file.fileName, region: row.region, phase: 'replicate' }, file.fileSize, `replicating ${file.fileName} to ${row.region}`);
    for (const sourceRegion of sources) {
      try {
        const body = await provider.get(sourceRegion, file.storageKey);
        await provider.put(row.region, file.storageKey, body, {
          size: file.fileSize,
          checksum: file.checksum,
          contentType: file.mimeType,
          cacheControl: file.cacheControl,
          onProgress: (sent) => progress.update(sent),
        });
        const now = new Date();
        const [updated] = await db
          .update(cdnFileRegions)
          .set({ status: 'AVAILABLE', attempts, lastError: null, nextAttemptAt: null, replicatedAt: now, updatedAt: now })
          .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.region, row.region), eq(cdnFileRegions.status, 'FAILED')))
          .returning();
        if (!updated) {
          // The file was deleted while its bytes travelled: take them back out.
          await provider.delete(row.region, file.storageKey, { checksum: file.checksum }).catch(() => {});
          return false;
        }
        log.info({ fileId: file.id, region: row.region, from: sourceRegion, attempts, bytes: file.fileSize }, 'cdn region healed: file replicated');
        return true;
      } catch (error) {
        lastError = error;
      }
    }
    const now = new Date();
    const delay = retryDelay(runtime.config.cdnJobs.retryBaseMs, attempts);
    await db
      .update(cdnFileRegions)
      .set({ attempts, lastError: errorMessage(lastError), nextAttemptAt: new Date(now.getTime() + delay), updatedAt: now })
      .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.region, row.region), eq(cdnFileRegions.status, 'FAILED')));
    log.warn({ err: lastError, fileId: file.id, region: row.region, attempts, retryInMs: delay }, 'cdn region replication failed; will retry');
    return false;
  }

  /** Removes a file's bytes from every REMOVING region now; failures stay REMOVING with a backoff for the job. */
  async removeBytes(runtime: ServiceRuntime, file: CdnFileRow): Promise<{ removed: number; pending: number }> {
    const rows = await runtime.db
      .select()
      .from(cdnFileRegions)
      .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.status, 'REMOVING')));
    let removed = 0;
    for (const row of rows) if (await this.removeReplica(runtime, file, row)) removed++;
    return { removed, pending: rows.length - removed };
  }

  private async removeReplica(runtime: ServiceRuntime, file: CdnFileRow, row: CdnRegionRow): Promise<boolean> {
    const { provider } = this.scope.state(runtime);
    const now = new Date();
    try {
      await provider.delete(row.region, file.storageKey, { checksum: file.checksum });
      await runtime.db
        .update(cdnFileRegions)
        .set({ status: 'REMOVED', nextAttemptAt: null, lastError: null, updatedAt: now })
        .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.region, row.region), eq(cdnFileRegions.status, 'REMOVING')));
      return true;
    } catch (error) {
      const attempts = row.attempts + 1;
      runtime.log.warn({ err: error, fileId: file.id, region: row.region, attempts }, 'removing a file from a region failed; will retry');
      await runtime.db
        .update(cdnFileRegions)
        .set({
          attempts,
          lastError: errorMessage(error),
          nextAttemptAt: new Date(now.getTime() + retryDelay(runtime.config.cdnJobs.retryBaseMs, attempts)),
          updatedAt: now,
        })
        .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.region, row.region), eq(cdnFileRegions.status, 'REMOVING')));
      return false;
    }
  }

  /**
   * A region that should hold a file could not serve it (bytes lost, origin offline): it is
   * FAILED from now on, so the retry job copies the file back from a healthy region (put is
   * idempotent, so a transient read error costs one needless copy at most).
   */
  async markReplicaLost(runtime: ServiceRuntime, fileId: string, region: string, error: unknown): Promise<void> {
    const now = new Date();
    await runtime.db
      .update(cdnFileRegions)
      .set({ status: 'FAILED', lastError: `serving failed: ${errorMessage(error)}`, nextAttemptAt: now, updatedAt: now })
      .where(and(eq(cdnFileRegions.fileId, fileId), eq(cdnFileRegions.region, region), eq(cdnFileRegions.status, 'AVAILABLE')))
      .catch((failure: unknown) => runtime.log.error({ err: failure, fileId, region }, 'marking a region as having lost a file failed'));
  }

  /** Undoes a failed upload: removes stored bytes and the intent row. Bytes that cannot be removed now stay scheduled (REMOVING). */
  async abandonUpload(runtime: ServiceRuntime, id: string, key: string, checksum: string, storedRegions: string[]): Promise<void> {
    const { db, log } = runtime;
    const { provider } = this.scope.state(runtime);
    const leftovers: string[] = [];
    for (const region of storedRegions) {
      try {
        await provider.delete(region, key, { checksum });
      } catch (error) {
        log.error({ err: error, fileId: id, region }, 'removing the bytes of a failed upload failed; scheduled for retry');
        leftovers.push(region);
      }
    }
    try {
      if (leftovers.length === 0) {
        await db.delete(cdnFiles).where(eq(cdnFiles.id, id));
        return;
      }
      const now = new Date();
      await db.transaction(async (tx) => {
        await tx.update(cdnFiles).set({ status: 'DELETED', deletedAt: now }).where(eq(cdnFiles.id, id));
        await tx
          .update(cdnFileRegions)
          .set({ status: 'REMOVING', nextAttemptAt: now, updatedAt: now })
          .where(and(eq(cdnFileRegions.fileId, id), inArray(cdnFileRegions.region, leftovers)));
        await tx
          .update(cdnFileRegions)
          .set({ status: 'REMOVED', updatedAt: now })
          .where(and(eq(cdnFileRegions.fileId, id), ne(cdnFileRegions.status, 'REMOVING')));
      });
    } catch (error) {
      log.error({ err: error, fileId: id }, 'cleaning up the record of a failed upload failed; the stale-upload sweep will finish it');
    }
  }
}

/**
 * Claims due FAILED and REMOVING regions for this pass: FOR UPDATE SKIP LOCKED, then their
 * nextAttemptAt pushed LIMITS.claimMs ahead, so no other instance takes them meanwhile.
 */
function claimDueRegions(db: Database, now: Date): Promise<CdnRegionRow[]> {
  return db.transaction(async (tx) => {
    const due = await tx
      .select()
      .from(cdnFileRegions)
      .where(and(inArray(cdnFileRegions.status, ['FAILED', 'REMOVING']), lte(cdnFileRegions.nextAttemptAt, now)))
      .orderBy(asc(cdnFileRegions.nextAttemptAt))
      .limit(LIMITS.jobBatch)
      .for('update', { skipLocked: true });
    for (const row of due) {
      await tx
        .update(cdnFileRegions)
        .set({ nextAttemptAt: new Date(now.getTime() + LIMITS.claimMs) })
        .where(and(eq(cdnFileRegions.fileId, row.fileId), eq(cdnFileRegions.region, row.region)));
    }
    return due;
  });
}
