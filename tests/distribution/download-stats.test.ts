import crypto from 'node:crypto';

import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { cdnDownloadStats, cdnFiles } from '../../src/db/schema.js';
import { DownloadCounter } from '../../src/services/cdn/downloadStats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * Download counts are kept in memory and written in batches. What users see (a file's
 * downloads, bytes served, daily per-region series) must be each download counted exactly once:
 * flushes add to what is stored, a failed flush loses nothing and doubles nothing, and a large
 * batch is written whole. Runs against the real database of the pass (PGlite or PostgreSQL).
 */

let database: TestDatabase;
let handle: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = await openDatabase({ databaseUrl: database.url, dataDir: database.dataDir });
  await handle.migrate();
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

let counter: DownloadCounter;
beforeEach(() => {
  counter = new DownloadCounter();
});

async function newFile(): Promise<string> {
  const id = crypto.randomUUID();
  await handle.db.insert(cdnFiles).values({
    id,
    fileName: 'app.zip',
    filePath: 'app.zip',
    fileSize: 1000,
    mimeType: 'application/zip',
    cdnUrl: `http://cdn.test/cdn/${id}/app.zip`,
    checksum: 'a'.repeat(64),
    storageKey: id,
    cacheControl: 'public',
  });
  return id;
}

async function totals(fileId: string) {
  const [row] = await handle.db
    .select({ downloads: cdnFiles.downloadCount, bytes: cdnFiles.bytesServed, lastAt: cdnFiles.lastDownloadAt })
    .from(cdnFiles)
    .where(eq(cdnFiles.id, fileId));
  return row!;
}

async function daily(fileId: string) {
  const rows = await handle.db
    .select({ day: cdnDownloadStats.day, region: cdnDownloadStats.region, downloads: cdnDownloadStats.downloads, bytes: cdnDownloadStats.bytesServed, lastAt: cdnDownloadStats.lastDownloadAt })
    .from(cdnDownloadStats)
    .where(eq(cdnDownloadStats.fileId, fileId));
  return rows.sort((a, b) => `${a.day}|${a.region}`.localeCompare(`${b.day}|${b.region}`));
}

const DAY1 = new Date('2026-03-01T10:00:00.000Z');
const DAY1_LATER = new Date('2026-03-01T23:59:59.000Z');
const DAY2 = new Date('2026-03-02T00:00:01.000Z');

describe('DownloadCounter', () => {
  it('writes the daily series per region and UTC day, and the file totals, with exact values', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'us-east', 1000, true, DAY1);
    counter.record(fileId, 'us-east', 400, false, DAY1_LATER); // a range request: bytes, no download
    counter.record(fileId, 'eu-west', 1000, true, DAY2);
    counter.record(fileId, 'eu-west', 0, false, DAY2); // nothing served, nothing counted
    expect(counter.pendingRows).toBe(2);

    expect(await counter.flush(handle.db)).toEqual({ rows: 2, downloads: 2, bytes: 2400 });
    expect(counter.pendingRows).toBe(0);
    expect(await daily(fileId)).toEqual([
      { day: '2026-03-01', region: 'us-east', downloads: 1, bytes: 1400, lastAt: DAY1_LATER },
      { day: '2026-03-02', region: 'eu-west', downloads: 1, bytes: 1000, lastAt: DAY2 },
    ]);
    expect(await totals(fileId)).toEqual({ downloads: 2, bytes: 2400, lastAt: DAY2 });
  });

  it('adds a second flush for the same file, day and region to what the first stored (never replaces it)', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'us-east', 100, true, DAY1_LATER);
    counter.record(fileId, 'us-east', 100, true, DAY1_LATER);
    await counter.flush(handle.db);
    counter.record(fileId, 'us-east', 50, true, DAY1); // earlier than the stored last download
    expect(await counter.flush(handle.db)).toEqual({ rows: 1, downloads: 1, bytes: 50 });

    expect(await daily(fileId)).toEqual([{ day: '2026-03-01', region: 'us-east', downloads: 3, bytes: 250, lastAt: DAY1_LATER }]);
    expect(await totals(fileId)).toEqual({ downloads: 3, bytes: 250, lastAt: DAY1_LATER });
  });

  it('puts the counts back when a flush fails, so the next flush writes each download exactly once', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'us-east', 100, true, DAY1);
    counter.record(fileId, 'eu-west', 70, true, DAY1);
    // A real failure: the table is missing while the flush runs.
    await handle.db.execute(sql`alter table cdn_download_stats rename to cdn_download_stats_away`);
    try {
      await expect(counter.flush(handle.db)).rejects.toThrow();
      expect(counter.pendingRows).toBe(2);
      // Counted while the database was failing: merged with what was put back.
      counter.record(fileId, 'us-east', 30, true, DAY2);
      counter.record(fileId, 'us-east', 5, true, DAY1);
    } finally {
      await handle.db.execute(sql`alter table cdn_download_stats_away rename to cdn_download_stats`);
    }
    expect(await totals(fileId)).toEqual({ downloads: 0, bytes: 0, lastAt: null }); // the failed transaction left nothing behind
    expect(counter.pendingRows).toBe(3);

    expect(await counter.flush(handle.db)).toEqual({ rows: 3, downloads: 4, bytes: 205 });
    expect(await daily(fileId)).toEqual([
      { day: '2026-03-01', region: 'eu-west', downloads: 1, bytes: 70, lastAt: DAY1 },
      { day: '2026-03-01', region: 'us-east', downloads: 2, bytes: 105, lastAt: DAY1 },
      { day: '2026-03-02', region: 'us-east', downloads: 1, bytes: 30, lastAt: DAY2 },
    ]);
    expect(await totals(fileId)).toEqual({ downloads: 4, bytes: 205, lastAt: DAY2 });
    expect(await counter.flush(handle.db)).toEqual({ rows: 0, downloads: 0, bytes: 0 });
  });

  it('shares one flush between concurrent callers: each count is written once', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'us-east', 10, true, DAY1);
    const [first, second] = await Promise.all([counter.flush(handle.db), counter.flush(handle.db)]);
    expect(first).toEqual({ rows: 1, downloads: 1, bytes: 10 });
    expect(second).toBe(first);
    expect(await totals(fileId)).toEqual({ downloads: 1, bytes: 10, lastAt: DAY1 });
  });

  it('writes a batch of more than 500 rows and files (several statements each) whole, each file once', async () => {
    // 1,000 files (twice the rows per statement): every statement full, none empty, none repeated.
    const ids = Array.from({ length: 1000 }, () => crypto.randomUUID());
    await handle.db.insert(cdnFiles).values(
      ids.map((id) => ({ id, fileName: 'f.bin', filePath: 'f.bin', fileSize: 10, mimeType: 'application/octet-stream', cdnUrl: `http://cdn.test/${id}`, checksum: 'b'.repeat(64), storageKey: id, cacheControl: 'public' })),
    );
    ids.forEach((id, index) => counter.record(id, 'us-east', index + 1, true, DAY1));
    expect(counter.pendingRows).toBe(1000);
    expect(await counter.flush(handle.db)).toEqual({ rows: 1000, downloads: 1000, bytes: (1000 * 1001) / 2 });
    const rows = await handle.db.select({ id: cdnFiles.id, downloads: cdnFiles.downloadCount, bytes: cdnFiles.bytesServed }).from(cdnFiles).where(inArray(cdnFiles.id, ids));
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(ids.every((id, index) => byId.get(id)?.downloads === 1 && byId.get(id)?.bytes === index + 1)).toBe(true);
    const [daily] = await handle.db.select({ rows: sql<number>`count(*)::int`, bytes: sql<number>`sum(bytes_served)::int` }).from(cdnDownloadStats).where(inArray(cdnDownloadStats.fileId, ids));
    expect(daily).toEqual({ rows: 1000, bytes: (1000 * 1001) / 2 });
  });

  it('counts a download of an empty file, but not a response that sent nothing and was no download', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'ap-south', 0, false, DAY1); // e.g. a 304
    expect(counter.pendingRows).toBe(0);
    counter.record(fileId, 'ap-south', 0, true, DAY1); // an empty file, downloaded
    expect(counter.pendingRows).toBe(1);
    expect(await counter.flush(handle.db)).toEqual({ rows: 1, downloads: 1, bytes: 0 });
  });

  it('keeps the latest download time of a file whatever order its regions were counted in', async () => {
    const fileId = await newFile();
    counter.record(fileId, 'eu-west', 10, true, DAY2);
    counter.record(fileId, 'us-east', 10, true, DAY1_LATER);
    counter.record(fileId, 'us-east', 10, true, DAY1); // same region and day, earlier
    await counter.flush(handle.db);
    expect(await totals(fileId)).toEqual({ downloads: 3, bytes: 30, lastAt: DAY2 });
    expect((await daily(fileId)).find((row) => row.region === 'us-east')?.lastAt).toEqual(DAY1_LATER);
  });

  it('drops the counts of a file whose row is gone instead of failing every later flush', async () => {
    const [kept, gone] = [await newFile(), await newFile()];
    counter.record(kept, 'us-east', 8, true, DAY1);
    counter.record(gone, 'us-east', 9, true, DAY1);
    await handle.db.delete(cdnFiles).where(eq(cdnFiles.id, gone));
    await counter.flush(handle.db);
    expect(counter.pendingRows).toBe(0);
    expect(await totals(kept)).toEqual({ downloads: 1, bytes: 8, lastAt: DAY1 });
    expect(await daily(gone)).toEqual([]);
  });
});
