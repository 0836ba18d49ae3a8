import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  customType,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * Drizzle tables. The four seed tables keep the seed's names (`cdn_files`, `versions`,
 * `update_packages`, `rollback_plans`); migrations are generated from this file by
 * drizzle-kit (`npm run db:generate`) — never edit the database by hand.
 */

/** Text compared byte by byte, whatever the database's default collation: version precedence keys. */
const byteOrderedText = customType<{ data: string }>({
  dataType: () => 'text COLLATE "C"',
});

const createdAt = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const bytes = (name: string) => bigint(name, { mode: 'number' });

export type ChangelogEntryRecord = {
  type: 'ADDED' | 'CHANGED' | 'DEPRECATED' | 'REMOVED' | 'FIXED' | 'SECURITY';
  description: string;
  scope: string | null;
  breaking: boolean;
};

export type SafetyCheckRecord = { name: string; status: 'PASSED' | 'WARNING' | 'FAILED'; message: string };

export const versions = pgTable(
  'versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    version: text('version').notNull(),
    major: bigint('major', { mode: 'number' }).notNull(),
    minor: bigint('minor', { mode: 'number' }).notNull(),
    patch: bigint('patch', { mode: 'number' }).notNull(),
    prerelease: text('prerelease'),
    build: text('build'),
    /** SemVer precedence as bytes: see services/versions/semverOrder.ts. */
    sortKey: byteOrderedText('sort_key').notNull(),
    extensionId: text('extension_id'),
    productId: text('product_id'),
    changelog: jsonb('changelog').$type<ChangelogEntryRecord[]>().notNull().default([]),
    releaseNotes: text('release_notes'),
    isStable: boolean('is_stable').notNull(),
    isDeprecated: boolean('is_deprecated').notNull().default(false),
    deprecationReason: text('deprecation_reason'),
    deprecatedAt: at('deprecated_at'),
    deprecatedBy: uuid('deprecated_by'),
    releasedAt: createdAt('released_at'),
    releasedBy: uuid('released_by'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    // One version (by precedence; build metadata does not count) per owner.
    unique('versions_owner_precedence_unique').on(t.extensionId, t.productId, t.sortKey).nullsNotDistinct(),
    index('versions_extension_order_idx').on(t.extensionId, t.sortKey),
    index('versions_product_order_idx').on(t.productId, t.sortKey),
    check('versions_owner_required', sql`${t.extensionId} IS NOT NULL OR ${t.productId} IS NOT NULL`),
  ],
);

/**
 * Life of a CDN file. UPLOADING rows are the intent record of an upload in flight (invisible to
 * readers; a crashed upload's row and bytes are swept); only ACTIVE files are served.
 * DELETED answers 404, EXPIRED 410.
 */
export const cdnFileStatus = pgEnum('cdn_file_status', ['UPLOADING', 'ACTIVE', 'EXPIRED', 'DELETED']);

export const cdnFiles = pgTable(
  'cdn_files',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fileName: text('file_name').notNull(),
    filePath: text('file_path').notNull(),
    fileSize: bytes('file_size').notNull(),
    mimeType: text('mime_type').notNull(),
    cdnUrl: text('cdn_url').notNull(),
    checksum: text('checksum').notNull(),
    /** Key of the stored object in the provider (content-addressed for `local`). */
    storageKey: text('storage_key').notNull(),
    cacheControl: text('cache_control').notNull(),
    expiresAt: at('expires_at'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    uploadedAt: createdAt('uploaded_at'),
    uploadedBy: uuid('uploaded_by'),
    downloadCount: bytes('download_count').notNull().default(0),
    bytesServed: bytes('bytes_served').notNull().default(0),
    lastDownloadAt: at('last_download_at'),
    status: cdnFileStatus('status').notNull().default('ACTIVE'),
    deletedAt: at('deleted_at'),
    deletedBy: uuid('deleted_by'),
    /** True when an admin deleted the file with `force` while update packages still pointed at it. */
    deletionForced: boolean('deletion_forced').notNull().default(false),
    /** Ids of the update packages that pointed at the file when it was force-deleted. */
    deletionOverrodePackages: jsonb('deletion_overrode_packages').$type<string[]>().notNull().default([]),
  },
  (t) => [
    index('cdn_files_checksum_idx').on(t.checksum),
    index('cdn_files_expires_idx').on(t.expiresAt),
    index('cdn_files_status_uploaded_idx').on(t.status, t.uploadedAt),
  ],
);

/**
 * Where a file's bytes are, per region: AVAILABLE is served; FAILED is retried in the background
 * at `next_attempt_at` (backoff); REMOVING is a deletion still to be done (retried likewise);
 * REMOVED is gone.
 */
export const cdnReplicaStatus = pgEnum('cdn_replica_status', ['PENDING', 'AVAILABLE', 'FAILED', 'REMOVING', 'REMOVED']);

export const cdnFileRegions = pgTable(
  'cdn_file_regions',
  {
    fileId: uuid('file_id')
      .notNull()
      .references(() => cdnFiles.id, { onDelete: 'cascade' }),
    region: text('region').notNull(),
    status: cdnReplicaStatus('status').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    nextAttemptAt: at('next_attempt_at'),
    replicatedAt: at('replicated_at'),
    updatedAt: createdAt('updated_at'),
  },
  (t) => [primaryKey({ columns: [t.fileId, t.region] }), index('cdn_file_regions_due_idx').on(t.status, t.nextAttemptAt)],
);

export const cdnInvalidationStatus = pgEnum('cdn_invalidation_status', ['PENDING', 'COMPLETED', 'FAILED']);

/** Every cache invalidation asked of the provider: manual, or after a delete or expiry. */
export const cdnInvalidations = pgTable(
  'cdn_invalidations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fileId: uuid('file_id').references(() => cdnFiles.id, { onDelete: 'cascade' }),
    provider: text('provider').notNull(),
    paths: jsonb('paths').$type<string[]>().notNull(),
    /** MANUAL (invalidateCdnCache), DELETE or EXPIRY. */
    reason: text('reason').notNull(),
    status: cdnInvalidationStatus('status').notNull().default('PENDING'),
    /** The provider's id for the request (CloudFront invalidation id, Cloudflare purge id); null without an edge. */
    reference: text('reference'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    nextAttemptAt: at('next_attempt_at'),
    requestedBy: uuid('requested_by'),
    createdAt: createdAt('created_at'),
    updatedAt: createdAt('updated_at'),
    completedAt: at('completed_at'),
  },
  (t) => [
    index('cdn_invalidations_file_idx').on(t.fileId, t.createdAt),
    index('cdn_invalidations_due_idx').on(t.status, t.nextAttemptAt),
  ],
);

/**
 * Downloads served by this server (local provider), per file, UTC day and region. Written in
 * batches by the download counter, never once per request.
 */
export const cdnDownloadStats = pgTable(
  'cdn_download_stats',
  {
    fileId: uuid('file_id')
      .notNull()
      .references(() => cdnFiles.id, { onDelete: 'cascade' }),
    day: date('day', { mode: 'string' }).notNull(),
    region: text('region').notNull(),
    downloads: bytes('downloads').notNull().default(0),
    bytesServed: bytes('bytes_served').notNull().default(0),
    lastDownloadAt: at('last_download_at'),
  },
  (t) => [primaryKey({ columns: [t.fileId, t.day, t.region] })],
);

/**
 * An artifact that takes a client to `to_version`: a full package (applies from any lower
 * version) or a delta (applies only on `from_version_id`, its base). Versions are immutable, so
 * `to_sort_key` is a copy of the target's `versions.sort_key`: lists and the update check order
 * packages by SemVer precedence through an index, never by text.
 */
export const updatePackages = pgTable(
  'update_packages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fromVersion: text('from_version').notNull(),
    toVersion: text('to_version').notNull(),
    toVersionId: uuid('to_version_id').references(() => versions.id),
    /** The delta's base version (null for a full package). */
    fromVersionId: uuid('from_version_id').references(() => versions.id),
    /** The target's `versions.sort_key` (SemVer precedence as bytes). */
    toSortKey: byteOrderedText('to_sort_key'),
    extensionId: text('extension_id'),
    productId: text('product_id'),
    cdnFileId: uuid('cdn_file_id').references(() => cdnFiles.id),
    packageUrl: text('package_url').notNull(),
    packageSize: bytes('package_size').notNull(),
    checksum: text('checksum').notNull(),
    isDelta: boolean('is_delta').notNull().default(false),
    deltaFromVersion: text('delta_from_version'),
    /** How a delta is applied (e.g. `zstd-patch`); null for full packages. */
    deltaFormat: text('delta_format'),
    /** sha256 of the file a client holds after applying the delta (for full packages: the package's own checksum). */
    targetChecksum: text('target_checksum'),
    releaseNotes: text('release_notes'),
    createdAt: createdAt('created_at'),
    createdBy: uuid('created_by'),
    /** When a distribution of this package first went live. */
    distributedAt: at('distributed_at'),
  },
  (t) => [
    // One full package per target version, one delta per (target, base): duplicates are CONFLICT.
    uniqueIndex('update_packages_full_unique').on(t.toVersionId).where(sql`not ${t.isDelta}`),
    uniqueIndex('update_packages_delta_unique').on(t.toVersionId, t.fromVersionId).where(sql`${t.isDelta}`),
    index('update_packages_extension_order_idx').on(t.extensionId, t.toSortKey),
    index('update_packages_product_order_idx').on(t.productId, t.toSortKey),
    index('update_packages_to_version_idx').on(t.toVersionId),
    index('update_packages_cdn_file_idx').on(t.cdnFileId),
    check('update_packages_delta_base', sql`${t.isDelta} = (${t.fromVersionId} IS NOT NULL)`),
  ],
);

/** How a distribution goes live: at once, to a share of clients (optionally ramped), or at a set time. */
export const distributionStrategy = pgEnum('distribution_strategy', ['IMMEDIATE', 'GRADUAL', 'SCHEDULED']);

/**
 * PENDING: scheduled, not live yet. ACTIVE: live at `percentage` (< 100 %, or ramping).
 * PAUSED: not offered, ramp stopped. COMPLETED: live at 100 %. HALTED: stopped by a rollback,
 * never offered again. CANCELLED: withdrawn by an admin. "Live" for the update check is ACTIVE
 * or COMPLETED.
 */
export const distributionStatus = pgEnum('distribution_status', ['PENDING', 'ACTIVE', 'PAUSED', 'COMPLETED', 'HALTED', 'CANCELLED']);

/** One step of a ramp: go to `percentage`, then hold `holdSeconds` before the next step. */
export type RampStepRecord = { percentage: number; holdSeconds: number };

/** A distribution's health gate (automatic rollback): see services/distribution/healthGate.ts. */
export type HealthGateRecord = { minSamples: number; maxFailureRate: number; autoExecute: boolean };

export const distributions = pgTable(
  'distributions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    packageId: uuid('package_id')
      .notNull()
      .references(() => updatePackages.id),
    /** Copied from the package: release state loads per owner. */
    extensionId: text('extension_id'),
    productId: text('product_id'),
    strategy: distributionStrategy('strategy').notNull(),
    status: distributionStatus('status').notNull(),
    /** Share of clients offered the package, 0–100 with 2 decimals (10,000 buckets). */
    percentage: numeric('percentage', { precision: 5, scale: 2, mode: 'number' }).notNull(),
    /** Random per distribution: different clients go first in each rollout. */
    salt: text('salt').notNull(),
    mandatory: boolean('mandatory').notNull().default(false),
    /** Offers its target to clients on a higher, non-live version (rollbacks). */
    isRollback: boolean('is_rollback').notNull().default(false),
    /** The ramp, when there is one; `current_step` is the index of the step applied last. */
    steps: jsonb('steps').$type<RampStepRecord[]>(),
    currentStep: integer('current_step').notNull().default(0),
    /** When the server applies the next ramp step (null: no step pending). */
    nextStepAt: at('next_step_at'),
    /**
     * Bumped by every resume and every manual percentage change: a ramp or go-live job carries
     * the generation it was enqueued for and does nothing once it has moved on.
     */
    generation: integer('generation').notNull().default(0),
    scheduledAt: at('scheduled_at'),
    startedAt: at('started_at'),
    completedAt: at('completed_at'),
    pausedAt: at('paused_at'),
    /** Why a rollback halted it, or an admin cancelled it. */
    statusReason: text('status_reason'),
    createdBy: uuid('created_by'),
    createdAt: createdAt('created_at'),
    updatedAt: createdAt('updated_at'),
    /** Automatic rollback from client reports; null: no gate. */
    healthGate: jsonb('health_gate').$type<HealthGateRecord>(),
    /** When the gate tripped (set once, by a compare-and-set: a breach acts once across instances). */
    healthTrippedAt: at('health_tripped_at'),
    /** What the gate found and did, with the numbers (or why it could not plan a rollback). */
    healthTripNote: text('health_trip_note'),
    /** The rollback plan the gate created (or found open) for this release. */
    healthRollbackPlanId: uuid('health_rollback_plan_id').references((): AnyPgColumn => rollbackPlans.id),
  },
  (t) => [
    uniqueIndex('distributions_one_live_per_package')
      .on(t.packageId)
      .where(sql`${t.status} in ('PENDING', 'ACTIVE', 'PAUSED', 'COMPLETED')`),
    index('distributions_extension_idx').on(t.extensionId, t.status),
    index('distributions_product_idx').on(t.productId, t.status),
    index('distributions_created_idx').on(t.createdAt, t.id),
    check('distributions_percentage_range', sql`${t.percentage} >= 0 and ${t.percentage} <= 100`),
  ],
);

/** What a client reports about an update it was offered. */
export const updateReportStatus = pgEnum('update_report_status', ['DOWNLOADED', 'INSTALLED', 'FAILED', 'ROLLED_BACK']);

/**
 * Per distribution and UTC day: offers made (by the update check) and client reports. Written in
 * batches by the report counter, never once per report. Totals are sums over days.
 */
export const distributionDailyStats = pgTable(
  'distribution_daily_stats',
  {
    distributionId: uuid('distribution_id')
      .notNull()
      .references(() => distributions.id, { onDelete: 'cascade' }),
    day: date('day', { mode: 'string' }).notNull(),
    offered: bytes('offered').notNull().default(0),
    downloaded: bytes('downloaded').notNull().default(0),
    installed: bytes('installed').notNull().default(0),
    failed: bytes('failed').notNull().default(0),
    rolledBack: bytes('rolled_back').notNull().default(0),
    updatedAt: createdAt('updated_at'),
  },
  (t) => [primaryKey({ columns: [t.distributionId, t.day] })],
);

/** Client reports per target version and UTC day (adoption over time). Written in batches. */
export const versionAdoptionDaily = pgTable(
  'version_adoption_daily',
  {
    versionId: uuid('version_id')
      .notNull()
      .references(() => versions.id, { onDelete: 'cascade' }),
    day: date('day', { mode: 'string' }).notNull(),
    downloaded: bytes('downloaded').notNull().default(0),
    installed: bytes('installed').notNull().default(0),
    failed: bytes('failed').notNull().default(0),
    rolledBack: bytes('rolled_back').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.versionId, t.day] })],
);

export const rollbackStrategy = pgEnum('rollback_strategy', ['IMMEDIATE', 'GRADUAL', 'SCHEDULED']);
export const rollbackStatus = pgEnum('rollback_status', [
  'PENDING',
  'APPROVED',
  'EXECUTING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
]);

/** One step of a plan's execution as recorded on the plan (the step log). */
export type RollbackStepRecord = {
  name: 'halt-distributions' | 'deprecate-version' | 'distribute-target';
  status: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED';
  startedAt: string | null;
  finishedAt: string | null;
  message: string | null;
  /** How many times the step was started (more than once only after a crash or a retry). */
  attempts: number;
};

export const rollbackPlans = pgTable(
  'rollback_plans',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fromVersion: text('from_version').notNull(),
    toVersion: text('to_version').notNull(),
    extensionId: text('extension_id'),
    productId: text('product_id'),
    reason: text('reason').notNull(),
    safetyChecks: jsonb('safety_checks').$type<SafetyCheckRecord[]>().notNull().default([]),
    estimatedDowntime: integer('estimated_downtime').notNull().default(0),
    rollbackStrategy: rollbackStrategy('rollback_strategy').notNull().default('IMMEDIATE'),
    scheduledAt: at('scheduled_at'),
    status: rollbackStatus('status').notNull().default('PENDING'),
    createdBy: uuid('created_by'),
    approvedBy: uuid('approved_by'),
    createdAt: createdAt('created_at'),
    executedAt: at('executed_at'),
    completedAt: at('completed_at'),
    error: text('error'),
    /** The versions the plan names, resolved at creation (null when the version does not exist: a FAILED check). */
    fromVersionId: uuid('from_version_id').references(() => versions.id),
    toVersionId: uuid('to_version_id').references(() => versions.id),
    /** The execution's step log, in order; written in the same transaction as each step's work. */
    steps: jsonb('steps').$type<RollbackStepRecord[]>().notNull().default([]),
    /**
     * Bumped by every execute and retry: the execution job carries the generation it was
     * enqueued for (its deterministic key) and does nothing once the plan has moved on.
     */
    executionGeneration: integer('execution_generation').notNull().default(0),
    /** The rollback distribution the last step created. */
    rollbackDistributionId: uuid('rollback_distribution_id').references(() => distributions.id),
    approvedAt: at('approved_at'),
    cancelledAt: at('cancelled_at'),
    cancelledBy: uuid('cancelled_by'),
    updatedAt: createdAt('updated_at'),
  },
  (t) => [
    index('rollback_plans_status_idx').on(t.status),
    index('rollback_plans_owner_idx').on(t.extensionId, t.productId),
    index('rollback_plans_created_idx').on(t.createdAt, t.id),
  ],
);

export const deltaGenerationStatus = pgEnum('delta_generation_status', ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']);

/**
 * One request to build a delta package from the full package of `from_version` to that of
 * `to_version` (services/delta). Runs as a job; at most one PENDING or RUNNING generation per
 * pair (a second request gets the running one). `attempt` numbers the pair's generations: the
 * job's deterministic key is the pair plus the attempt.
 */
export const deltaGenerations = pgTable(
  'delta_generations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    extensionId: text('extension_id'),
    productId: text('product_id'),
    fromVersion: text('from_version').notNull(),
    toVersion: text('to_version').notNull(),
    fromVersionId: uuid('from_version_id')
      .notNull()
      .references(() => versions.id),
    toVersionId: uuid('to_version_id')
      .notNull()
      .references(() => versions.id),
    attempt: integer('attempt').notNull().default(1),
    status: deltaGenerationStatus('status').notNull().default('PENDING'),
    /** 0–100. */
    progress: integer('progress').notNull().default(0),
    /** Why it FAILED, naming the step (reading a full package, generating, verifying, storing). */
    error: text('error'),
    /** The delta package it recorded (SUCCEEDED). */
    packageId: uuid('package_id').references(() => updatePackages.id),
    createdBy: uuid('created_by'),
    createdAt: createdAt('created_at'),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    updatedAt: createdAt('updated_at'),
  },
  (t) => [
    uniqueIndex('delta_generations_one_active_per_pair').on(t.fromVersionId, t.toVersionId).where(sql`${t.status} in ('PENDING', 'RUNNING')`),
    uniqueIndex('delta_generations_pair_attempt').on(t.fromVersionId, t.toVersionId, t.attempt),
    check('delta_generations_progress_range', sql`${t.progress} between 0 and 100`),
  ],
);

/**
 * Event payloads too large for a NOTIFY (8000 bytes) travel by id: the sender stores the
 * payload here and notifies its id; receivers read it back. Rows older than an hour are swept.
 */
export const eventPayloads = pgTable('event_payloads', {
  id: uuid('id').primaryKey().defaultRandom(),
  payload: jsonb('payload').notNull(),
  createdAt: createdAt('created_at'),
});

/**
 * Who made an audited change: an `admin` caller of the API (their token's `sub`), a `script`
 * calling a service directly (the id it passed, e.g. `createdBy`, or `script`), or the server
 * itself (`system:<job>`, e.g. `system:rollback-scheduler`). See services/audit/actor.ts.
 */
export const auditActorRole = pgEnum('audit_actor_role', ['admin', 'script', 'system']);

/** SUCCEEDED: the change committed (written in its transaction). FAILED: refused or failed, nothing changed. */
export const auditOutcome = pgEnum('audit_outcome', ['SUCCEEDED', 'FAILED']);

/**
 * The audit trail: one row per admin mutation (services/audit/trail.ts). Append-only — no code
 * updates or deletes rows, and a trigger (migration 0008, hand-written SQL) refuses every UPDATE;
 * retention (DELETE of old rows) is an operator's decision (docs/audit.md). A SUCCEEDED row
 * is written in the same transaction as the change it records, so it exists iff the change
 * committed; a FAILED row is written after the rollback, in a transaction of its own.
 */
export const auditEntries = pgTable(
  'audit_entries',
  {
    /** Chosen by the writer (not the database) so it can tell afterwards whether its transaction committed. */
    id: uuid('id').primaryKey(),
    /** When the row was written (clock time, not the transaction's start). */
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().default(sql`clock_timestamp()`),
    actorId: text('actor_id').notNull(),
    actorRole: auditActorRole('actor_role').notNull(),
    /** The API's name for the change: the mutation's name (`createVersion`, `pauseDistribution`, …). */
    operation: text('operation').notNull(),
    /** What kind of object the change is about (`Version`, `Distribution`, …). */
    targetType: text('target_type').notNull(),
    /** The object's id (for a create: the created object's); null when a refused create made none or the id given was not one. */
    targetId: uuid('target_id'),
    outcome: auditOutcome('outcome').notNull(),
    /** FAILED only: the error code the caller got (BAD_USER_INPUT, NOT_FOUND, CONFLICT, …) and its message. */
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    /** The input (secrets redacted, long text cut) and what the change produced (services/audit/details.ts). */
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_entries_at_idx').on(t.at, t.id),
    index('audit_entries_actor_idx').on(t.actorId, t.at, t.id),
    index('audit_entries_operation_idx').on(t.operation, t.at, t.id),
    index('audit_entries_target_idx').on(t.targetId, t.at, t.id),
    index('audit_entries_target_type_idx').on(t.targetType, t.at, t.id),
    index('audit_entries_failed_idx').on(t.at, t.id).where(sql`${t.outcome} = 'FAILED'`),
    check('audit_entries_error_iff_failed', sql`(${t.outcome} = 'FAILED') = (${t.errorCode} IS NOT NULL)`),
  ],
);
