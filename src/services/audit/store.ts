import { and, eq, gte, lt, sql, type SQL } from 'drizzle-orm';

import type { Database, DbExecutor } from '../../db/client.js';
import { auditEntries } from '../../db/schema.js';
import { newestFirstPage } from '../keysetPage.js';
import type { Page } from '../pagination.js';

/** The SQL of the audit trail. Only inserts and reads: rows are never updated or deleted. */

export type AuditEntryRecord = typeof auditEntries.$inferSelect;
export type NewAuditEntryRow = typeof auditEntries.$inferInsert;
export type AuditOutcome = AuditEntryRecord['outcome'];
export const AUDIT_OUTCOMES = auditEntries.outcome.enumValues;
export const AUDIT_ACTOR_ROLES = auditEntries.actorRole.enumValues;

export async function insertEntry(db: DbExecutor, { values }: { values: NewAuditEntryRow }): Promise<void> {
  await db.insert(auditEntries).values(values);
}

/** Whether the entry with this id was committed (the writer's way to learn whether its transaction did). */
export async function entryExists(db: Database, { id }: { id: string }): Promise<boolean> {
  const [row] = await db.select({ id: auditEntries.id }).from(auditEntries).where(eq(auditEntries.id, id));
  return row !== undefined;
}

/** What a list asks for, validated by the service. */
export interface AuditScope {
  actorId: string | null;
  operation: string | null;
  targetType: string | null;
  targetId: string | null;
  outcome: AuditOutcome | null;
  /** Inclusive. */
  since: Date | null;
  /** Exclusive. */
  until: Date | null;
}

function scopeFilter(scope: AuditScope): SQL | undefined {
  return and(
    scope.actorId === null ? undefined : eq(auditEntries.actorId, scope.actorId),
    scope.operation === null ? undefined : eq(auditEntries.operation, scope.operation),
    scope.targetType === null ? undefined : eq(auditEntries.targetType, scope.targetType),
    scope.targetId === null ? undefined : eq(auditEntries.targetId, scope.targetId),
    // Spelled as the partial index's predicate, so FAILED-only lists use it.
    scope.outcome === null ? undefined : scope.outcome === 'FAILED' ? sql`${auditEntries.outcome} = 'FAILED'` : eq(auditEntries.outcome, scope.outcome),
    scope.since === null ? undefined : gte(auditEntries.at, scope.since),
    scope.until === null ? undefined : lt(auditEntries.at, scope.until),
  );
}

/** One page, newest first, after the entry `afterId` (null: the first page), with the total count. */
export function selectEntryPage(db: Database, { scope, limit, afterId }: { scope: AuditScope; limit: number; afterId: string | null }): Promise<Page<AuditEntryRecord>> {
  return newestFirstPage<AuditEntryRecord>(db, { table: auditEntries, createdAt: auditEntries.at, id: auditEntries.id }, scopeFilter(scope), limit, afterId);
}
