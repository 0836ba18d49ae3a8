import { and, count, desc, eq, gt, inArray, lte, sql, type SQL } from 'drizzle-orm';

import type { Database } from '../../db/client.js';
import { versions } from '../../db/schema.js';
import { ownerFilter, sameOwner, type Owner } from '../owner.js';

/**
 * The SQL of version management. The service decides what to ask; this module knows how the
 * `versions` table answers. Every function takes the database handle it runs on (a transaction
 * works too) and one named-argument object.
 */

export type VersionRecord = typeof versions.$inferSelect;
export type NewVersionRow = typeof versions.$inferInsert;

/** SemVer precedence, highest first (sort_key is byte-ordered: see semverOrder.ts). */
const HIGHEST_FIRST = [desc(versions.sortKey), desc(versions.id)];

/** Which versions of an owner a read is about. */
export interface VersionScope {
  owner: Owner;
  includePrerelease: boolean;
  /** false: leave deprecated versions out. */
  includeDeprecated: boolean;
}

function scopeFilter({ owner, includePrerelease, includeDeprecated }: VersionScope): SQL | undefined {
  return and(
    ownerFilter(versions, owner),
    includePrerelease ? undefined : eq(versions.isStable, true),
    includeDeprecated ? undefined : eq(versions.isDeprecated, false),
  );
}

/** Inserts one version; a unique violation (same owner and precedence) propagates to the caller. */
export async function insertVersion(db: Database, { values }: { values: NewVersionRow }): Promise<VersionRecord> {
  const [created] = await db.insert(versions).values(values).returning();
  return created!;
}

/** The version an owner already has at this precedence (the one a duplicate collides with). */
export async function findByPrecedence(
  db: Database,
  { owner, sortKey }: { owner: Owner; sortKey: string },
): Promise<Pick<VersionRecord, 'id' | 'version'> | null> {
  const [row] = await db
    .select({ id: versions.id, version: versions.version })
    .from(versions)
    .where(and(sameOwner(versions, owner), eq(versions.sortKey, sortKey)));
  return row ?? null;
}

/** Rows for these ids (callers pass valid uuids only); order is not guaranteed. */
export async function selectByIds(db: Database, { ids }: { ids: readonly string[] }): Promise<VersionRecord[]> {
  if (ids.length === 0) return [];
  return db.select().from(versions).where(inArray(versions.id, [...ids]));
}

/**
 * One page of `scope`, highest precedence first, strictly below the position `after`
 * (`[sortKey, id]` of the last row seen; validated by the caller), with the total count.
 * Fetches `limit + 1` rows so the caller can tell whether another page follows.
 */
export async function selectPage(
  db: Database,
  { scope, limit, after }: { scope: VersionScope; limit: number; after: { sortKey: string; id: string } | null },
): Promise<{ rows: VersionRecord[]; totalCount: number }> {
  const where = scopeFilter(scope);
  const keyset = after ? sql`(${versions.sortKey}, ${versions.id}) < (${after.sortKey} COLLATE "C", ${after.id}::uuid)` : undefined;
  const [rows, [total]] = await Promise.all([
    db.select().from(versions).where(and(where, keyset)).orderBy(...HIGHEST_FIRST).limit(limit + 1),
    db.select({ value: count() }).from(versions).where(where),
  ]);
  return { rows, totalCount: total?.value ?? 0 };
}

/** The highest version of `scope`, or null. */
export async function selectHighest(db: Database, { scope }: { scope: VersionScope }): Promise<VersionRecord | null> {
  const [row] = await db.select().from(versions).where(scopeFilter(scope)).orderBy(...HIGHEST_FIRST).limit(1);
  return row ?? null;
}

/** Versions of `scope` with precedence in (fromSortKey, toSortKey], highest first; null bounds are open. */
export async function selectRange(
  db: Database,
  { scope, fromSortKey, toSortKey }: { scope: VersionScope; fromSortKey: string | null; toSortKey: string | null },
): Promise<VersionRecord[]> {
  return db
    .select()
    .from(versions)
    .where(
      and(
        scopeFilter(scope),
        fromSortKey === null ? undefined : gt(versions.sortKey, fromSortKey),
        toSortKey === null ? undefined : lte(versions.sortKey, toSortKey),
      ),
    )
    .orderBy(...HIGHEST_FIRST);
}

/**
 * Compare-and-set: marks the version deprecated only if it is not already. Returns the updated
 * row, or null when the id is unknown or the version was already deprecated.
 */
export async function markDeprecated(
  db: Database,
  { id, reason, deprecatedBy, at }: { id: string; reason: string; deprecatedBy: string | null; at: Date },
): Promise<VersionRecord | null> {
  const [updated] = await db
    .update(versions)
    .set({ isDeprecated: true, deprecationReason: reason, deprecatedAt: at, deprecatedBy })
    .where(and(eq(versions.id, id), eq(versions.isDeprecated, false)))
    .returning();
  return updated ?? null;
}
