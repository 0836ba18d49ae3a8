import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import { ByteCountScalar, JSONObjectScalar } from '../scalars.js';
import { PageInfo } from './common.js';

export enum CdnFileStatus {
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  DELETED = 'DELETED',
}
registerEnumType(CdnFileStatus, {
  name: 'CdnFileStatus',
  description: 'ACTIVE files are served; EXPIRED ones (past expiresAt) answer 410 and their bytes are swept; DELETED ones answer 404.',
});

export enum CdnReplicaStatus {
  PENDING = 'PENDING',
  AVAILABLE = 'AVAILABLE',
  FAILED = 'FAILED',
  REMOVING = 'REMOVING',
  REMOVED = 'REMOVED',
}
registerEnumType(CdnReplicaStatus, {
  name: 'CdnReplicaStatus',
  description:
    'A region\'s copy of a file: PENDING while uploading; AVAILABLE served; FAILED retried in the background with backoff (see nextAttemptAt); REMOVING being deleted (retried likewise); REMOVED gone.',
});

export enum CdnDistributionStatus {
  COMPLETE = 'COMPLETE',
  PARTIAL = 'PARTIAL',
  NONE = 'NONE',
}
registerEnumType(CdnDistributionStatus, {
  name: 'CdnDistributionStatus',
  description: 'COMPLETE: available in every region; PARTIAL: in some, the others being retried; NONE: in no region (deleted or expired).',
});

export enum CdnInvalidationStatus {
  PENDING = 'PENDING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(CdnInvalidationStatus, {
  name: 'CdnInvalidationStatus',
  description: 'PENDING: waiting for a retry after a 429/5xx/network failure (nextAttemptAt); COMPLETED: accepted by the edge; FAILED: refused, or retries exhausted (lastError).',
});

export enum CdnInvalidationReason {
  MANUAL = 'MANUAL',
  DELETE = 'DELETE',
  EXPIRY = 'EXPIRY',
}
registerEnumType(CdnInvalidationReason, { name: 'CdnInvalidationReason', description: 'Why the cache was invalidated: invalidateCdnCache, a delete, or expiry.' });

@ObjectType({ description: "One region's copy of a CDN file." })
export class CdnFileRegion {
  @Field(() => String)
  region: string;

  @Field(() => CdnReplicaStatus)
  status: CdnReplicaStatus;

  @Field(() => String, { description: 'Where clients download the file from in this region.' })
  url: string;

  @Field(() => Int, { description: 'Store attempts so far (the upload counts as the first).' })
  attempts: number;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  lastError: string | null;

  @Field(() => Date, { nullable: true, description: 'When a FAILED or REMOVING region is tried again.' })
  nextAttemptAt: Date | null;

  @Field(() => Date, { nullable: true })
  replicatedAt: Date | null;
}

@ObjectType({ description: 'Downloads of a file from one region (all time).' })
export class CdnRegionStats {
  @Field(() => String)
  region: string;

  @Field(() => ByteCountScalar)
  downloads: number;

  @Field(() => ByteCountScalar)
  bytesServed: number;

  @Field(() => Date, { nullable: true })
  lastDownloadAt: Date | null;
}

@ObjectType({ description: 'Downloads of a file on one UTC day, all regions.' })
export class CdnDailyStats {
  @Field(() => String, { description: 'UTC day, YYYY-MM-DD.' })
  date: string;

  @Field(() => ByteCountScalar)
  downloads: number;

  @Field(() => ByteCountScalar)
  bytesServed: number;
}

@ObjectType({
  description:
    'Downloads served by this server (local provider). A download is a response that delivered the file from its first byte; bytesServed counts every byte sent, ranges included. Counted in memory and written every few seconds (CDN_STATS_FLUSH_INTERVAL), so figures lag by up to that long.',
})
export class CdnFileStats {
  /** The file's id, for the per-region and daily resolvers. */
  fileId: string;

  @Field(() => ByteCountScalar)
  downloads: number;

  @Field(() => ByteCountScalar)
  bytesServed: number;

  @Field(() => Date, { nullable: true })
  lastDownloadAt: Date | null;
}

@ObjectType({ description: 'An artifact stored on the CDN.' })
export class CdnFile {
  @Field(() => ID)
  id: string;

  @Field(() => String, { description: 'Name clients download it as (the last segment of cdnUrl).' })
  fileName: string;

  @Field(() => String, { description: 'Where it was uploaded from: the path inside UPLOAD_DIR, symlinks resolved.' })
  filePath: string;

  @Field(() => ByteCountScalar)
  fileSize: number;

  @Field(() => String, { description: 'Detected from the content\'s magic bytes, else from the extension.' })
  mimeType: string;

  @Field(() => String, { description: 'Public URL (primary region). Served with cacheControl and ETag = "<checksum>".' })
  cdnUrl: string;

  @Field(() => String, { description: 'sha256 of the bytes, lowercase hex; the bytes served at cdnUrl hash to it.' })
  checksum: string;

  @Field(() => String)
  cacheControl: string;

  @Field(() => Date, { nullable: true, description: 'After this the URL answers 410 and the bytes are swept.' })
  expiresAt: Date | null;

  @Field(() => JSONObjectScalar)
  metadata: Record<string, unknown>;

  @Field(() => Date)
  uploadedAt: Date;

  @Field(() => ID, { nullable: true, description: 'User id (token `sub`) of the admin who uploaded it.' })
  uploadedBy: string | null;

  @Field(() => CdnFileStatus)
  status: CdnFileStatus;

  @Field(() => [CdnFileRegion], { description: 'Per-region copies, in configured region order.' })
  regions: CdnFileRegion[];

  @Field(() => CdnDistributionStatus)
  distributionStatus: CdnDistributionStatus;

  @Field(() => Date, { nullable: true })
  deletedAt: Date | null;

  @Field(() => ID, { nullable: true })
  deletedBy: string | null;

  @Field(() => Boolean, { description: 'True when it was deleted with force while update packages pointed at it.' })
  deletionForced: boolean;

  @Field(() => [ID], { description: 'The update packages a forced delete overrode.' })
  deletionOverrodePackages: string[];
}

@ObjectType({ description: 'A page of CDN files, newest first.' })
export class CdnFileConnection {
  @Field(() => [CdnFile])
  nodes: CdnFile[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@ObjectType({ description: 'A request to the edge to drop cached copies of URL paths, as recorded.' })
export class CdnInvalidation {
  @Field(() => ID)
  id: string;

  @Field(() => ID, { nullable: true })
  fileId: string | null;

  @Field(() => [String], { description: 'URL paths, each starting with "/".' })
  paths: string[];

  @Field(() => String, { description: 'CDN_PROVIDER that handled it.' })
  provider: string;

  @Field(() => CdnInvalidationReason)
  reason: CdnInvalidationReason;

  @Field(() => CdnInvalidationStatus)
  status: CdnInvalidationStatus;

  @Field(() => String, { nullable: true, description: "The provider's id for the request (CloudFront invalidation id, Cloudflare purge id); null without an edge cache." })
  reference: string | null;

  @Field(() => Int)
  attempts: number;

  @Field(() => String, { nullable: true })
  lastError: string | null;

  @Field(() => Date, { nullable: true, description: 'When a PENDING request is tried again.' })
  nextAttemptAt: Date | null;

  @Field(() => ID, { nullable: true })
  requestedBy: string | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date)
  updatedAt: Date;

  @Field(() => Date, { nullable: true })
  completedAt: Date | null;
}

@ObjectType({ description: 'A page of invalidation requests, newest first.' })
export class CdnInvalidationConnection {
  @Field(() => [CdnInvalidation])
  nodes: CdnInvalidation[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@InputType()
export class UploadCdnFileInput {
  @Field(() => String, { description: 'Path of the file inside UPLOAD_DIR (relative, or absolute inside it), e.g. the `path` PUT /uploads/<name> answered.' })
  filePath: string;

  @Field(() => String, { nullable: true, description: 'Name to serve it as (default: the base name of filePath); at most 255 bytes, no "/".' })
  fileName?: string | null;

  @Field(() => String, { nullable: true, description: 'Cache-Control to serve it with (default "public, max-age=31536000, immutable").' })
  cacheControl?: string | null;

  @Field(() => Date, { nullable: true, description: 'Future instant after which it is no longer served.' })
  expiresAt?: Date | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@ArgsType()
export class CdnFilesArgs {
  @Field(() => CdnFileStatus, { defaultValue: CdnFileStatus.ACTIVE })
  status: CdnFileStatus;

  @Field(() => String, { nullable: true })
  mimeType?: string | null;

  @Field(() => ID, { nullable: true })
  uploadedBy?: string | null;

  @Field(() => String, { nullable: true, description: 'sha256, hex: find uploads of these exact bytes.' })
  checksum?: string | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page.' })
  after?: string | null;
}

@ArgsType()
export class CdnInvalidationsArgs {
  @Field(() => ID, { nullable: true })
  fileId?: string | null;

  @Field(() => CdnInvalidationStatus, { nullable: true })
  status?: CdnInvalidationStatus | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}
