import { and, eq, gt, inArray, isNull, lte, ne, or, type SQL } from 'drizzle-orm';

import type { CdnProvider } from '../../cdn/provider.js';
import { cdnFileRegions, cdnFiles } from '../../db/schema.js';
import { BadInputError } from '../errors.js';
import { isUuid } from '../ids.js';
import { decodeIdCursor, newestFirstPage } from '../keysetPage.js';
import { pageSize, type Page } from '../pagination.js';
import type { ServiceRuntime } from '../runtime.js';
import type { CdnScope } from './scope.js';
import type { CdnFileFilter, CdnFileRecord, CdnFileRow, CdnFileStatus, CdnRegionRow } from './types.js';

/** Reading CDN files as callers see them: UPLOADING rows hidden, each file with its regions and distribution status. */
export class CdnFileReads {
  constructor(private readonly scope: CdnScope) {}

  /** A visible file (ACTIVE or EXPIRED; DELETED only with includeDeleted), or null. */
  async getFile(id: string, includeDeleted = false): Promise<CdnFileRecord | null> {
    return (await this.getFilesByIds([id], includeDeleted))[0] ?? null;
  }

  /** Batch lookup for DataLoaders: two statements for many ids, results in the ids' order. */
  async getFilesByIds(ids: readonly string[], includeDeleted = false): Promise<(CdnFileRecord | null)[]> {
    const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
    if (valid.length === 0) return ids.map(() => null);
    const runtime = await this.scope.runtime();
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
    const runtime = await this.scope.runtime();
    const page = await newestFirstPage<CdnFileRow>(runtime.db, { table: cdnFiles, createdAt: cdnFiles.uploadedAt, id: cdnFiles.id }, where, limit, afterId);
    return { ...page, nodes: await this.withRegions(runtime, page.nodes) };
  }

  private async withRegions(runtime: ServiceRuntime, rows: CdnFileRow[]): Promise<CdnFileRecord[]> {
    if (rows.length === 0) return [];
    const { provider } = this.scope.state(runtime);
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
    const now = Date.now();
    return rows.map((row) => toFileRecord(provider, row, byFile.get(row.id) ?? [], now));
  }
}

/**
 * The shape readers see: an ACTIVE row past expiresAt reads EXPIRED; regions in the provider's
 * configured order (unknown ones last, by name), each with its URL; distribution from how many hold the bytes.
 */
function toFileRecord(provider: CdnProvider, row: CdnFileRow, regionRows: CdnRegionRow[], now: number): CdnFileRecord {
  const order = (region: string) => {
    const index = provider.regions.indexOf(region);
    return index === -1 ? provider.regions.length : index;
  };
  const regions = regionRows
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
  const status: CdnFileStatus = row.status === 'ACTIVE' && row.expiresAt && row.expiresAt.getTime() <= now ? 'EXPIRED' : (row.status as CdnFileStatus);
  return {
    ...row,
    status,
    regions,
    distributionStatus: available === 0 ? 'NONE' : available === regions.length ? 'COMPLETE' : 'PARTIAL',
  };
}
