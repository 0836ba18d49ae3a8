import type { Readable } from 'node:stream';

import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm';

import type { ByteRange } from '../../cdn/provider.js';
import { cdnDownloadStats, cdnFileRegions, cdnFiles } from '../../db/schema.js';
import type { FlushResult } from './downloadStats.js';
import { BadInputError } from '../errors.js';
import { isUuid } from '../ids.js';
import type { CdnReplicas } from './replicas.js';
import type { CdnScope } from './scope.js';
import type { DailyDownloadStats, DownloadTarget, RegionDownloadStats } from './types.js';

/** Serving files (which region, failing over when one has lost the bytes) and counting what was served. */
export class CdnDownloads {
  constructor(
    private readonly scope: CdnScope,
    private readonly replicas: CdnReplicas,
  ) {}

  /**
   * Decides what a download URL serves: `region` (optional) is the region segment of the URL.
   * Only ACTIVE files whose name matches are served; expired ones are `expired` (410).
   */
  async resolveDownload(fileId: string, fileName: string, region?: string): Promise<DownloadTarget> {
    if (!isUuid(fileId)) return { kind: 'missing' };
    const runtime = await this.scope.runtime();
    const { provider } = this.scope.state(runtime);
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
    const runtime = await this.scope.runtime();
    const { provider } = this.scope.state(runtime);
    let lastError: unknown;
    for (const region of target.regions) {
      try {
        return { stream: await provider.get(region, target.file.storageKey, range), region };
      } catch (error) {
        lastError = error;
        runtime.log.warn({ err: error, fileId: target.file.id, region }, 'reading a file from a region failed; trying the next region');
        await this.replicas.markReplicaLost(runtime, target.file.id, region, error);
      }
    }
    throw lastError ?? new Error('no region to read from');
  }

  /**
   * Counts a response in memory (written by the next stats flush). Synchronous, for the download
   * route; counts before this service has resolved its runtime (impossible after resolveDownload) are dropped.
   */
  recordDownload(fileId: string, region: string, bytes: number, isDownload: boolean): void {
    this.scope.current()?.downloads.record(fileId, region, bytes, isDownload);
  }

  /** Writes counted downloads to the database (the stats job calls this every CDN_STATS_FLUSH_INTERVAL). */
  async flushDownloadStats(): Promise<FlushResult> {
    const runtime = await this.scope.runtime();
    const result = await this.scope.state(runtime).downloads.flush(runtime.db);
    if (result.rows > 0) runtime.log.debug(result, 'download stats flushed');
    return result;
  }

  /** Downloads per region, all time, for many files at once (DataLoader batch). */
  async getRegionStats(fileIds: readonly string[]): Promise<RegionDownloadStats[][]> {
    const valid = fileIds.filter(isUuid);
    const runtime = await this.scope.runtime();
    const rows =
      valid.length === 0
        ? []
        : await runtime.db
            .select({
              fileId: cdnDownloadStats.fileId,
              region: cdnDownloadStats.region,
              ...summedCounts(),
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
    checkDays(days);
    return series.slice(-days);
  }

  /** The last `days` UTC days of downloads (oldest first, days without downloads as zeros), for many files at once. */
  async getDailyStats(fileIds: readonly string[], days = 30): Promise<DailyDownloadStats[][]> {
    checkDays(days);
    const valid = fileIds.filter(isUuid);
    const today = new Date();
    const first = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (days - 1)));
    const firstDay = first.toISOString().slice(0, 10);
    const runtime = await this.scope.runtime();
    const rows =
      valid.length === 0
        ? []
        : await runtime.db
            .select({
              fileId: cdnDownloadStats.fileId,
              day: cdnDownloadStats.day,
              ...summedCounts(),
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
}

/** Downloads and bytes summed over a group of cdn_download_stats rows (bigint sums arrive as strings). */
function summedCounts() {
  return {
    downloads: sql<string>`sum(${cdnDownloadStats.downloads})`,
    bytesServed: sql<string>`sum(${cdnDownloadStats.bytesServed})`,
  };
}

/** Stats windows are 1–366 whole days; BAD_USER_INPUT otherwise. */
function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 366) throw new BadInputError('days must be a whole number from 1 to 366', { field: 'days' });
}
