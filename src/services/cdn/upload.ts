import crypto from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';

import { and, desc, eq } from 'drizzle-orm';

import type { CdnProvider, PutInfo } from '../../cdn/provider.js';
import type { Database } from '../../db/client.js';
import type { AuditRecorder } from '../audit/trail.js';
import { cdnFileRegions, cdnFiles } from '../../db/schema.js';
import { BadInputError, DomainError, ErrorCode, PayloadTooLargeError } from '../errors.js';
import { isUuid } from '../ids.js';
import { detectMimeType, JSON_SNIFF_MAX_BYTES, SNIFF_BYTES } from './mimeType.js';
import { ByteProgress } from '../progress.js';
import type { ServiceRuntime } from '../runtime.js';
import { openUpload, parseFileName, type OpenedUpload } from './uploadPaths.js';
import { parseMetadata } from '../metadata.js';
import type { CdnFileReads } from './fileReads.js';
import type { CdnReplicas } from './replicas.js';
import { errorMessage, LIMITS, parseCacheControl, parseExpiresAt, retryDelay } from './rules.js';
import type { CdnScope } from './scope.js';
import type { CdnFileRecord, UploadOptions } from './types.js';

const READ_BUFFER_BYTES = 1024 * 1024;

/** What the caller asked to store the file with, validated. */
interface UploadFields {
  fileName: string;
  cacheControl: string;
  expiresAt: Date | null;
  metadata: Record<string, unknown>;
  uploadedBy: string | null;
}

/** What the first pass read from the file. */
interface Inspected {
  size: number;
  checksum: string;
  mimeType: string;
}

/** One upload between its intent row and its activation. */
interface PendingUpload {
  id: string;
  storageKey: string;
  regions: string[];
  source: OpenedUpload;
  inspected: Inspected;
  fields: UploadFields;
  started: number;
}

type RegionOutcome = { region: string; ok: true; via: 'copy' | 'put' } | { region: string; ok: false; error: unknown };

/**
 * Uploads from UPLOAD_DIR into every region of the provider.
 *
 * Every upload first writes an UPLOADING row (the intent record, invisible to readers), then
 * stores the bytes, then flips the row to ACTIVE. A failure deletes what was stored and the
 * row; a crash leaves a stale UPLOADING row that the sweep cleans up with its bytes. So a row
 * readers can see always has bytes, and stored bytes always have a row.
 */
export class CdnUploads {
  constructor(
    private readonly scope: CdnScope,
    private readonly files: CdnFileReads,
    private readonly replicas: CdnReplicas,
  ) {}

  /**
   * Uploads a file from UPLOAD_DIR to every region. `filePath` is relative to UPLOAD_DIR (or
   * absolute inside it); `fileName` defaults to its base name.
   *
   * Throws BAD_USER_INPUT for a path outside UPLOAD_DIR (after symlinks), not a regular file,
   * missing, or bad options; PAYLOAD_TOO_LARGE over MAX_FILE_SIZE (checked before and while
   * reading); INTERNAL_SERVER_ERROR naming each region's failure when no region could store it.
   * On any failure nothing stays behind: no row, no stored bytes. A region that fails while
   * others succeed is retried in the background; the file reports distributionStatus PARTIAL.
   * `audit`: the audited upload's recorder; its entry commits with the activation.
   */
  async uploadFile(
    filePath: string,
    fileName?: string | null,
    options?: UploadOptions | null,
    uploadedBy?: string | null,
    audit?: AuditRecorder,
  ): Promise<CdnFileRecord> {
    const { givenName, fields } = parseUploadRequest(fileName, options, uploadedBy);
    const runtime = await this.scope.runtime();
    const source = await openUpload(runtime.config.uploadDir, filePath, runtime.config.maxFileSize);
    try {
      const name = givenName ?? parseFileName(path.posix.basename(source.relativePath), 'fileName');
      const inspected = await this.inspect(runtime, source, name);
      return await this.store(runtime, source, inspected, { fileName: name, ...fields }, audit);
    } finally {
      await source.handle.close().catch(() => {});
    }
  }

  /** First pass: size (capped at MAX_FILE_SIZE), sha256 and MIME type, reading with one reused buffer. */
  private async inspect(runtime: ServiceRuntime, source: OpenedUpload, fileName: string): Promise<Inspected> {
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
  private async store(runtime: ServiceRuntime, source: OpenedUpload, inspected: Inspected, fields: UploadFields, audit: AuditRecorder | undefined): Promise<CdnFileRecord> {
    const { provider } = this.scope.state(runtime);
    const id = crypto.randomUUID();
    const upload: PendingUpload = { id, storageKey: `${id}/${fields.fileName}`, regions: [...provider.regions], source, inspected, fields, started: Date.now() };
    await recordIntent(runtime.db, provider, upload);
    const heartbeat = keepIntentFresh(runtime, id);
    const stored: string[] = [];
    try {
      const outcomes = await this.putInEveryRegion(runtime, provider, upload, stored);
      if (stored.length === 0) throw everyRegionFailed(fields.fileName, outcomes);
      await activate(runtime, upload, outcomes, audit);
      logStored(runtime, upload, outcomes);
    } catch (error) {
      await this.replicas.abandonUpload(runtime, id, upload.storageKey, inspected.checksum, stored);
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
    return (await this.files.getFile(id))!;
  }

  /** Stores the bytes in every region at once; `stored` collects the regions that hold them as they succeed. */
  private async putInEveryRegion(runtime: ServiceRuntime, provider: CdnProvider, upload: PendingUpload, stored: string[]): Promise<RegionOutcome[]> {
    const { inspected, fields } = upload;
    const info: Omit<PutInfo, 'onProgress'> = {
      size: inspected.size,
      checksum: inspected.checksum,
      contentType: inspected.mimeType,
      cacheControl: fields.cacheControl,
    };
    const copySources = provider.copy ? await this.copySources(runtime.db, inspected.checksum, inspected.size) : new Map<string, string>();
    return Promise.all(
      upload.regions.map(async (region): Promise<RegionOutcome> => {
        try {
          const via = await this.putFromSource(runtime, provider, region, upload.storageKey, upload.source, info, copySources.get(region), fields.fileName);
          stored.push(region);
          return { region, ok: true as const, via };
        } catch (error) {
          runtime.log.warn({ err: error, fileId: upload.id, region }, 'storing a file in a region failed');
          return { region, ok: false as const, error };
        }
      }),
    );
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
}

/** Validates uploadFile's arguments before anything is opened. BAD_USER_INPUT names the first bad one. */
function parseUploadRequest(
  fileName: string | null | undefined,
  options: UploadOptions | null | undefined,
  uploadedBy: string | null | undefined,
): { givenName: string | undefined; fields: Omit<UploadFields, 'fileName'> } {
  const givenName = fileName === undefined || fileName === null ? undefined : parseFileName(fileName);
  const cacheControl = parseCacheControl(options?.cacheControl);
  const expiresAt = parseExpiresAt(options?.expiresAt);
  const metadata = parseMetadata(options?.metadata);
  if (uploadedBy !== undefined && uploadedBy !== null && !isUuid(uploadedBy)) {
    throw new BadInputError('uploadedBy must be a user id (UUID)', { field: 'uploadedBy' });
  }
  return { givenName, fields: { cacheControl, expiresAt, metadata, uploadedBy: uploadedBy ?? null } };
}

/** The intent record: an UPLOADING file row (invisible to readers) and a PENDING row per region. */
async function recordIntent(db: Database, provider: CdnProvider, upload: PendingUpload): Promise<void> {
  const { id, storageKey, regions, source, inspected, fields } = upload;
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
}

/** Long uploads keep their intent row fresh, so the stale-upload sweep never takes it for a crash. Clear the timer when done. */
function keepIntentFresh(runtime: ServiceRuntime, id: string): NodeJS.Timeout {
  const { db, log } = runtime;
  const heartbeat = setInterval(() => {
    db.update(cdnFiles)
      .set({ uploadedAt: new Date() })
      .where(and(eq(cdnFiles.id, id), eq(cdnFiles.status, 'UPLOADING')))
      .catch((error: unknown) => log.warn({ err: error, fileId: id }, 'upload heartbeat failed'));
  }, LIMITS.uploadHeartbeatMs);
  heartbeat.unref();
  return heartbeat;
}

function everyRegionFailed(fileName: string, outcomes: RegionOutcome[]): DomainError {
  return new DomainError(
    ErrorCode.INTERNAL_SERVER_ERROR,
    `Storing ${fileName} failed in every region (${outcomes.map((o) => `${o.region}: ${o.ok ? 'ok' : errorMessage(o.error)}`).join('; ')}); nothing was stored, try again later`,
    { regions: outcomes.map((o) => o.region) },
  );
}

/** Records each region's outcome (failed ones due for retry), flips the file to ACTIVE and writes the audit entry, in one transaction. */
async function activate(runtime: ServiceRuntime, upload: PendingUpload, outcomes: RegionOutcome[], audit: AuditRecorder | undefined): Promise<void> {
  const { id } = upload;
  const now = new Date();
  const baseMs = runtime.config.cdnJobs.retryBaseMs;
  await runtime.db.transaction(async (tx) => {
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
    await audit?.record(tx, {
      targetId: id,
      details: { fileName: upload.fields.fileName, size: upload.inspected.size, checksum: upload.inspected.checksum, regionsFailed: outcomes.filter((o) => !o.ok).map((o) => o.region) },
    });
  });
}

function logStored(runtime: ServiceRuntime, upload: PendingUpload, outcomes: RegionOutcome[]): void {
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.region);
  runtime.log.info(
    {
      fileId: upload.id,
      fileName: upload.fields.fileName,
      bytes: upload.inspected.size,
      checksum: upload.inspected.checksum,
      regions: outcomes.map((o) => ({ region: o.region, stored: o.ok, via: o.ok ? o.via : undefined })),
      durationMs: Date.now() - upload.started,
    },
    failed.length === 0 ? 'cdn file uploaded to every region' : `cdn file uploaded; ${failed.length} region(s) failed and will be retried`,
  );
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
