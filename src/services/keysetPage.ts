import { and, count, desc, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';

import type { Database } from '../db/client.js';
import { isUuid } from './ids.js';
import { decodeCursor, invalidCursor, toPage, type Page } from './pagination.js';

/**
 * Newest-first lists over tables keyed by a uuid `id`: the cursor names the last row seen, and
 * that row's own timestamp (full database precision, never a rounded copy in the cursor) is the
 * position the next page starts after.
 */

/** A table listed newest first: by `createdAt`, ties broken by `id`. */
export interface NewestFirstOrder {
  table: PgTable;
  createdAt: PgColumn;
  id: PgColumn;
}

/** The row id a list cursor names (base64url JSON `[id]`). BAD_USER_INPUT for anything else. */
export function decodeIdCursor(cursor: string): string {
  const [id] = decodeCursor(cursor, 1) as [string];
  if (!isUuid(id)) throw invalidCursor();
  return id;
}

/**
 * Reads one page of rows matching `where`, newest first, after the row `afterId` (from
 * decodeIdCursor; null for the first page), with the total count of `where`. Two statements,
 * run together. A cursor whose row is gone yields an empty page.
 */
export async function newestFirstPage<Row extends { id: string }>(
  db: Database,
  order: NewestFirstOrder,
  where: SQL | undefined,
  limit: number,
  afterId: string | null,
): Promise<Page<Row>> {
  const { table, createdAt, id } = order;
  const keyset =
    afterId === null
      ? undefined
      : sql`(${createdAt}, ${id}) < (select c.${sql.identifier(createdAt.name)}, c.${sql.identifier(id.name)} from ${table} c where c.${sql.identifier(id.name)} = ${afterId}::uuid)`;
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(table)
      .where(and(where, keyset))
      .orderBy(desc(createdAt), desc(id))
      .limit(limit + 1),
    db.select({ value: count() }).from(table).where(where),
  ]);
  return toPage(rows as Row[], limit, total?.value ?? 0, (row) => [row.id]);
}
