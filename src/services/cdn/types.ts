import type { cdnFileRegions, cdnFiles, cdnInvalidations } from '../../db/schema.js';
import type { PageRequest } from '../pagination.js';

/** The shapes the CDN service reads and returns. */

export type CdnFileRow = typeof cdnFiles.$inferSelect;
export type CdnRegionRow = typeof cdnFileRegions.$inferSelect;
export type CdnInvalidationRecord = typeof cdnInvalidations.$inferSelect;
export type CdnReplicaStatus = CdnRegionRow['status'];
export type CdnInvalidationStatus = CdnInvalidationRecord['status'];
/** What readers see: UPLOADING rows are never shown; an ACTIVE row past its expiresAt reads as EXPIRED. */
export type CdnFileStatus = 'ACTIVE' | 'EXPIRED' | 'DELETED';
export type CdnInvalidationReason = 'MANUAL' | 'DELETE' | 'EXPIRY';
/** COMPLETE: in every region; PARTIAL: in some, the rest being retried; NONE: in none (removed). */
export type CdnDistribution = 'COMPLETE' | 'PARTIAL' | 'NONE';

export interface CdnFileRegionState {
  region: string;
  status: CdnReplicaStatus;
  /** Where clients download the file from in this region. */
  url: string;
  attempts: number;
  lastError: string | null;
  /** When a FAILED or REMOVING region is tried again. */
  nextAttemptAt: Date | null;
  replicatedAt: Date | null;
}

export interface CdnFileRecord extends Omit<CdnFileRow, 'status'> {
  status: CdnFileStatus;
  regions: CdnFileRegionState[];
  distributionStatus: CdnDistribution;
}

export interface UploadOptions {
  /** Cache-Control served with the file (default `public, max-age=31536000, immutable`: a file's URL never changes content). */
  cacheControl?: string | null;
  /** After this instant the file answers 410 and the expiry sweep removes it. Must be in the future. */
  expiresAt?: Date | string | null;
  metadata?: Record<string, unknown> | null;
}

export interface CdnFileFilter extends PageRequest {
  /** Default ACTIVE. */
  status?: CdnFileStatus | null;
  mimeType?: string | null;
  uploadedBy?: string | null;
  checksum?: string | null;
}

export interface DeleteOptions {
  /** Delete even while update packages point at the file (recorded on the file). */
  force?: boolean | null;
  deletedBy?: string | null;
}

export interface InvalidationFilter extends PageRequest {
  fileId?: string | null;
  status?: CdnInvalidationStatus | null;
}

export interface RegionDownloadStats {
  region: string;
  downloads: number;
  bytesServed: number;
  lastDownloadAt: Date | null;
}

export interface DailyDownloadStats {
  /** UTC day, YYYY-MM-DD. */
  date: string;
  downloads: number;
  bytesServed: number;
}

/** What the download route should do for a URL. */
export type DownloadTarget =
  | { kind: 'missing' }
  | { kind: 'expired'; file: CdnFileRow }
  | { kind: 'unavailable'; file: CdnFileRow }
  | { kind: 'ready'; file: CdnFileRow; regions: string[] };
