import crypto from 'node:crypto';
import { Writable } from 'node:stream';

import { eq, sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { auditEntries, versions } from '../../src/db/schema.js';
import { scriptActor, SYSTEM_ACTORS } from '../../src/services/audit/actor.js';
import { audited, systemRecorder, type AuditRuntime } from '../../src/services/audit/trail.js';
import { ConflictError } from '../../src/services/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * The audit trail's mechanism (`audited`, services/audit/trail.ts) on the pass's real database
 * (PGlite or PostgreSQL), through the paths the end-to-end test cannot reach with a working
 * service: a change rolled back after its entry was written, a failure after the commit, a
 * method that forgets to record, and a FAILED entry that cannot be written.
 */

let database: TestDatabase;
let handle: DatabaseHandle;
let logLines: Record<string, unknown>[];
let runtime: AuditRuntime;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = await openDatabase({ databaseUrl: database.url, dataDir: database.dataDir });
  await handle.migrate();
  logLines = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  runtime = { db: handle.db, log: pino({ level: 'info' }, sink), config: { isProduction: false } };
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const actor = scriptActor('00000000-0000-4000-8000-0000000000aa');

async function entriesOf(operation: string, targetId: string | null) {
  const rows = await handle.db.select().from(auditEntries).where(eq(auditEntries.operation, operation));
  return rows.filter((row) => row.targetId === targetId || (row.details.input as { marker?: string } | undefined)?.marker === targetId);
}

async function insertVersion(tx: typeof handle.db, extensionId: string) {
  const [row] = await tx
    .insert(versions)
    .values({ version: '1.0.0', major: 1, minor: 0, patch: 0, sortKey: crypto.randomUUID(), extensionId, isStable: true })
    .returning();
  return row!;
}

describe('audited', () => {
  it('writes the SUCCEEDED entry in the change\'s transaction, naming the created object', async () => {
    const extensionId = `audit.${crypto.randomUUID()}`;
    const created = await audited(runtime, { operation: 'createVersion', actor, input: { extensionId } }, (audit) =>
      handle.db.transaction(async (tx) => {
        const row = await insertVersion(tx, extensionId);
        await audit.record(tx, { targetId: row.id, details: { version: row.version } });
        return row;
      }),
    );
    const [entry] = await entriesOf('createVersion', created.id);
    expect(entry).toMatchObject({ outcome: 'SUCCEEDED', actorId: actor.id, actorRole: 'script', targetType: 'Version', errorCode: null, details: { input: { extensionId }, version: '1.0.0' } });
  });

  it('a transaction that fails after recording leaves no SUCCEEDED entry and no change, and a FAILED entry with the code', async () => {
    const extensionId = `audit.${crypto.randomUUID()}`;
    let createdId = '';
    const attempt = audited(runtime, { operation: 'createVersion', actor, input: { marker: extensionId } }, (audit) =>
      handle.db.transaction(async (tx) => {
        const row = await insertVersion(tx, extensionId);
        createdId = row.id;
        await audit.record(tx, { targetId: row.id });
        throw new ConflictError('refused after the entry was written');
      }),
    );
    await expect(attempt).rejects.toThrow('refused after the entry was written');
    expect(await handle.db.select().from(versions).where(eq(versions.extensionId, extensionId))).toEqual([]);
    expect(await entriesOf('createVersion', createdId)).toEqual([]);
    const [failed, ...more] = await entriesOf('createVersion', extensionId);
    expect(more).toEqual([]);
    // The rolled-back object never existed: the FAILED entry does not name it.
    expect(failed).toMatchObject({ outcome: 'FAILED', errorCode: 'CONFLICT', errorMessage: 'refused after the entry was written', targetId: null });
  });

  it('a failure after the change committed adds no FAILED entry: the SUCCEEDED one stands', async () => {
    const extensionId = `audit.${crypto.randomUUID()}`;
    let createdId = '';
    const attempt = audited(runtime, { operation: 'createVersion', actor, input: { marker: extensionId } }, async (audit) => {
      const row = await handle.db.transaction(async (tx) => {
        const inserted = await insertVersion(tx, extensionId);
        await audit.record(tx, { targetId: inserted.id });
        return inserted;
      });
      createdId = row.id;
      throw new Error('the answer could not be built');
    });
    await expect(attempt).rejects.toThrow('the answer could not be built');
    expect((await entriesOf('createVersion', createdId)).map((e) => e.outcome)).toEqual(['SUCCEEDED']);
    expect((await entriesOf('createVersion', extensionId)).filter((e) => e.outcome === 'FAILED')).toEqual([]);
  });

  it('a method that never records still leaves an entry, logs an error, and fails outside production', async () => {
    const target = crypto.randomUUID();
    await expect(audited(runtime, { operation: 'pauseDistribution', actor: SYSTEM_ACTORS.healthGate, targetId: target, input: { id: target } }, async () => 'done')).rejects.toThrow(
      /pauseDistribution succeeded without calling audit.record/,
    );
    const production = { ...runtime, config: { isProduction: true } };
    expect(await audited(production, { operation: 'pauseDistribution', actor: SYSTEM_ACTORS.healthGate, targetId: target, input: { id: target } }, async () => 'done')).toBe('done');
    const entries = await entriesOf('pauseDistribution', target);
    expect(entries.map((e) => [e.outcome, e.actorId, e.actorRole, e.details.recordedAfterCommit])).toEqual([
      ['SUCCEEDED', 'system:health-gate', 'system', true],
      ['SUCCEEDED', 'system:health-gate', 'system', true],
    ]);
    expect(logLines.filter((line) => String(line.msg).includes('succeeded without recording its entry'))).toHaveLength(2);
  });

  it('a FAILED entry that cannot be written is logged, and the caller gets the original error', async () => {
    await handle.db.execute(sql`alter table audit_entries rename to audit_entries_away`);
    try {
      const attempt = audited(runtime, { operation: 'cancelDistribution', actor, targetId: crypto.randomUUID() }, async () => {
        throw new ConflictError('Distribution is CANCELLED');
      });
      await expect(attempt).rejects.toThrow('Distribution is CANCELLED');
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    } finally {
      await handle.db.execute(sql`alter table audit_entries_away rename to audit_entries`);
    }
    expect(logLines.some((line) => line.msg === 'writing a FAILED audit entry failed' && line.operation === 'cancelDistribution')).toBe(true);
  });

  it('keeps the error text an internal failure had out of the entry', async () => {
    const marker = crypto.randomUUID();
    await expect(
      audited(runtime, { operation: 'deleteCdnFile', actor, input: { marker } }, async () => {
        throw new Error('connection to 10.0.0.5:5432 refused (password authentication failed)');
      }),
    ).rejects.toThrow('password authentication failed');
    const [entry] = await entriesOf('deleteCdnFile', marker);
    expect(entry).toMatchObject({ outcome: 'FAILED', errorCode: 'INTERNAL_SERVER_ERROR', errorMessage: 'Internal error: the server log has the details' });
  });

  it('systemRecorder writes its entry only with a committed change, and nothing when nothing was recorded', async () => {
    const target = crypto.randomUUID();
    const request = { operation: 'pauseDistribution' as const, actor: SYSTEM_ACTORS.healthGate, targetId: target, input: { id: target } };
    await expect(
      handle.db.transaction(async (tx) => {
        await systemRecorder(request).record(tx, { details: { attempt: 'rolled back' } });
        throw new Error('another instance tripped it first');
      }),
    ).rejects.toThrow('another instance tripped it first');
    systemRecorder(request); // never recorded: nothing changed, nothing written
    await handle.db.transaction((tx) => systemRecorder(request).record(tx, { details: { attempt: 'committed' } }));
    const entries = await entriesOf('pauseDistribution', target);
    expect(entries.map((e) => [e.outcome, e.actorId, e.details.attempt])).toEqual([['SUCCEEDED', 'system:health-gate', 'committed']]);
  });

  it('the database refuses to change an entry once written; deleting old entries (retention) stays possible', async () => {
    const target = crypto.randomUUID();
    await audited(runtime, { operation: 'resumeDistribution', actor, targetId: target }, (audit) => handle.db.transaction((tx) => audit.record(tx)));
    const refused: unknown = await handle.db
      .update(auditEntries)
      .set({ outcome: 'FAILED', errorCode: 'CONFLICT' })
      .where(eq(auditEntries.targetId, target))
      .then(() => null, (error: unknown) => error);
    // Drizzle wraps the database's error; the trigger's message is in its cause.
    const messages = [refused, (refused as { cause?: unknown })?.cause].map((e) => (e instanceof Error ? e.message : ''));
    expect(messages.join(' ')).toContain('audit entries are append-only');
    expect((await entriesOf('resumeDistribution', target)).map((e) => e.outcome)).toEqual(['SUCCEEDED']);
    await handle.db.delete(auditEntries).where(eq(auditEntries.targetId, target));
    expect(await entriesOf('resumeDistribution', target)).toEqual([]);
  });
});
