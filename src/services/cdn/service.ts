import type { Readable } from 'node:stream';

import type { ByteRange, CdnProvider } from '../../cdn/provider.js';
import { CdnDownloads } from './downloads.js';
import { CdnFileReads } from './fileReads.js';
import { CdnInvalidations } from './invalidations.js';
import { receiveUpload } from './receiveUpload.js';
import { CdnFileRemoval } from './removal.js';
import type { TempCleanup } from './tempFiles.js';
import { CdnReplicas } from './replicas.js';
import { CdnStateHolder, type CdnScope } from './scope.js';
import type {
  CdnFileFilter,
  CdnFileRecord,
  CdnInvalidationRecord,
  DailyDownloadStats,
  DeleteOptions,
  DownloadTarget,
  InvalidationFilter,
  RegionDownloadStats,
  UploadOptions,
} from './types.js';
import { CdnUploads } from './upload.js';
import type { FlushResult } from './downloadStats.js';
import type { Page } from '../pagination.js';
import { Service, type RuntimeSource } from '../runtime.js';
import { scriptActor, type Actor } from '../audit/actor.js';
import { audited } from '../audit/trail.js';

export type * from './types.js';

export interface CdnServiceOptions {
  /** A provider to use instead of the one CDN_PROVIDER selects (tests, tools). */
  provider?: CdnProvider;
}

/**
 * CDN files: streamed, checked uploads from UPLOAD_DIR into every region of the provider,
 * per-region status with background re-replication, deletes that respect update packages,
 * recorded cache invalidations with retries, expiry, and download statistics.
 *
 * The one entry point resolvers, routes and jobs use. Each concern lives in its own module
 * under ./cdn/ (see each method's target for its contract); this class owns the runtime and
 * the per-runtime CDN state those modules share, and hands them out through a CdnScope.
 */
export class CdnIntegrationService extends Service {
  private readonly states: CdnStateHolder;
  private readonly scope: CdnScope;
  private readonly files: CdnFileReads;
  private readonly replicas: CdnReplicas;
  private readonly invalidations: CdnInvalidations;
  private readonly removal: CdnFileRemoval;
  private readonly downloads: CdnDownloads;
  private readonly uploads: CdnUploads;

  constructor(source?: RuntimeSource, options: CdnServiceOptions = {}) {
    super(source);
    this.states = new CdnStateHolder(options.provider);
    this.scope = {
      runtime: () => this.runtime(),
      state: (runtime) => this.states.state(runtime),
      current: () => this.states.current,
    };
    this.files = new CdnFileReads(this.scope);
    this.replicas = new CdnReplicas(this.scope);
    this.invalidations = new CdnInvalidations(this.scope, this.files);
    this.removal = new CdnFileRemoval(this.scope, this.replicas, this.invalidations);
    this.downloads = new CdnDownloads(this.scope, this.replicas);
    this.uploads = new CdnUploads(this.scope, this.files, this.replicas);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Called by the server once it listens: files it serves get URLs under `publicBaseUrl`
   * (CDN_BASE_URL when set, else `<server url>/cdn`).
   */
  async setPublicBaseUrl(publicBaseUrl: string): Promise<void> {
    this.states.state(await this.runtime()).publicBaseUrl = publicBaseUrl.replace(/\/+$/, '');
  }

  /** The provider files are stored with (created on first use from CDN_PROVIDER). */
  async provider(): Promise<CdnProvider> {
    return this.states.state(await this.runtime()).provider;
  }

  /** Writes pending download counts, then releases the provider's clients. Called at shutdown. */
  async close(): Promise<void> {
    const runtime = await this.runtime();
    const state = this.states.state(runtime);
    await this.flushDownloadStats().catch((error: unknown) => runtime.log.error({ err: error }, 'final download stats flush failed'));
    await state.provider.close?.();
  }

  // ---------------------------------------------------------------- uploads (./cdn/upload.ts, ./cdn/receiveUpload.ts)

  /** Audited as `uploadCdnFile`; `actor` defaults to a script acting as `uploadedBy`. */
  async uploadFile(filePath: string, fileName?: string | null, options?: UploadOptions | null, uploadedBy?: string | null, actor?: Actor): Promise<CdnFileRecord> {
    const input = { filePath, fileName, cacheControl: options?.cacheControl, expiresAt: options?.expiresAt, metadata: options?.metadata };
    return audited(await this.runtime(), { operation: 'uploadCdnFile', actor: actor ?? scriptActor(uploadedBy), input }, (audit) =>
      this.uploads.uploadFile(filePath, fileName, options, uploadedBy, audit),
    );
  }

  /**
   * An upload that is one step of another audited operation (createUpdatePackage storing its
   * artifact): not an audit entry of its own; the operation's entry names the file.
   */
  uploadFileAsStep(filePath: string, fileName?: string | null, options?: UploadOptions | null, uploadedBy?: string | null): Promise<CdnFileRecord> {
    return this.uploads.uploadFile(filePath, fileName, options, uploadedBy);
  }

  receiveUpload(name: string, body: AsyncIterable<Buffer>, declaredLength?: number): Promise<{ path: string; size: number; checksum: string }> {
    return receiveUpload(this.scope, name, body, declaredLength);
  }

  // ---------------------------------------------------------------- reads (./cdn/fileReads.ts)

  getFile(id: string, includeDeleted = false): Promise<CdnFileRecord | null> {
    return this.files.getFile(id, includeDeleted);
  }

  getFilesByIds(ids: readonly string[], includeDeleted = false): Promise<(CdnFileRecord | null)[]> {
    return this.files.getFilesByIds(ids, includeDeleted);
  }

  listFiles(filter: CdnFileFilter = {}): Promise<Page<CdnFileRecord>> {
    return this.files.listFiles(filter);
  }

  // ---------------------------------------------------------------- removal (./cdn/removal.ts)

  /** Audited as `deleteCdnFile`; `options.actor` defaults to a script acting as `deletedBy`. */
  async deleteFile(id: string, options: DeleteOptions & { actor?: Actor } = {}): Promise<boolean> {
    const { actor = scriptActor(options.deletedBy), ...rest } = options;
    return audited(await this.runtime(), { operation: 'deleteCdnFile', actor, targetId: id, input: { id, force: rest.force } }, (audit) =>
      this.removal.deleteFile(id, rest, audit),
    );
  }

  /** A delete that is one step of another audited operation (undoing a refused package's artifact): no entry of its own. */
  deleteFileAsStep(id: string, options: DeleteOptions = {}): Promise<boolean> {
    return this.removal.deleteFile(id, options);
  }

  sweepExpired(): Promise<{ expired: number; bytes: number; staleUploads: number; tempFiles: number }> {
    return this.removal.sweepExpired();
  }

  /** Removes temp files crashed uploads left in UPLOAD_DIR and the local store (start-up; the sweep does it too). */
  removeStaleTempFiles(): Promise<TempCleanup> {
    return this.removal.removeStaleTempFiles();
  }

  // ---------------------------------------------------------------- invalidation (./cdn/invalidations.ts)

  /** Audited as `invalidateCdnCache` (target: the invalidation it records); `actor` defaults to a script acting as `requestedBy`. */
  async invalidateCache(fileId: string, paths?: readonly string[] | null, requestedBy?: string | null, actor?: Actor): Promise<CdnInvalidationRecord> {
    return audited(await this.runtime(), { operation: 'invalidateCdnCache', actor: actor ?? scriptActor(requestedBy), input: { fileId, paths } }, (audit) =>
      this.invalidations.invalidateCache(fileId, paths, requestedBy, audit),
    );
  }

  getInvalidation(id: string): Promise<CdnInvalidationRecord | null> {
    return this.invalidations.getInvalidation(id);
  }

  listInvalidations(filter: InvalidationFilter = {}): Promise<Page<CdnInvalidationRecord>> {
    return this.invalidations.listInvalidations(filter);
  }

  retryInvalidations(): Promise<{ completed: number; pending: number; failed: number }> {
    return this.invalidations.retryInvalidations();
  }

  // ---------------------------------------------------------------- regions (./cdn/replicas.ts)

  retryRegions(): Promise<{ replicated: number; removed: number; failed: number }> {
    return this.replicas.retryRegions();
  }

  // ---------------------------------------------------------------- serving and stats (./cdn/downloads.ts)

  resolveDownload(fileId: string, fileName: string, region?: string): Promise<DownloadTarget> {
    return this.downloads.resolveDownload(fileId, fileName, region);
  }

  openDownload(target: Extract<DownloadTarget, { kind: 'ready' }>, range?: ByteRange): Promise<{ stream: Readable; region: string }> {
    return this.downloads.openDownload(target, range);
  }

  recordDownload(fileId: string, region: string, bytes: number, isDownload: boolean): void {
    this.downloads.recordDownload(fileId, region, bytes, isDownload);
  }

  flushDownloadStats(): Promise<FlushResult> {
    return this.downloads.flushDownloadStats();
  }

  getRegionStats(fileIds: readonly string[]): Promise<RegionDownloadStats[][]> {
    return this.downloads.getRegionStats(fileIds);
  }

  getDailyStats(fileIds: readonly string[], days = 30): Promise<DailyDownloadStats[][]> {
    return this.downloads.getDailyStats(fileIds, days);
  }

  lastDays(series: DailyDownloadStats[], days: number): DailyDownloadStats[] {
    return this.downloads.lastDays(series, days);
  }
}

/** Ready instance with the seed's call shapes, over the shared runtime. */
export const cdnIntegrationService = new CdnIntegrationService();
