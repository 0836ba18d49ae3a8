import crypto from 'node:crypto';

import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';

import type { Database, DbExecutor } from '../../db/client.js';
import { DomainError, ERROR_CODES, ErrorCode } from '../errors.js';
import { isUuid } from '../ids.js';
import type { Actor } from './actor.js';
import { auditDetails, storableText } from './details.js';
import { AUDITED_OPERATIONS, type AuditOperation } from './operations.js';
import { entryExists, insertEntry } from './store.js';

/**
 * The audit trail's one way in. Every admin mutation's service method runs its work through
 * `audited`, and the transaction that makes the change calls `audit.record(tx)`:
 *
 * ```ts
 * async pauseDistribution({ id, actor }: { id: string; actor: Actor }) {
 *   const runtime = await this.runtime();
 *   return audited(runtime, { operation: 'pauseDistribution', actor, targetId: id, input: { id } }, (audit) =>
 *     runtime.db.transaction(async (tx) => {
 *       const row = …;                       // the change
 *       await audit.record(tx);              // SUCCEEDED, committed with it — or rolled back with it
 *       return row;
 *     }),
 *   );
 * }
 * ```
 *
 * - SUCCEEDED is written by `record` inside the change's own transaction: the entry exists iff
 *   the change committed (a crash between the two cannot happen; a rollback takes both).
 *   A create passes the new id: `audit.record(tx, { targetId: row.id, details: { … } })`.
 * - FAILED is written by `audited` itself when the work throws: after the rollback, in a
 *   transaction of its own, with the error's code and message. Best effort — a failure to
 *   write it is logged and the original error is what the caller gets. When the work threw
 *   after its transaction committed (its SUCCEEDED entry is in the database), nothing more is
 *   written: the change happened.
 * - A method whose work resolves without calling `record` is a bug: the entry is written
 *   afterwards (marked `recordedAfterCommit`) and logged as an error; outside production the
 *   call also fails, so tests catch it.
 * - The server acting on its own where nothing may turn out to need doing (the health gate's
 *   trip, which another instance may have made first) uses `systemRecorder` instead: the same
 *   SUCCEEDED entry in the change's transaction, and no entry at all when nothing changed.
 * - Nested calls: an audited method that uses another service's mutation as one of its steps
 *   (createUpdatePackage storing its artifact) calls that service's unaudited step, so one
 *   request leaves one entry; its details name what the step made.
 */

export interface AuditRequest {
  operation: AuditOperation;
  actor: Actor;
  /** The object the caller names (updates, deletes). A create leaves it out and records the new id. Ids that are not uuids are kept only in `input`. */
  targetId?: string | null;
  /** What the caller asked, as given: secrets are redacted and long text cut before it is stored (details.ts). */
  input?: Record<string, unknown>;
}

/** Handed to the work of an audited operation. */
export interface AuditRecorder {
  /**
   * Writes the SUCCEEDED entry in `tx`, the transaction that makes the change, so the two commit
   * or roll back together. `targetId`: the created object's id (creates). `details`: what the
   * change produced, merged with the input (e.g. `{ cdnFileId }`).
   */
  record(tx: DbExecutor, result?: { targetId?: string | null; details?: Record<string, unknown> }): Promise<void>;
  /** Names the target before the work can fail (e.g. a create's id known before its last step), so a FAILED entry names it. */
  target(targetId: string): void;
}

/** What `audited` needs of the runtime. */
export interface AuditRuntime {
  db: Database;
  log: Logger;
  config: { isProduction: boolean };
}

const MESSAGE_LIMIT = 2000;

/** Runs `work` as the audited `request` (see the module comment). Resolves or rejects exactly as `work` does. */
export async function audited<T>(runtime: AuditRuntime, request: AuditRequest, work: (audit: AuditRecorder) => Promise<T>): Promise<T> {
  // The target a FAILED entry names: the one the caller named, or set by `target`. A create's
  // new id (given to `record`) is not: when its transaction rolls back, that object never existed.
  let namedTarget = uuidOrNull(request.targetId);
  const recorded: string[] = [];
  const entry = (targetId: string | null, details: Record<string, unknown> | undefined) => entryValues(request, targetId, details);
  const recorder: AuditRecorder = {
    async record(tx, result = {}) {
      const id = crypto.randomUUID();
      const targetId = result.targetId === undefined ? namedTarget : uuidOrNull(result.targetId);
      await insertEntry(tx, { values: { id, ...entry(targetId, result.details), outcome: 'SUCCEEDED' } });
      recorded.push(id);
    },
    target(id) {
      namedTarget = uuidOrNull(id) ?? namedTarget;
    },
  };

  let result: T;
  try {
    result = await work(recorder);
  } catch (error) {
    await recordFailure(runtime, request, recorded, () => ({ ...entry(namedTarget, undefined), ...describeError(error) }), error);
    throw error;
  }
  if (recorded.length === 0) {
    // A bug in the method (it never called record): keep the trail complete, and make the bug loud.
    const id = crypto.randomUUID();
    await insertEntry(runtime.db, { values: { id, ...entry(namedTarget, { recordedAfterCommit: true }), outcome: 'SUCCEEDED' } }).catch((error: unknown) =>
      runtime.log.error({ err: error, operation: request.operation }, 'writing a late audit entry failed'),
    );
    runtime.log.error({ operation: request.operation }, `audit: ${request.operation} succeeded without recording its entry in its transaction (call audit.record(tx))`);
    if (!runtime.config.isProduction) throw new Error(`audit: ${request.operation} succeeded without calling audit.record(tx) in its transaction`);
  }
  return result;
}

async function recordFailure(
  runtime: AuditRuntime,
  request: AuditRequest,
  recorded: string[],
  failedEntry: () => Omit<Parameters<typeof insertEntry>[1]['values'], 'id' | 'outcome'>,
  error: unknown,
): Promise<void> {
  try {
    // The work may have failed after its transaction committed (e.g. while answering): then the
    // change happened and its SUCCEEDED entry says so.
    for (const id of recorded) {
      if (await entryExists(runtime.db, { id })) {
        runtime.log.warn({ err: error, operation: request.operation }, 'audited operation failed after its change committed; its SUCCEEDED entry stands');
        return;
      }
    }
    await insertEntry(runtime.db, { values: { id: crypto.randomUUID(), ...failedEntry(), outcome: 'FAILED' } });
  } catch (writeError) {
    runtime.log.error({ err: writeError, operation: request.operation, actor: request.actor.id }, 'writing a FAILED audit entry failed');
  }
}

function uuidOrNull(id: string | null | undefined): string | null {
  return id && isUuid(id) ? id.toLowerCase() : null;
}

/** The code and message the caller got. Internal errors keep their details in the server log, not here. */
function describeError(error: unknown): { errorCode: string; errorMessage: string } {
  if (error instanceof DomainError) return { errorCode: error.code, errorMessage: storableText(error.message, MESSAGE_LIMIT) };
  const code = error instanceof GraphQLError ? error.extensions?.code : undefined;
  if (typeof code === 'string' && ERROR_CODES.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
    return { errorCode: code, errorMessage: storableText((error as GraphQLError).message, MESSAGE_LIMIT) };
  }
  return { errorCode: ErrorCode.INTERNAL_SERVER_ERROR, errorMessage: 'Internal error: the server log has the details' };
}

/**
 * A recorder for a change the server makes by itself that may turn out, inside its transaction,
 * to have nothing to do — the health gate's trip, which another instance may have made first.
 * `record(tx)` writes the SUCCEEDED entry with the change (same entry as `audited`'s); not
 * calling it writes nothing, which is right: nothing changed. There is no FAILED entry either:
 * no caller was refused (the server logs its own failures). Use `audited` wherever a caller asks.
 */
export function systemRecorder(request: AuditRequest): AuditRecorder {
  let namedTarget = uuidOrNull(request.targetId);
  return {
    async record(tx, result = {}) {
      const targetId = result.targetId === undefined ? namedTarget : uuidOrNull(result.targetId);
      await insertEntry(tx, { values: { id: crypto.randomUUID(), ...entryValues(request, targetId, result.details), outcome: 'SUCCEEDED' } });
    },
    target(id) {
      namedTarget = uuidOrNull(id) ?? namedTarget;
    },
  };
}

/** The columns every entry of `request` shares; `details` (what the change produced) is merged with the input. */
function entryValues(request: AuditRequest, targetId: string | null, details: Record<string, unknown> | undefined) {
  return {
    actorId: request.actor.id,
    actorRole: request.actor.role,
    operation: request.operation,
    targetType: AUDITED_OPERATIONS[request.operation],
    targetId,
    details: auditDetails({ input: request.input, ...details }),
  };
}
