import type { ChangelogEntryRecord } from '../../db/schema.js';
import { scriptActor, type Actor } from '../audit/actor.js';
import { audited, type AuditRecorder } from '../audit/trail.js';
import { BadInputError, ConflictError, isUniqueViolation, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import { parseMetadata } from '../metadata.js';
import { describeOwner, parseOwner, type Owner } from '../owner.js';
import { decodeCursor, invalidCursor, pageSize, toPage, type Page, type PageRequest } from '../pagination.js';
import type { EventStream } from '../../events/stream.js';
import { Service, type RuntimeSource } from '../runtime.js';
import { assertStorableText } from '../text.js';
import { compareVersions, isSortKey, parseVersion, type VersionComparisonResult } from './semverOrder.js';
import * as store from './store.js';
import type { VersionRecord } from './store.js';

export type { VersionRecord } from './store.js';

export const CHANGE_TYPES = ['ADDED', 'CHANGED', 'DEPRECATED', 'REMOVED', 'FIXED', 'SECURITY'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** A changelog entry as callers give it; `type` is case-insensitive (`'added'` works). */
export interface ChangelogEntryInput {
  type: string;
  description: string;
  scope?: string | null;
  breaking?: boolean | null;
}

/** Topic of `versionPublished`: a version was created or deprecated. */
export const VERSION_PUBLISHED = 'VERSION_PUBLISHED';
export type VersionPublishedEvent = { action: 'CREATED' | 'DEPRECATED'; version: VersionRecord };

export interface VersionFilter extends PageRequest {
  extensionId?: string | null;
  productId?: string | null;
  includePrerelease?: boolean | null;
  /** Deprecated versions are listed by default (dashboards show them, marked). */
  includeDeprecated?: boolean | null;
}

const LIMITS = { changelogEntries: 500, description: 2000, scope: 100, releaseNotes: 100_000, reason: 2000 };

/** Keep a Changelog section order. */
const SECTION_TITLES: Record<ChangeType, string> = {
  ADDED: 'Added',
  CHANGED: 'Changed',
  DEPRECATED: 'Deprecated',
  REMOVED: 'Removed',
  FIXED: 'Fixed',
  SECURITY: 'Security',
};

export function parseChangelog(entries: ChangelogEntryInput[] | null | undefined): ChangelogEntryRecord[] {
  if (entries === undefined || entries === null) return [];
  if (!Array.isArray(entries)) throw new BadInputError('changelog must be a list of entries', { field: 'changelog' });
  if (entries.length > LIMITS.changelogEntries) {
    throw new BadInputError(`changelog has ${entries.length} entries; at most ${LIMITS.changelogEntries} are allowed`, { field: 'changelog' });
  }
  return entries.map((entry, index) => {
    const field = `changelog[${index}]`;
    const type = String(entry?.type ?? '').toUpperCase();
    if (!(CHANGE_TYPES as readonly string[]).includes(type)) {
      throw new BadInputError(`${field}.type ${JSON.stringify(entry?.type)} is not one of ${CHANGE_TYPES.join(', ')}`, { field: `${field}.type` });
    }
    const description = typeof entry.description === 'string' ? entry.description.trim() : '';
    if (description.length === 0 || description.length > LIMITS.description) {
      throw new BadInputError(`${field}.description must be 1–${LIMITS.description} characters`, { field: `${field}.description` });
    }
    assertStorableText(description, `${field}.description`);
    const scope = entry.scope === undefined || entry.scope === null ? null : String(entry.scope).trim();
    if (scope !== null && (scope.length === 0 || scope.length > LIMITS.scope)) {
      throw new BadInputError(`${field}.scope must be 1–${LIMITS.scope} characters when given`, { field: `${field}.scope` });
    }
    if (scope !== null) assertStorableText(scope, `${field}.scope`);
    return { type: type as ChangeType, description, scope, breaking: entry.breaking === true };
  });
}

function parseText(value: string | null | undefined, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max) {
    throw new BadInputError(`${field} must be text of at most ${max} characters`, { field });
  }
  assertStorableText(value, field);
  return value;
}

/** The keyset position a `versions` cursor names: `[sortKey, id]` of the last version seen. BAD_USER_INPUT for anything else. */
function decodeVersionCursor(cursor: string): { sortKey: string; id: string } {
  const [sortKey, id] = decodeCursor(cursor, 2) as [string, string];
  if (!isSortKey(sortKey) || !isUuid(id)) throw invalidCursor();
  return { sortKey, id };
}

/** Largest major/minor/patch stored (GraphQL Int). */
const MAX_PART = 2_147_483_647;

/** Who asks for a version to be created, and what it holds (see createVersion). */
export interface CreateVersionArgs {
  version: string;
  extensionId?: string | null;
  productId?: string | null;
  changelog?: ChangelogEntryInput[] | null;
  releaseNotes?: string | null;
  metadata?: Record<string, unknown> | null;
  /** The caller's id (a uuid), recorded on the version. */
  releasedBy?: string | null;
  /** Who is asking, for the audit trail (default: a script acting as `releasedBy`). */
  actor?: Actor;
}

/** An owner and which of its versions count. */
export interface OwnerVersionsArgs {
  extensionId?: string | null;
  productId?: string | null;
  includePrerelease?: boolean | null;
}

export interface DeprecateVersionArgs {
  id: string;
  reason: string;
  deprecatedBy?: string | null;
  /** Who is asking, for the audit trail (default: a script acting as `deprecatedBy`). */
  actor?: Actor;
}

export interface ChangelogRangeArgs extends OwnerVersionsArgs {
  /** Exclusive lower bound; unset: from the first release. */
  fromVersion?: string | null;
  /** Inclusive upper bound; unset: up to the highest release. */
  toVersion?: string | null;
}

export class VersionManagementService extends Service {
  constructor(source?: RuntimeSource) {
    super(source);
  }

  /**
   * Creates a version for an extension and/or product. Throws BAD_USER_INPUT for a version that
   * is not strict SemVer or bad fields, CONFLICT when the owner already has a version of the
   * same precedence. VERSION_PUBLISHED is sent with the commit (never for a rollback).
   */
  async createVersion(args: CreateVersionArgs): Promise<VersionRecord> {
    const { actor = scriptActor(args.releasedBy), ...input } = args;
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'createVersion', actor, input }, (audit) => this.insertVersion(input, audit));
  }

  private async insertVersion(
    { version, extensionId, productId, changelog, releaseNotes, metadata, releasedBy }: CreateVersionArgs,
    audit: AuditRecorder,
  ): Promise<VersionRecord> {
    const parsed = parseVersion(version);
    if (Math.max(parsed.major, parsed.minor, parsed.patch) > MAX_PART) {
      throw new BadInputError(`version ${parsed.version} has a part above ${MAX_PART}; stored versions keep each part within a 32-bit integer`, { field: 'version' });
    }
    const owner = parseOwner(extensionId, productId);
    const values = {
      ...parsed,
      ...owner,
      changelog: parseChangelog(changelog),
      releaseNotes: parseText(releaseNotes, 'releaseNotes', LIMITS.releaseNotes),
      metadata: parseMetadata(metadata),
      isStable: parsed.prerelease === null,
      releasedBy: releasedBy ?? null,
    };
    const { db, events } = await this.runtime();
    let created: VersionRecord;
    try {
      // The event and the audit entry are written in the same transaction: both exist iff the version commits.
      created = await db.transaction(async (tx) => {
        const row = await store.insertVersion(tx, { values });
        await events.publish(VERSION_PUBLISHED, { action: 'CREATED', version: row }, { tx });
        await audit.record(tx, { targetId: row.id, details: { version: row.version } });
        return row;
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await store.findByPrecedence(db, { owner, sortKey: parsed.sortKey });
      throw new ConflictError(
        `Version ${parsed.version} already exists for ${describeOwner(owner)}` +
          (existing ? ` as ${existing.version} (id ${existing.id})` : '') +
          ': versions are immutable, publish a higher one',
        { existingId: existing?.id },
      );
    }
    return created;
  }

  /** The version with this id; null for an unknown id or one that is not a uuid. */
  async getVersion({ id }: { id: string }): Promise<VersionRecord | null> {
    return (await this.getVersionsByIds({ ids: [id] }))[0] ?? null;
  }

  /** Batch lookup for DataLoaders: one statement for many ids, results in the ids' order. */
  async getVersionsByIds({ ids }: { ids: readonly string[] }): Promise<(VersionRecord | null)[]> {
    const { db } = await this.runtime();
    const rows = await store.selectByIds(db, { ids: ids.filter(isUuid) });
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** A page of versions, highest precedence first. */
  async listVersions(filter: VersionFilter = {}): Promise<Page<VersionRecord>> {
    const scope = {
      owner: parseOwner(filter.extensionId, filter.productId, false),
      includePrerelease: filter.includePrerelease === true,
      includeDeprecated: filter.includeDeprecated !== false,
    };
    const limit = pageSize(filter.first);
    const after = filter.after ? decodeVersionCursor(filter.after) : null;
    const { db } = await this.runtime();
    const { rows, totalCount } = await store.selectPage(db, { scope, limit, after });
    return toPage(rows, limit, totalCount, (row) => [row.sortKey, row.id]);
  }

  /** The highest non-deprecated version of an owner (stable only unless includePrerelease). */
  async getLatestVersion({ extensionId, productId, includePrerelease }: OwnerVersionsArgs): Promise<VersionRecord | null> {
    const scope = { owner: parseOwner(extensionId, productId), includePrerelease: includePrerelease === true, includeDeprecated: false };
    const { db } = await this.runtime();
    return store.selectHighest(db, { scope });
  }

  compareVersions({ version1, version2 }: { version1: string; version2: string }): VersionComparisonResult {
    return compareVersions(version1, version2);
  }

  /**
   * Marks a version deprecated: it is never offered as an update again and `latestVersion`
   * skips it. NOT_FOUND for an unknown id, CONFLICT when it is already deprecated.
   */
  async deprecateVersion(args: DeprecateVersionArgs): Promise<VersionRecord> {
    const { actor = scriptActor(args.deprecatedBy), ...input } = args;
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'deprecateVersion', actor, targetId: args.id, input }, (audit) => this.markDeprecated(input, audit));
  }

  private async markDeprecated({ id, reason, deprecatedBy }: DeprecateVersionArgs, audit: AuditRecorder): Promise<VersionRecord> {
    const why = typeof reason === 'string' ? reason.trim() : '';
    if (why.length === 0 || why.length > LIMITS.reason) {
      throw new BadInputError(`reason must be 1–${LIMITS.reason} characters: say why clients must not get this version`, { field: 'reason' });
    }
    assertStorableText(why, 'reason');
    if (!isUuid(id)) throw new NotFoundError('Version', id);
    const { db, events } = await this.runtime();
    const updated = await db.transaction(async (tx) => {
      const row = await store.markDeprecated(tx, { id, reason: why, deprecatedBy: deprecatedBy ?? null, at: new Date() });
      if (row) {
        await events.publish(VERSION_PUBLISHED, { action: 'DEPRECATED', version: row }, { tx });
        await audit.record(tx, { details: { version: row.version } });
      }
      return row;
    });
    if (!updated) {
      const existing = await this.getVersion({ id });
      if (!existing) throw new NotFoundError('Version', id);
      throw new ConflictError(`Version ${existing.version} (id ${id}) is already deprecated since ${existing.deprecatedAt?.toISOString()}`);
    }
    return updated;
  }

  /**
   * The live feed of versionPublished/versionEvents: each VERSION_PUBLISHED event of this owner
   * (unset ids match every owner). Every matching subscriber gets the event object itself, so
   * the server executes and serialises once per event for all of them.
   */
  async publishedEvents(filter: { extensionId?: string | null; productId?: string | null }): Promise<EventStream<typeof VERSION_PUBLISHED, VersionPublishedEvent>> {
    const { events } = await this.runtime();
    const { extensionId, productId } = filter;
    return events.stream(VERSION_PUBLISHED, {
      select: (event) =>
        (!extensionId || event.version.extensionId === extensionId) && (!productId || event.version.productId === productId) ? event : undefined,
    });
  }

  /**
   * Keep-a-Changelog markdown for the versions above `fromVersion` (exclusive) up to
   * `toVersion` (inclusive), highest first. Breaking changes are called out per release.
   */
  async generateChangelog({ extensionId, productId, fromVersion, toVersion, includePrerelease }: ChangelogRangeArgs): Promise<string> {
    const owner = parseOwner(extensionId, productId);
    const from = fromVersion ? parseVersion(fromVersion, 'fromVersion') : null;
    const to = toVersion ? parseVersion(toVersion, 'toVersion') : null;
    if (from && to && from.sortKey >= to.sortKey) {
      throw new BadInputError(`fromVersion ${from.version} must be lower than toVersion ${to.version}`, { field: 'fromVersion' });
    }
    const { db } = await this.runtime();
    const rows = await store.selectRange(db, {
      scope: { owner, includePrerelease: includePrerelease === true, includeDeprecated: true },
      fromSortKey: from?.sortKey ?? null,
      toSortKey: to?.sortKey ?? null,
    });
    return renderChangelog(owner, rows);
  }
}

function renderEntry(entry: ChangelogEntryRecord): string {
  const scope = entry.scope ? `**${entry.scope}:** ` : '';
  return `- ${entry.breaking ? '**BREAKING:** ' : ''}${scope}${entry.description}`;
}

export function renderChangelog(owner: Owner, rows: VersionRecord[]): string {
  const lines = [
    '# Changelog',
    '',
    `All notable changes to ${describeOwner(owner)} are documented in this file.`,
    '',
    'The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),',
    'and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).',
  ];
  if (rows.length === 0) lines.push('', '_No releases in this range._');
  for (const row of rows) {
    const date = row.releasedAt.toISOString().slice(0, 10);
    lines.push('', `## [${row.version}] - ${date}${row.isDeprecated ? ' [DEPRECATED]' : ''}`);
    if (row.isDeprecated && row.deprecationReason) lines.push('', `> Deprecated: ${row.deprecationReason}`);
    const breaking = row.changelog.filter((entry) => entry.breaking);
    if (breaking.length > 0) {
      lines.push('', '### ⚠ BREAKING CHANGES', '', ...breaking.map(renderEntry));
    }
    for (const type of CHANGE_TYPES) {
      const entries = row.changelog.filter((entry) => entry.type === type);
      if (entries.length > 0) lines.push('', `### ${SECTION_TITLES[type]}`, '', ...entries.map(renderEntry));
    }
    if (row.changelog.length === 0 && row.releaseNotes) lines.push('', row.releaseNotes.trim());
  }
  return `${lines.join('\n')}\n`;
}
