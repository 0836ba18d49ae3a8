import { BadInputError } from '../errors.js';
import { isUuid } from '../ids.js';
import { decodeIdCursor } from '../keysetPage.js';
import { pageSize, type Page, type PageRequest } from '../pagination.js';
import { Service, type RuntimeSource } from '../runtime.js';
import { isActorId } from './actor.js';
import { AUDIT_TARGET_TYPES, AUDITED_OPERATIONS, isAuditOperation } from './operations.js';
import { AUDIT_OUTCOMES, selectEntryPage, type AuditEntryRecord, type AuditOutcome, type AuditScope } from './store.js';

export type { Actor, ActorRole } from './actor.js';
export { callerActor, scriptActor, systemActor, SYSTEM_ACTORS } from './actor.js';
export type { AuditEntryRecord, AuditOutcome } from './store.js';
export { AUDIT_ACTOR_ROLES, AUDIT_OUTCOMES } from './store.js';
export { AUDIT_TARGET_TYPES, AUDITED_OPERATIONS, type AuditOperation, type AuditTargetType } from './operations.js';
export { audited, type AuditRecorder, type AuditRequest } from './trail.js';

export interface AuditLogFilter extends PageRequest {
  /** An actor id: a user id (uuid), `script`, or `system:<name>`. */
  actor?: string | null;
  /** An audited operation's name (a mutation name, e.g. `pauseDistribution`). */
  operation?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  outcome?: string | null;
  /** Entries written at or after this time. */
  since?: Date | string | null;
  /** Entries written before this time. */
  until?: Date | string | null;
}

/**
 * Reading the audit trail (writing goes through `audited`, trail.ts): a page of entries,
 * newest first, narrowed by actor, operation, target, outcome and time. Every filter value is
 * checked (BAD_USER_INPUT naming the field) before any SQL runs.
 */
export class AuditLogService extends Service {
  constructor(source?: RuntimeSource) {
    super(source);
  }

  async listEntries(filter: AuditLogFilter = {}): Promise<Page<AuditEntryRecord>> {
    const scope = parseScope(filter);
    const limit = pageSize(filter.first);
    const afterId = filter.after ? decodeIdCursor(filter.after) : null;
    const { db } = await this.runtime();
    return selectEntryPage(db, { scope, limit, afterId });
  }
}

const given = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;

function parseScope(filter: AuditLogFilter): AuditScope {
  const { actor, operation, targetType, targetId, outcome } = filter;
  if (given(actor) && !isActorId(actor)) {
    throw new BadInputError('filter.actor must be a user id (UUID), "script", or "system:<name>"', { field: 'filter.actor' });
  }
  if (given(operation) && !isAuditOperation(operation)) {
    throw new BadInputError(`filter.operation ${JSON.stringify(operation).slice(0, 120)} is not an audited operation; one of ${Object.keys(AUDITED_OPERATIONS).join(', ')}`, {
      field: 'filter.operation',
    });
  }
  if (given(targetType) && !(AUDIT_TARGET_TYPES as readonly string[]).includes(targetType)) {
    throw new BadInputError(`filter.targetType must be one of ${AUDIT_TARGET_TYPES.join(', ')}`, { field: 'filter.targetType' });
  }
  if (given(targetId) && !isUuid(targetId)) throw new BadInputError('filter.targetId must be an object id (UUID)', { field: 'filter.targetId' });
  if (given(outcome) && !(AUDIT_OUTCOMES as readonly string[]).includes(outcome)) {
    throw new BadInputError(`filter.outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`, { field: 'filter.outcome' });
  }
  const since = parseTime(filter.since, 'filter.since');
  const until = parseTime(filter.until, 'filter.until');
  if (since && until && since >= until) {
    throw new BadInputError(`filter.since (${since.toISOString()}) must be before filter.until (${until.toISOString()})`, { field: 'filter.since' });
  }
  return {
    actorId: given(actor) ? actor.toLowerCase() : null,
    operation: operation ?? null,
    targetType: targetType ?? null,
    targetId: given(targetId) ? targetId.toLowerCase() : null,
    outcome: (outcome as AuditOutcome | null | undefined) ?? null,
    since,
    until,
  };
}

function parseTime(value: Date | string | null | undefined, field: string): Date | null {
  if (!given(value)) return null;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new BadInputError(`${field} is not a date: use ISO-8601, e.g. 2030-01-01T12:00:00Z`, { field });
  return date;
}
