import { and, asc, eq, inArray, lte } from 'drizzle-orm';

import { ProviderError } from '../../cdn/provider.js';
import type { Database } from '../../db/client.js';
import type { AuditRecorder } from '../audit/trail.js';
import { cdnInvalidations } from '../../db/schema.js';
import { BadInputError, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import { decodeIdCursor, newestFirstPage } from '../keysetPage.js';
import { pageSize, type Page } from '../pagination.js';
import type { ServiceRuntime } from '../runtime.js';
import type { CdnFileReads } from './fileReads.js';
import { errorMessage, LIMITS, parseInvalidationPaths, retryDelay } from './rules.js';
import { publicBaseUrl, type CdnScope, type CdnState } from './scope.js';
import type { CdnFileRow, CdnInvalidationReason, CdnInvalidationRecord, InvalidationFilter } from './types.js';

/** Cache invalidations: every request recorded, tried at once, retried in the background while the provider says it may succeed. */
export class CdnInvalidations {
  constructor(
    private readonly scope: CdnScope,
    private readonly files: CdnFileReads,
  ) {}

  /**
   * Asks the edge to forget cached copies of `paths` (default: the file's URL in every region)
   * and records the request. NOT_FOUND for an unknown file; BAD_USER_INPUT for bad paths.
   * The first attempt runs now; a retryable failure (429/5xx/network) is retried with backoff
   * in the background (status PENDING), up to 8 attempts; others end FAILED with the reason.
   * `audit`: the audited request's recorder; its entry commits with the invalidation's record.
   */
  async invalidateCache(fileId: string, paths?: readonly string[] | null, requestedBy?: string | null, audit?: AuditRecorder): Promise<CdnInvalidationRecord> {
    const runtime = await this.scope.runtime();
    const state = this.scope.state(runtime);
    const parsed = paths === undefined || paths === null ? null : parseInvalidationPaths(paths, basePath(runtime, state));
    const file = await this.files.getFile(fileId);
    if (!file) throw new NotFoundError('CDN file', String(fileId));
    return this.requestInvalidation(runtime, file.id, parsed ?? this.fileUrlPaths(state, file), 'MANUAL', requestedBy ?? null, audit);
  }

  private fileUrlPaths(state: CdnState, file: Pick<CdnFileRow, 'storageKey'>): string[] {
    return [...new Set(state.provider.regions.map((region) => new URL(state.provider.publicUrl(region, file.storageKey)).pathname))];
  }

  /** Invalidates a deleted or expired file's URLs; never throws (the record keeps the outcome). */
  async invalidateFileUrls(runtime: ServiceRuntime, file: CdnFileRow, reason: CdnInvalidationReason, requestedBy: string | null): Promise<void> {
    try {
      await this.requestInvalidation(runtime, file.id, this.fileUrlPaths(this.scope.state(runtime), file), reason, requestedBy);
    } catch (error) {
      runtime.log.error({ err: error, fileId: file.id, reason }, 'recording an invalidation failed');
    }
  }

  private async requestInvalidation(
    runtime: ServiceRuntime,
    fileId: string,
    paths: string[],
    reason: CdnInvalidationReason,
    requestedBy: string | null,
    audit?: AuditRecorder,
  ): Promise<CdnInvalidationRecord> {
    const { provider } = this.scope.state(runtime);
    const now = new Date();
    const record = await runtime.db.transaction(async (tx) => {
      const [inserted] = await tx
        .insert(cdnInvalidations)
        .values({
          fileId,
          provider: provider.name,
          paths,
          reason,
          requestedBy,
          status: 'PENDING',
          // Claimed by this first attempt: the retry job leaves it alone meanwhile.
          nextAttemptAt: new Date(now.getTime() + LIMITS.claimMs),
        })
        .returning();
      await audit?.record(tx, { targetId: inserted!.id, details: { fileId, paths } });
      return inserted!;
    });
    return this.attemptInvalidation(runtime, record);
  }

  private async attemptInvalidation(runtime: ServiceRuntime, record: CdnInvalidationRecord): Promise<CdnInvalidationRecord> {
    const { provider } = this.scope.state(runtime);
    const attempts = record.attempts + 1;
    let update: Partial<CdnInvalidationRecord>;
    try {
      const result = await provider.invalidate(record.paths);
      update = { status: 'COMPLETED', reference: result.reference, attempts, lastError: null, nextAttemptAt: null, completedAt: new Date() };
      runtime.log.info({ invalidationId: record.id, fileId: record.fileId, paths: record.paths.length, reference: result.reference, attempts }, 'cdn cache invalidated');
    } catch (error) {
      const retryable = error instanceof ProviderError && error.retryable && attempts < LIMITS.invalidationAttempts;
      const retryAfterMs = error instanceof ProviderError ? error.options.retryAfterMs : undefined;
      update = retryable
        ? {
            status: 'PENDING',
            attempts,
            lastError: errorMessage(error),
            nextAttemptAt: new Date(Date.now() + retryDelay(runtime.config.cdnJobs.retryBaseMs, attempts, retryAfterMs)),
          }
        : { status: 'FAILED', attempts, lastError: errorMessage(error), nextAttemptAt: null };
      runtime.log.warn({ err: error, invalidationId: record.id, attempts, retrying: retryable }, 'cdn cache invalidation failed');
    }
    const [updated] = await runtime.db
      .update(cdnInvalidations)
      .set({ ...update, updatedAt: new Date() })
      .where(eq(cdnInvalidations.id, record.id))
      .returning();
    return updated!;
  }

  async getInvalidation(id: string): Promise<CdnInvalidationRecord | null> {
    if (!isUuid(id)) return null;
    const runtime = await this.scope.runtime();
    const [row] = await runtime.db.select().from(cdnInvalidations).where(eq(cdnInvalidations.id, id));
    return row ?? null;
  }

  /** A page of invalidation requests, newest first. */
  async listInvalidations(filter: InvalidationFilter = {}): Promise<Page<CdnInvalidationRecord>> {
    const limit = pageSize(filter.first);
    if (filter.fileId && !isUuid(filter.fileId)) throw new BadInputError('fileId must be a CDN file id (UUID)', { field: 'fileId' });
    const where = and(
      filter.fileId ? eq(cdnInvalidations.fileId, filter.fileId) : undefined,
      filter.status ? eq(cdnInvalidations.status, filter.status) : undefined,
    );
    const afterId = filter.after ? decodeIdCursor(filter.after) : null;
    const runtime = await this.scope.runtime();
    return newestFirstPage(runtime.db, { table: cdnInvalidations, createdAt: cdnInvalidations.createdAt, id: cdnInvalidations.id }, where, limit, afterId);
  }

  /** Retries due PENDING invalidations (claimed like regions; safe to run twice). */
  async retryInvalidations(): Promise<{ completed: number; pending: number; failed: number }> {
    const runtime = await this.scope.runtime();
    const now = new Date();
    const claimed = await claimDueInvalidations(runtime.db, now);
    const outcome = { completed: 0, pending: 0, failed: 0 };
    for (const record of claimed) {
      const updated = await this.attemptInvalidation(runtime, record);
      if (updated.status === 'COMPLETED') outcome.completed++;
      else if (updated.status === 'PENDING') outcome.pending++;
      else outcome.failed++;
    }
    if (claimed.length > 0) runtime.log.info({ claimed: claimed.length, ...outcome }, 'cdn invalidation retry pass');
    return outcome;
  }
}

/** Path part of the CDN base URL (`/cdn` by default): invalidation paths must lie under it. */
function basePath(runtime: ServiceRuntime, state: CdnState): string {
  return new URL(publicBaseUrl(runtime, state)).pathname.replace(/\/+$/, '');
}

/** Claims due PENDING invalidations for this pass, as replicas.ts does regions (FOR UPDATE SKIP LOCKED, then pushed LIMITS.claimMs ahead). */
function claimDueInvalidations(db: Database, now: Date): Promise<CdnInvalidationRecord[]> {
  return db.transaction(async (tx) => {
    const due = await tx
      .select()
      .from(cdnInvalidations)
      .where(and(eq(cdnInvalidations.status, 'PENDING'), lte(cdnInvalidations.nextAttemptAt, now)))
      .orderBy(asc(cdnInvalidations.nextAttemptAt))
      .limit(LIMITS.jobBatch)
      .for('update', { skipLocked: true });
    if (due.length > 0) {
      await tx
        .update(cdnInvalidations)
        .set({ nextAttemptAt: new Date(now.getTime() + LIMITS.claimMs) })
        .where(
          inArray(
            cdnInvalidations.id,
            due.map((row) => row.id),
          ),
        );
    }
    return due;
  });
}
