import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
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
    /** SemVer precedence as bytes: see services/semverOrder.ts. */
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
  },
  (t) => [index('cdn_files_checksum_idx').on(t.checksum), index('cdn_files_expires_idx').on(t.expiresAt)],
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
