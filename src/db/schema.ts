import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
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

export const updatePackages = pgTable(
  'update_packages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fromVersion: text('from_version').notNull(),
    toVersion: text('to_version').notNull(),
    toVersionId: uuid('to_version_id').references(() => versions.id),
    extensionId: text('extension_id'),
    productId: text('product_id'),
    cdnFileId: uuid('cdn_file_id').references(() => cdnFiles.id),
    packageUrl: text('package_url').notNull(),
    packageSize: bytes('package_size').notNull(),
    checksum: text('checksum').notNull(),
    isDelta: boolean('is_delta').notNull().default(false),
    deltaFromVersion: text('delta_from_version'),
    releaseNotes: text('release_notes'),
    createdAt: createdAt('created_at'),
    createdBy: uuid('created_by'),
    distributedAt: at('distributed_at'),
  },
  (t) => [
    index('update_packages_extension_idx').on(t.extensionId, t.toVersion),
    index('update_packages_product_idx').on(t.productId, t.toVersion),
  ],
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
  },
  (t) => [index('rollback_plans_status_idx').on(t.status), index('rollback_plans_owner_idx').on(t.extensionId, t.productId)],
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
