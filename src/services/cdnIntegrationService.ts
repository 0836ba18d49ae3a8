import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

import { and, asc, desc, eq, gt, gte, inArray, isNull, lte, ne, or, sql, type SQL } from 'drizzle-orm';

import { createCdnProvider } from '../cdn/index.js';
import { ProviderError, type ByteRange, type CdnProvider, type PutInfo } from '../cdn/provider.js';
import type { Database } from '../db/client.js';
import { cdnDownloadStats, cdnFileRegions, cdnFiles, cdnInvalidations, updatePackages } from '../db/schema.js';
import { DownloadCounter, type FlushResult } from './cdnDownloadStats.js';
import { BadInputError, ConflictError, DomainError, ErrorCode, NotFoundError, PayloadTooLargeError } from './errors.js';
import { isUuid } from './ids.js';
import { detectMimeType, JSON_SNIFF_MAX_BYTES, SNIFF_BYTES } from './mimeType.js';
import { decodeIdCursor, newestFirstPage } from './keysetPage.js';
import { pageSize, type Page, type PageRequest } from './pagination.js';
import { ByteProgress } from './progress.js';
import { Service, type RuntimeSource, type ServiceRuntime } from './runtime.js';
import { errorMessage, LIMITS, parseCacheControl, parseExpiresAt, parseInvalidationPaths, retryDelay } from './cdn/rules.js';
import { openUpload, parseFileName, quote, type OpenedUpload } from './uploadPaths.js';
import { parseMetadata } from './versionManagementService.js';

export type CdnFileRow = typeof cdnFiles.$inferSelect;
export type CdnRegionRow = typeof cdnFileRegions.$inferSelect;
export type CdnInvalidationRecord = typeof cdnInvalidations.$inferSelect;
export type CdnReplicaStatus = CdnRegionRow['status'];
export type CdnInvalidationStatus = CdnInvalidationRecord['status'];
/** What readers see: UPLOADING rows are never shown; an ACTIVE row past its expiresAt reads as EXPIRED. */
export type CdnFileStatus = 'ACTIVE' | 'EXPIRED' | 'DELETED';
export type CdnInvalidationReason = 'MANUAL' | 'DELETE' | 'EXPIRY';
/** COMPLETE: in every region; PARTIAL: in some, the rest being retried; NONE: in none (removed). */
export type CdnDistribution = 'COMPLETE' | 'PARTIAL' | 'NONE';

export interface CdnFileRegionState {
  region: string;
  status: CdnReplicaStatus;
  /** Where clients download the file from in this region. */
  url: string;
  attempts: number;
  lastError: string | null;
  /** When a FAILED or REMOVING region is tried again. */
  nextAttemptAt: Date | null;
  replicatedAt: Date | null;
}

export interface CdnFileRecord extends Omit<CdnFileRow, 'status'> {
  status: CdnFileStatus;
  regions: CdnFileRegionState[];
  distributionStatus: CdnDistribution;
}

export interface UploadOptions {
  /** Cache-Control served with the file (default `public, max-age=31536000, immutable`: a file's URL never changes content). */
  cacheControl?: string | null;
  /** After this instant the file answers 410 and the expiry sweep removes it. Must be in the future. */
  expiresAt?: Date | string | null;
  metadata?: Record<string, unknown> | null;
}

export interface CdnFileFilter extends PageRequest {
  /** Default ACTIVE. */
  status?: CdnFileStatus | null;
  mimeType?: string | null;
  uploadedBy?: string | null;
  checksum?: string | null;
}

export interface DeleteOptions {
  /** Delete even while update packages point at the file (recorded on the file). */
  force?: boolean | null;
  deletedBy?: string | null;
}

export interface InvalidationFilter extends PageRequest {
  fileId?: string | null;
  status?: CdnInvalidationStatus | null;
}

export interface RegionDownloadStats {
  region: string;
  downloads: number;
  bytesServed: number;
  lastDownloadAt: Date | null;
}

export interface DailyDownloadStats {
  /** UTC day, YYYY-MM-DD. */
  date: string;
  downloads: number;
  bytesServed: number;
}

/** What the download route should do for a URL. */
export type DownloadTarget =
  | { kind: 'missing' }
  | { kind: 'expired'; file: CdnFileRow }
  | { kind: 'unavailable'; file: CdnFileRow }
  | { kind: 'ready'; file: CdnFileRow; regions: string[] };

const READ_BUFFER_BYTES = 1024 * 1024;

/** Per-runtime CDN state: the provider and the download counter are shared by every service instance over one runtime. */
interface CdnState {
  provider: CdnProvider;
  /** Set by `start` once the server knows its URL (CDN_BASE_URL unset). */
  publicBaseUrl: string | undefined;
  downloads: DownloadCounter;
}

const sharedStates = new WeakMap<ServiceRuntime, CdnState>();

export interface CdnServiceOptions {
  /** A provider to use instead of the one CDN_PROVIDER selects (tests, tools). */
  provider?: CdnProvider;
}

/**
 * CDN files: streamed, checked uploads from UPLOAD_DIR into every region of the provider,
 * per-region status with background re-replication, deletes that respect update packages,
 * recorded cache invalidations with retries, expiry, and download statistics.
 *
 * Every upload first writes an UPLOADING row (the intent record, invisible to readers), then
 * stores the bytes, then flips the row to ACTIVE. A failure deletes what was stored and the
 * row; a crash leaves a stale UPLOADING row that the sweep cleans up with its bytes. So a row
 * readers can see always has bytes, and stored bytes always have a row.
 */
export class CdnIntegrationService extends Service {
  /** This instance's CDN state, once its runtime is resolved. */
  private current: CdnState | undefined;
  private currentRuntime: ServiceRuntime | undefined;

  constructor(
    source?: RuntimeSource,
    private readonly options: CdnServiceOptions = {},
  ) {
    super(source);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Called by the server once it listens: files it serves get URLs under `publicBaseUrl`
   * (CDN_BASE_URL when set, else `<server url>/cdn`).
   */
  async setPublicBaseUrl(publicBaseUrl: string): Promise<void> {
    this.state(await this.runtime()).publicBaseUrl = publicBaseUrl.replace(/\/+$/, '');
  }

  /** The provider files are stored with (created on first use from CDN_PROVIDER). */
  async provider(): Promise<CdnProvider> {
    return this.state(await this.runtime()).provider;
  }

  /** Writes pending download counts, then releases the provider's clients. Called at shutdown. */
  async close(): Promise<void> {
    const runtime = await this.runtime();
    const state = this.state(runtime);
    await this.flushDownloadStats().catch((error: unknown) => runtime.log.error({ err: error }, 'final download stats flush failed'));
    await state.provider.close?.();
  }

  private state(runtime: ServiceRuntime): CdnState {
    // The ready instance's runtime can be replaced (scripts closing and reopening the shared one).
    if (!this.current || this.currentRuntime !== runtime) {
      this.current = this.createState(runtime);
      this.currentRuntime = runtime;
    }
    return this.current;
  }

  private createState(runtime: ServiceRuntime): CdnState {
    if (this.options.provider) return { provider: this.options.provider, publicBaseUrl: undefined, downloads: new DownloadCounter() };
    let state = sharedStates.get(runtime);
    if (!state) {
      const created: CdnState = {
        publicBaseUrl: undefined,
        downloads: new DownloadCounter(),
        provider: undefined as unknown as CdnProvider,
      };
      created.provider = createCdnProvider(runtime.config, {
        publicBaseUrl: () => created.publicBaseUrl ?? runtime.config.cdnBaseUrl ?? `http://localhost:${runtime.config.port}/cdn`,
      });
      sharedStates.set(runtime, created);
      state = created;
    }
    return state;
  }

  /** Path part of the CDN base URL (`/cdn` by default): invalidation paths must lie under it. */
  private basePath(runtime: ServiceRuntime, state: CdnState): string {
    const base = state.publicBaseUrl ?? runtime.config.cdnBaseUrl ?? `http://localhost:${runtime.config.port}/cdn`;
    return new URL(base).pathname.replace(/\/+$/, '');
  }

  // ---------------------------------------------------------------- upload

  /**
   * Uploads a file from UPLOAD_DIR to every region. `filePath` is relative to UPLOAD_DIR (or
   * absolute inside it); `fileName` defaults to its base name.
   *
   * Throws BAD_USER_INPUT for a path outside UPLOAD_DIR (after symlinks), not a regular file,
   * missing, or bad options; PAYLOAD_TOO_LARGE over MAX_FILE_SIZE (checked before and while
   * reading); INTERNAL_SERVER_ERROR naming each region's failure when no region could store it.
   * On any failure nothing stays behind: no row, no stored bytes. A region that fails while
   * others succeed is retried in the background; the file reports distributionStatus PARTIAL.
   */
  async uploadFile(filePath: string, fileName?: string | null, options?: UploadOptions | null, uploadedBy?: string | null): Promise<CdnFileRecord> {
    const givenName = fileName === undefined || fileName === null ? undefined : parseFileName(fileName);
    const cacheControl = parseCacheControl(options?.cacheControl);
    const expiresAt = parseExpiresAt(options?.expiresAt);
    const metadata = parseMetadata(options?.metadata);
    if (uploadedBy !== undefined && uploadedBy !== null && !isUuid(uploadedBy)) {
      throw new BadInputError('uploadedBy must be a user id (UUID)', { field: 'uploadedBy' });
    }
    const runtime = await this.runtime();
    const source = await openUpload(runtime.config.uploadDir, filePath, runtime.config.maxFileSize);
    try {
      const name = givenName ?? parseFileName(path.posix.basename(source.relativePath), 'fileName');
      const inspected = await this.inspect(runtime, source, name);
      return await this.store(runtime, source, inspected, { fileName: name, cacheControl, expiresAt, metadata, uploadedBy: uploadedBy ?? null });
    } finally {
      await source.handle.close().catch(() => {});
    }
  }

  /** First pass: size (capped at MAX_FILE_SIZE), sha256 and MIME type, reading with one reused buffer. */
  private async inspect(runtime: ServiceRuntime, source: OpenedUpload, fileName: string) {
    const { maxFileSize } = runtime.config;
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const hash = crypto.createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    const whole: Buffer[] | null = source.size <= JSON_SNIFF_MAX_BYTES ? [] : null;
    let size = 0;
    const progress = new ByteProgress(runtime.log, { fileName, phase: 'checksum' }, source.size, `hashing ${fileName}`);
    for (;;) {
      const { bytesRead } = await source.handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > maxFileSize) {
        throw new PayloadTooLargeError(`${source.relativePath} grew past MAX_FILE_SIZE (${maxFileSize} bytes) while it was being read`, {
          field: 'filePath',
          limit: maxFileSize,
        });
      }
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      if (headBytes < SNIFF_BYTES) {
        const part = Buffer.from(chunk.subarray(0, SNIFF_BYTES - headBytes));
        head.push(part);
        headBytes += part.length;
      }
      if (whole) {
        if (size <= JSON_SNIFF_MAX_BYTES) whole.push(Buffer.from(chunk));
        else whole.length = 0;
      }
      progress.update(size);
    }
    const checksum = hash.digest('hex');
    const mimeType = await detectMimeType(Buffer.concat(head), whole && size <= JSON_SNIFF_MAX_BYTES ? Buffer.concat(whole) : null, fileName);
    if (size >= 16 * 1024 * 1024) progress.finish(size, { checksum });
    return { size, checksum, mimeType };
  }

  /** Second pass: intent row, bytes into every region, then the row goes ACTIVE (or everything is undone). */
  private async store(
    runtime: ServiceRuntime,
    source: OpenedUpload,
    inspected: { size: number; checksum: string; mimeType: string },
    fields: { fileName: string; cacheControl: string; expiresAt: Date | null; metadata: Record<string, unknown>; uploadedBy: string | null },
  ): Promise<CdnFileRecord> {
    const { db, log } = runtime;
    const state = this.state(runtime);
    const { provider } = state;
    const id = crypto.randomUUID();
    const storageKey = `${id}/${fields.fileName}`;
    const regions = [...provider.regions];
    const started = Date.now();

    await db.transaction(async (tx) => {
      await tx.insert(cdnFiles).values({
        id,
        ...fields,
        filePath: source.relativePath,
        fileSize: inspected.size,
        mimeType: inspected.mimeType,
        checksum: inspected.checksum,
        storageKey,
        cdnUrl: provider.publicUrl(regions[0]!, storageKey),
        status: 'UPLOADING',
      });
      await tx.insert(cdnFileRegions).values(regions.map((region) => ({ fileId: id, region, status: 'PENDING' as const })));
    });

    // Long uploads keep their intent row fresh, so the stale-upload sweep never takes it for a crash.
    const heartbeat = setInterval(() => {
      db.update(cdnFiles)
        .set({ uploadedAt: new Date() })
        .where(and(eq(cdnFiles.id, id), eq(cdnFiles.status, 'UPLOADING')))
        .catch((error: unknown) => log.warn({ err: error, fileId: id }, 'upload heartbeat failed'));
    }, LIMITS.uploadHeartbeatMs);
    heartbeat.unref();

    const info: Omit<PutInfo, 'onProgress'> = {
      size: inspected.size,
      checksum: inspected.checksum,
      contentType: inspected.mimeType,
      cacheControl: fields.cacheControl,
    };
    const stored: string[] = [];
    try {
      const copySources = provider.copy ? await this.copySources(db, inspected.checksum, inspected.size) : new Map<string, string>();
      const outcomes = await Promise.all(
        regions.map(async (region) => {
          try {
            const via = await this.putFromSource(runtime, provider, region, storageKey, source, info, copySources.get(region), fields.fileName);
            stored.push(region);
            return { region, ok: true as const, via };
          } catch (error) {
            log.warn({ err: error, fileId: id, region }, 'storing a file in a region failed');
            return { region, ok: false as const, error };
          }
        }),
      );
      if (stored.length === 0) {
        throw new DomainError(
          ErrorCode.INTERNAL_SERVER_ERROR,
          `Storing ${fields.fileName} failed in every region (${outcomes.map((o) => `${o.region}: ${o.ok ? 'ok' : errorMessage(o.error)}`).join('; ')}); nothing was stored, try again later`,
          { regions: outcomes.map((o) => o.region) },
        );
      }
      const now = new Date();
      const baseMs = runtime.config.cdnJobs.retryBaseMs;
      await db.transaction(async (tx) => {
        for (const outcome of outcomes) {
          await tx
            .update(cdnFileRegions)
            .set(
              outcome.ok
                ? { status: 'AVAILABLE', attempts: 1, replicatedAt: now, lastError: null, nextAttemptAt: null, updatedAt: now }
                : { status: 'FAILED', attempts: 1, lastError: errorMessage(outcome.error), nextAttemptAt: new Date(now.getTime() + retryDelay(baseMs, 1)), updatedAt: now },
            )
            .where(and(eq(cdnFileRegions.fileId, id), eq(cdnFileRegions.region, outcome.region)));
        }
        const [activated] = await tx
          .update(cdnFiles)
          .set({ status: 'ACTIVE', uploadedAt: now })
          .where(and(eq(cdnFiles.id, id), eq(cdnFiles.status, 'UPLOADING')))
          .returning({ id: cdnFiles.id });
        if (!activated) throw new Error(`upload record ${id} disappeared before it could be activated`);
      });
      const failed = outcomes.filter((o) => !o.ok).map((o) => o.region);
      log.info(
        {
          fileId: id,
          fileName: fields.fileName,
          bytes: inspected.size,
          checksum: inspected.checksum,
          regions: outcomes.map((o) => ({ region: o.region, stored: o.ok, via: o.ok ? o.via : undefined })),
          durationMs: Date.now() - started,
        },
        failed.length === 0 ? 'cdn file uploaded to every region' : `cdn file uploaded; ${failed.length} region(s) failed and will be retried`,
      );
    } catch (error) {
      await this.abandonUpload(runtime, id, storageKey, inspected.checksum, stored);
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
    return (await this.getFile(id))!;
  }

  /** Regions where identical bytes are already stored (region → key), for a server-side copy instead of a re-send. */
  private async copySources(db: Database, checksum: string, size: number): Promise<Map<string, string>> {
    const rows = await db
      .select({ region: cdnFileRegions.region, storageKey: cdnFiles.storageKey })
      .from(cdnFiles)
      .innerJoin(cdnFileRegions, eq(cdnFileRegions.fileId, cdnFiles.id))
      .where(and(eq(cdnFiles.checksum, checksum), eq(cdnFiles.fileSize, size), eq(cdnFiles.status, 'ACTIVE'), eq(cdnFileRegions.status, 'AVAILABLE')))
      .orderBy(desc(cdnFiles.uploadedAt))
      .limit(50);
    const sources = new Map<string, string>();
    for (const row of rows) if (!sources.has(row.region)) sources.set(row.region, row.storageKey);
    return sources;
  }

  /** Stores the upload in one region: a copy of identical stored bytes when possible, else a streamed put. */
  private async putFromSource(
    runtime: ServiceRuntime,
    provider: CdnProvider,
    region: string,
    key: string,
    source: OpenedUpload,
    info: Omit<PutInfo, 'onProgress'>,
    copyFrom: string | undefined,
    fileName: string,
  ): Promise<'copy' | 'put'> {
    if (copyFrom && provider.copy) {
      try {
        await provider.copy(region, copyFrom, key, info);
        return 'copy';
      } catch (error) {
        runtime.log.warn({ err: error, region }, 'copying identical stored bytes failed; sending them again');
      }
    }
    const progress = new ByteProgress(runtime.log, { fileName, region, phase: 'store' }, info.size, `storing ${fileName} in ${region}`);
    const body = readUpload(source, info.size);
    await provider.put(region, key, body, { ...info, onProgress: (sent) => progress.update(sent) });
    if (info.size >= 16 * 1024 * 1024) progress.finish(info.size);
    return 'put';
  }

  /** Undoes a failed upload: removes stored bytes and the intent row. Bytes that cannot be removed now stay scheduled (REMOVING). */
  private async abandonUpload(runtime: ServiceRuntime, id: string, key: string, checksum: string, storedRegions: string[]): Promise<void> {
    const { db, log } = runtime;
    const { provider } = this.state(runtime);
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

  // ---------------------------------------------------------------- reads

  /** A visible file (ACTIVE or EXPIRED; DELETED only with includeDeleted), or null. */
  async getFile(id: string, includeDeleted = false): Promise<CdnFileRecord | null> {
    return (await this.getFilesByIds([id], includeDeleted))[0] ?? null;
  }

  /** Batch lookup for DataLoaders: two statements for many ids, results in the ids' order. */
  async getFilesByIds(ids: readonly string[], includeDeleted = false): Promise<(CdnFileRecord | null)[]> {
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    if (valid.length === 0) return ids.map(() => null);
    const runtime = await this.runtime();
    const visible = includeDeleted ? ne(cdnFiles.status, 'UPLOADING') : inArray(cdnFiles.status, ['ACTIVE', 'EXPIRED']);
    const rows = await runtime.db.select().from(cdnFiles).where(and(inArray(cdnFiles.id, valid), visible));
    const records = await this.withRegions(runtime, rows);
    const byId = new Map(records.map((record) => [record.id, record]));
    return ids.map((id) => (typeof id === 'string' ? (byId.get(id.toLowerCase()) ?? null) : null));
  }

  /** A page of files, newest first. */
  async listFiles(filter: CdnFileFilter = {}): Promise<Page<CdnFileRecord>> {
    const limit = pageSize(filter.first);
    const status = filter.status ?? 'ACTIVE';
    if (!['ACTIVE', 'EXPIRED', 'DELETED'].includes(status)) {
      throw new BadInputError(`status must be ACTIVE, EXPIRED or DELETED`, { field: 'status' });
    }
    if (filter.uploadedBy && !isUuid(filter.uploadedBy)) throw new BadInputError('uploadedBy must be a user id (UUID)', { field: 'uploadedBy' });
    if (filter.checksum && !/^[0-9a-f]{64}$/i.test(filter.checksum)) {
      throw new BadInputError('checksum must be a sha256 in hex (64 characters)', { field: 'checksum' });
    }
    const now = new Date();
    const statusWhere: SQL =
      status === 'ACTIVE'
        ? and(eq(cdnFiles.status, 'ACTIVE'), or(isNull(cdnFiles.expiresAt), gt(cdnFiles.expiresAt, now)))!
        : status === 'EXPIRED'
          ? or(eq(cdnFiles.status, 'EXPIRED'), and(eq(cdnFiles.status, 'ACTIVE'), lte(cdnFiles.expiresAt, now)))!
          : eq(cdnFiles.status, 'DELETED');
    const where = and(
      statusWhere,
      filter.mimeType ? eq(cdnFiles.mimeType, filter.mimeType) : undefined,
      filter.uploadedBy ? eq(cdnFiles.uploadedBy, filter.uploadedBy) : undefined,
      filter.checksum ? eq(cdnFiles.checksum, filter.checksum.toLowerCase()) : undefined,
    );
    const afterId = filter.after ? decodeIdCursor(filter.after) : null;
    const runtime = await this.runtime();
    const page = await newestFirstPage<CdnFileRow>(runtime.db, { table: cdnFiles, createdAt: cdnFiles.uploadedAt, id: cdnFiles.id }, where, limit, afterId);
    return { ...page, nodes: await this.withRegions(runtime, page.nodes) };
  }

  private async withRegions(runtime: ServiceRuntime, rows: CdnFileRow[]): Promise<CdnFileRecord[]> {
    if (rows.length === 0) return [];
    const { provider } = this.state(runtime);
    const regionRows = await runtime.db
      .select()
      .from(cdnFileRegions)
      .where(
        inArray(
          cdnFileRegions.fileId,
          rows.map((row) => row.id),
        ),
      );
    const byFile = new Map<string, CdnRegionRow[]>();
    for (const row of regionRows) byFile.set(row.fileId, [...(byFile.get(row.fileId) ?? []), row]);
    const order = (region: string) => {
      const index = provider.regions.indexOf(region);
      return index === -1 ? provider.regions.length : index;
    };
    const now = Date.now();
    return rows.map((row) => {
      const regions = (byFile.get(row.id) ?? [])
        .sort((a, b) => order(a.region) - order(b.region) || a.region.localeCompare(b.region))
        .map((r) => ({
          region: r.region,
          status: r.status,
          url: provider.publicUrl(r.region, row.storageKey),
          attempts: r.attempts,
          lastError: r.lastError,
          nextAttemptAt: r.nextAttemptAt,
          replicatedAt: r.replicatedAt,
        }));
      const available = regions.filter((r) => r.status === 'AVAILABLE').length;
      const status: CdnFileStatus =
        row.status === 'ACTIVE' && row.expiresAt && row.expiresAt.getTime() <= now ? 'EXPIRED' : (row.status as CdnFileStatus);
      return {
        ...row,
        status,
        regions,
        distributionStatus: available === 0 ? 'NONE' : available === regions.length ? 'COMPLETE' : 'PARTIAL',
      };
    });
  }

  // ---------------------------------------------------------------- delete

  /**
   * Deletes a file: its URL answers 404 at once, its bytes are removed from every region and
   * its URLs invalidated. CONFLICT while an update package points at it (by cdn_file_id or by
   * package_url = cdnUrl) unless `force`, which is recorded on the file with the package ids.
   * NOT_FOUND for an unknown or already deleted file. Resolves true.
   */
  async deleteFile(id: string, options: DeleteOptions = {}): Promise<boolean> {
    if (!isUuid(id)) throw new NotFoundError('CDN file', String(id));
    const runtime = await this.runtime();
    const { db, log } = runtime;
    const now = new Date();
    const deleted = await db.transaction(async (tx) => {
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
      return { file: row!, packages };
    });
    log.info(
      { fileId: id, fileName: deleted.file.fileName, deletedBy: options.deletedBy, forced: deleted.packages.length > 0, packageIds: deleted.packages.map((p) => p.id) },
      deleted.packages.length > 0 ? 'cdn file force-deleted while update packages pointed at it' : 'cdn file deleted',
    );
    await this.removeBytes(runtime, deleted.file);
    await this.invalidateFileUrls(runtime, deleted.file, 'DELETE', options.deletedBy ?? null);
    return true;
  }

  /** Removes a file's bytes from every REMOVING region now; failures stay REMOVING with a backoff for the job. */
  private async removeBytes(runtime: ServiceRuntime, file: CdnFileRow): Promise<{ removed: number; pending: number }> {
    const rows = await runtime.db
      .select()
      .from(cdnFileRegions)
      .where(and(eq(cdnFileRegions.fileId, file.id), eq(cdnFileRegions.status, 'REMOVING')));
    let removed = 0;
    for (const row of rows) if (await this.removeReplica(runtime, file, row)) removed++;
    return { removed, pending: rows.length - removed };
  }

  private async removeReplica(runtime: ServiceRuntime, file: CdnFileRow, row: CdnRegionRow): Promise<boolean> {
    const { provider } = this.state(runtime);
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

  // ---------------------------------------------------------------- invalidation

  /**
   * Asks the edge to forget cached copies of `paths` (default: the file's URL in every region)
   * and records the request. NOT_FOUND for an unknown file; BAD_USER_INPUT for bad paths.
   * The first attempt runs now; a retryable failure (429/5xx/network) is retried with backoff
   * in the background (status PENDING), up to 8 attempts; others end FAILED with the reason.
   */
  async invalidateCache(fileId: string, paths?: readonly string[] | null, requestedBy?: string | null): Promise<CdnInvalidationRecord> {
    const runtime = await this.runtime();
    const state = this.state(runtime);
    const parsed = paths === undefined || paths === null ? null : parseInvalidationPaths(paths, this.basePath(runtime, state));
    const file = await this.getFile(fileId);
    if (!file) throw new NotFoundError('CDN file', String(fileId));
    return this.requestInvalidation(runtime, file.id, parsed ?? this.fileUrlPaths(state, file), 'MANUAL', requestedBy ?? null);
  }

  private fileUrlPaths(state: CdnState, file: Pick<CdnFileRow, 'storageKey'>): string[] {
    return [...new Set(state.provider.regions.map((region) => new URL(state.provider.publicUrl(region, file.storageKey)).pathname))];
  }

  /** Invalidates a deleted or expired file's URLs; never throws (the record keeps the outcome). */
  private async invalidateFileUrls(runtime: ServiceRuntime, file: CdnFileRow, reason: CdnInvalidationReason, requestedBy: string | null): Promise<void> {
    try {
      await this.requestInvalidation(runtime, file.id, this.fileUrlPaths(this.state(runtime), file), reason, requestedBy);
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
  ): Promise<CdnInvalidationRecord> {
    const { provider } = this.state(runtime);
    const now = new Date();
    const [record] = await runtime.db
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
    return this.attemptInvalidation(runtime, record!);
  }

  private async attemptInvalidation(runtime: ServiceRuntime, record: CdnInvalidationRecord): Promise<CdnInvalidationRecord> {
    const { provider } = this.state(runtime);
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
    const runtime = await this.runtime();
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
    const runtime = await this.runtime();
    return newestFirstPage(runtime.db, { table: cdnInvalidations, createdAt: cdnInvalidations.createdAt, id: cdnInvalidations.id }, where, limit, afterId);
  }

  // ---------------------------------------------------------------- serving

  /**
   * Decides what a download URL serves: `region` (optional) is the region segment of the URL.
   * Only ACTIVE files whose name matches are served; expired ones are `expired` (410).
   */
  async resolveDownload(fileId: string, fileName: string, region?: string): Promise<DownloadTarget> {
    if (!isUuid(fileId)) return { kind: 'missing' };
    const runtime = await this.runtime();
    const { provider } = this.state(runtime);
    if (region !== undefined && !provider.regions.includes(region)) return { kind: 'missing' };
    const [[file], regionRows] = await Promise.all([
      runtime.db.select().from(cdnFiles).where(eq(cdnFiles.id, fileId)),
      runtime.db.select({ region: cdnFileRegions.region, status: cdnFileRegions.status }).from(cdnFileRegions).where(eq(cdnFileRegions.fileId, fileId)),
    ]);
    if (!file || file.fileName !== fileName) return { kind: 'missing' };
    if (file.status === 'EXPIRED' || (file.status === 'ACTIVE' && file.expiresAt && file.expiresAt.getTime() <= Date.now())) return { kind: 'expired', file };
    if (file.status !== 'ACTIVE') return { kind: 'missing' };
    const available = new Set(regionRows.filter((r) => r.status === 'AVAILABLE').map((r) => r.region));
    // The URL's region first, then the others in configured order: a region that lost the file fails over.
    const ordered = [...(region ? [region] : []), ...provider.regions.filter((r) => r !== region)].filter((r) => available.has(r));
    return ordered.length === 0 ? { kind: 'unavailable', file } : { kind: 'ready', file, regions: ordered };
  }

  /** Opens the file's bytes from the first region that can read them. Rejects when none can. */
  async openDownload(target: Extract<DownloadTarget, { kind: 'ready' }>, range?: ByteRange): Promise<{ stream: Readable; region: string }> {
    const runtime = await this.runtime();
    const { provider } = this.state(runtime);
    let lastError: unknown;
    for (const region of target.regions) {
      try {
        return { stream: await provider.get(region, target.file.storageKey, range), region };
      } catch (error) {
        lastError = error;
        runtime.log.warn({ err: error, fileId: target.file.id, region }, 'reading a file from a region failed; trying the next region');
        await this.markReplicaLost(runtime, target.file.id, region, error);
      }
    }
    throw lastError ?? new Error('no region to read from');
  }

  /**
   * A region that should hold a file could not serve it (bytes lost, origin offline): it is
   * FAILED from now on, so the retry job copies the file back from a healthy region (put is
   * idempotent, so a transient read error costs one needless copy at most).
   */
  private async markReplicaLost(runtime: ServiceRuntime, fileId: string, region: string, error: unknown): Promise<void> {
    const now = new Date();
    await runtime.db
      .update(cdnFileRegions)
      .set({ status: 'FAILED', lastError: `serving failed: ${errorMessage(error)}`, nextAttemptAt: now, updatedAt: now })
      .where(and(eq(cdnFileRegions.fileId, fileId), eq(cdnFileRegions.region, region), eq(cdnFileRegions.status, 'AVAILABLE')))
      .catch((failure: unknown) => runtime.log.error({ err: failure, fileId, region }, 'marking a region as having lost a file failed'));
  }

  /**
   * Counts a response in memory (written by the next stats flush). Synchronous, for the download
   * route; counts before this service has resolved its runtime (impossible after resolveDownload) are dropped.
   */
  recordDownload(fileId: string, region: string, bytes: number, isDownload: boolean): void {
    this.current?.downloads.record(fileId, region, bytes, isDownload);
  }

  /** Writes counted downloads to the database (the stats job calls this every CDN_STATS_FLUSH_INTERVAL). */
  async flushDownloadStats(): Promise<FlushResult> {
    const runtime = await this.runtime();
    const result = await this.state(runtime).downloads.flush(runtime.db);
    if (result.rows > 0) runtime.log.debug(result, 'download stats flushed');
    return result;
  }

  /** Downloads per region, all time, for many files at once (DataLoader batch). */
  async getRegionStats(fileIds: readonly string[]): Promise<RegionDownloadStats[][]> {
    const valid = fileIds.filter(isUuid);
    const runtime = await this.runtime();
    const rows =
      valid.length === 0
        ? []
        : await runtime.db
            .select({
              fileId: cdnDownloadStats.fileId,
              region: cdnDownloadStats.region,
              downloads: sql<string>`sum(${cdnDownloadStats.downloads})`,
              bytesServed: sql<string>`sum(${cdnDownloadStats.bytesServed})`,
              lastDownloadAt: sql<string | null>`max(${cdnDownloadStats.lastDownloadAt})`,
            })
            .from(cdnDownloadStats)
            .where(inArray(cdnDownloadStats.fileId, valid))
            .groupBy(cdnDownloadStats.fileId, cdnDownloadStats.region)
            .orderBy(asc(cdnDownloadStats.region));
    return fileIds.map((id) =>
      rows
        .filter((row) => row.fileId === id)
        .map((row) => ({
          region: row.region,
          downloads: Number(row.downloads),
          bytesServed: Number(row.bytesServed),
          lastDownloadAt: row.lastDownloadAt ? new Date(row.lastDownloadAt) : null,
        })),
    );
  }

  /** The last `days` entries of a series from getDailyStats (1–366; BAD_USER_INPUT otherwise). */
  lastDays(series: DailyDownloadStats[], days: number): DailyDownloadStats[] {
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new BadInputError('days must be a whole number from 1 to 366', { field: 'days' });
    return series.slice(-days);
  }

  /** The last `days` UTC days of downloads (oldest first, days without downloads as zeros), for many files at once. */
  async getDailyStats(fileIds: readonly string[], days = 30): Promise<DailyDownloadStats[][]> {
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new BadInputError('days must be a whole number from 1 to 366', { field: 'days' });
    const valid = fileIds.filter(isUuid);
    const today = new Date();
    const first = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (days - 1)));
    const firstDay = first.toISOString().slice(0, 10);
    const runtime = await this.runtime();
    const rows =
      valid.length === 0
        ? []
        : await runtime.db
            .select({
              fileId: cdnDownloadStats.fileId,
              day: cdnDownloadStats.day,
              downloads: sql<string>`sum(${cdnDownloadStats.downloads})`,
              bytesServed: sql<string>`sum(${cdnDownloadStats.bytesServed})`,
            })
            .from(cdnDownloadStats)
            .where(and(inArray(cdnDownloadStats.fileId, valid), gte(cdnDownloadStats.day, firstDay)))
            .groupBy(cdnDownloadStats.fileId, cdnDownloadStats.day);
    const series = Array.from({ length: days }, (_, i) => new Date(first.getTime() + i * 86_400_000).toISOString().slice(0, 10));
    return fileIds.map((id) => {
      const byDay = new Map(rows.filter((row) => row.fileId === id).map((row) => [String(row.day).slice(0, 10), row]));
      return series.map((date) => {
        const row = byDay.get(date);
        return { date, downloads: Number(row?.downloads ?? 0), bytesServed: Number(row?.bytesServed ?? 0) };
      });
    });
  }

  // ---------------------------------------------------------------- background work (src/jobs/cdnJobs.ts runs these)

  /**
   * Retries due FAILED regions (copying the bytes from a healthy region) and due REMOVING ones.
   * Claims rows with FOR UPDATE SKIP LOCKED, so several instances never work on the same row;
   * safe to run twice. Resolves what happened.
   */
  async retryRegions(): Promise<{ replicated: number; removed: number; failed: number }> {
    const runtime = await this.runtime();
    const { db } = runtime;
    const now = new Date();
    const claimed = await db.transaction(async (tx) => {
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
    const { provider } = this.state(runtime);
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

  /** Retries due PENDING invalidations (claimed like regions; safe to run twice). */
  async retryInvalidations(): Promise<{ completed: number; pending: number; failed: number }> {
    const runtime = await this.runtime();
    const now = new Date();
    const claimed = await runtime.db.transaction(async (tx) => {
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

  /**
   * Expires files past expiresAt (their bytes removed from every region, their URLs
   * invalidated; the record stays, reading EXPIRED, and its URL answers 410), and cleans up
   * uploads that crashed (stale UPLOADING rows and whatever bytes they stored). Safe to run twice.
   */
  async sweepExpired(): Promise<{ expired: number; bytes: number; staleUploads: number }> {
    const runtime = await this.runtime();
    const { db, log } = runtime;
    const now = new Date();
    const expired = await db.transaction(async (tx) => {
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
      await this.removeBytes(runtime, file);
      await this.invalidateFileUrls(runtime, file, 'EXPIRY', null);
      bytes += file.fileSize;
      if (expired.length >= 10 && (index + 1) % 10 === 0) {
        log.info({ done: index + 1, total: expired.length, percent: Math.round(((index + 1) / expired.length) * 100) }, 'expiry sweep progress');
      }
    }

    const stale = await db
      .select()
      .from(cdnFiles)
      .where(and(eq(cdnFiles.status, 'UPLOADING'), lte(cdnFiles.uploadedAt, new Date(now.getTime() - LIMITS.staleUploadMs))))
      .limit(LIMITS.sweepBatch);
    for (const file of stale) {
      const regions = await db.select().from(cdnFileRegions).where(eq(cdnFileRegions.fileId, file.id));
      await this.abandonUpload(
        runtime,
        file.id,
        file.storageKey,
        file.checksum,
        regions.map((r) => r.region),
      );
    }
    if (expired.length > 0 || stale.length > 0) {
      log.info({ expired: expired.length, bytes, staleUploads: stale.length }, 'cdn expiry sweep removed files');
    }
    return { expired: expired.length, bytes, staleUploads: stale.length };
  }

  // ---------------------------------------------------------------- uploads over HTTP

  /**
   * Streams a request body into UPLOAD_DIR/<name> (PUT /uploads/<name>): counted against
   * MAX_FILE_SIZE as it arrives (PAYLOAD_TOO_LARGE, nothing kept), hashed on the way, written
   * to a hidden temp file, fsynced, then renamed into place (replacing an older file of that
   * name atomically). `name` is one file name; names starting with "." are reserved.
   */
  async receiveUpload(name: string, body: AsyncIterable<Buffer>, declaredLength?: number): Promise<{ path: string; size: number; checksum: string }> {
    const fileName = parseFileName(name, 'name');
    if (fileName.startsWith('.')) throw new BadInputError(`name ${quote(fileName)} starts with "."; such names are reserved for uploads in progress`, { field: 'name' });
    const runtime = await this.runtime();
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
}

/**
 * The first `size` bytes of an opened upload as a stream of positional reads. Not
 * FileHandle.createReadStream: destroying one of those closes the handle, which every region's
 * stream shares (a region failing would cut off the others). This one never closes the handle.
 */
function readUpload(source: OpenedUpload, size: number): Readable {
  let position = 0;
  return new Readable({
    highWaterMark: READ_BUFFER_BYTES,
    read() {
      const length = Math.min(READ_BUFFER_BYTES, size - position);
      if (length <= 0) {
        this.push(null);
        return;
      }
      const buffer = Buffer.allocUnsafe(length);
      source.handle.read(buffer, 0, length, position).then(
        ({ bytesRead }) => {
          if (bytesRead === 0) {
            this.push(null);
            return;
          }
          position += bytesRead;
          this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
        },
        (error: unknown) => this.destroy(error as Error),
      );
    },
  });
}

/** Ready instance with the seed's call shapes, over the shared runtime. */
export const cdnIntegrationService = new CdnIntegrationService();
