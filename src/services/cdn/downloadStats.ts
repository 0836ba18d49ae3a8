import { sql } from 'drizzle-orm';

import type { Database } from '../../db/client.js';

/**
 * Download counts kept in memory and written in batches (every CDN_STATS_FLUSH_INTERVAL and at
 * shutdown), so serving a file never waits on, or adds load to, the database. One flush is two
 * statements whatever the traffic: an upsert into the daily per-region series and an update of
 * the per-file totals.
 */

interface PendingCount {
  fileId: string;
  region: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  downloads: number;
  bytes: number;
  lastAt: Date;
}

export interface FlushResult {
  rows: number;
  downloads: number;
  bytes: number;
}

/** Rows per statement: keeps parameter counts far below PostgreSQL's 65,535. */
const ROWS_PER_STATEMENT = 500;

export class DownloadCounter {
  private pending = new Map<string, PendingCount>();
  private flushing: Promise<FlushResult> | undefined;

  /** Counts bytes served for one response; `isDownload` adds one to the download count. */
  record(fileId: string, region: string, bytes: number, isDownload: boolean, at = new Date()): void {
    if (bytes === 0 && !isDownload) return;
    this.merge({ fileId, region, day: at.toISOString().slice(0, 10), downloads: isDownload ? 1 : 0, bytes, lastAt: at });
  }

  private merge(count: PendingCount): void {
    const key = `${count.fileId}|${count.region}|${count.day}`;
    const entry = this.pending.get(key);
    if (!entry) {
      this.pending.set(key, { ...count });
      return;
    }
    entry.downloads += count.downloads;
    entry.bytes += count.bytes;
    if (count.lastAt > entry.lastAt) entry.lastAt = count.lastAt;
  }

  /** Counts not yet written. */
  get pendingRows(): number {
    return this.pending.size;
  }

  /**
   * Writes everything counted so far. On failure the counts are put back (nothing is lost) and
   * the error is rethrown; the next flush tries again. Concurrent calls share one flush.
   */
  flush(db: Database): Promise<FlushResult> {
    this.flushing ??= this.write(db).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(db: Database): Promise<FlushResult> {
    if (this.pending.size === 0) return { rows: 0, downloads: 0, bytes: 0 };
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      await db.transaction(async (tx) => {
        for (let start = 0; start < batch.length; start += ROWS_PER_STATEMENT) {
          const rows = batch.slice(start, start + ROWS_PER_STATEMENT);
          const values = sql.join(
            rows.map((r) => sql`(${r.fileId}::uuid, ${r.day}::date, ${r.region}::text, ${r.downloads}::bigint, ${r.bytes}::bigint, ${r.lastAt.toISOString()}::timestamptz)`),
            sql`, `,
          );
          // Joined with cdn_files: counts of a file whose row is gone are dropped, not a foreign-key failure that would block every later flush.
          await tx.execute(sql`
            insert into cdn_download_stats (file_id, day, region, downloads, bytes_served, last_download_at)
            select v.file_id, v.day, v.region, v.downloads, v.bytes, v.last_at
            from (values ${values}) as v(file_id, day, region, downloads, bytes, last_at)
            join cdn_files f on f.id = v.file_id
            on conflict (file_id, day, region) do update set
              downloads = cdn_download_stats.downloads + excluded.downloads,
              bytes_served = cdn_download_stats.bytes_served + excluded.bytes_served,
              last_download_at = greatest(cdn_download_stats.last_download_at, excluded.last_download_at)`);
        }
        const perFile = new Map<string, { downloads: number; bytes: number; lastAt: Date }>();
        for (const r of batch) {
          const total = perFile.get(r.fileId);
          if (total) {
            total.downloads += r.downloads;
            total.bytes += r.bytes;
            if (r.lastAt > total.lastAt) total.lastAt = r.lastAt;
          } else perFile.set(r.fileId, { downloads: r.downloads, bytes: r.bytes, lastAt: r.lastAt });
        }
        const files = [...perFile.entries()];
        for (let start = 0; start < files.length; start += ROWS_PER_STATEMENT) {
          const values = sql.join(
            files
              .slice(start, start + ROWS_PER_STATEMENT)
              .map(([id, t]) => sql`(${id}::uuid, ${t.downloads}::bigint, ${t.bytes}::bigint, ${t.lastAt.toISOString()}::timestamptz)`),
            sql`, `,
          );
          await tx.execute(sql`
            update cdn_files f set
              download_count = f.download_count + v.downloads,
              bytes_served = f.bytes_served + v.bytes,
              last_download_at = greatest(f.last_download_at, v.last_at)
            from (values ${values}) as v(id, downloads, bytes, last_at)
            where f.id = v.id`);
        }
      });
    } catch (error) {
      for (const r of batch) this.merge(r);
      throw error;
    }
    return { rows: batch.length, downloads: batch.reduce((n, r) => n + r.downloads, 0), bytes: batch.reduce((n, r) => n + r.bytes, 0) };
  }
}
