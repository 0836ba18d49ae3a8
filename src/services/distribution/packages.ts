import type { AuditRecorder } from '../audit/trail.js';
import { enqueueAutomaticDeltas } from '../delta/jobs.js';
import { BadInputError, ConflictError, DomainError, ErrorCode, isUniqueViolation, NotFoundError } from '../errors.js';
import { isUuid } from '../ids.js';
import { describeOwner, parseOwner, type Owner } from '../owner.js';
import { decodeCursor, pageSize, toPage, type Page, type PageRequest } from '../pagination.js';
import type { ServiceRuntime } from '../runtime.js';
import { isSortKey, parseVersion, type ParsedVersion } from '../versions/semverOrder.js';
import { releaseChanged } from './events.js';
import type { DistributionScope } from './scope.js';
import {
  findSamePackage,
  insertPackage,
  lockCdnFile,
  lockVersionsByPrecedence,
  selectPackagePage,
  selectPackagesByVersionIds,
  type UpdatePackageRecord,
  type VersionRef,
} from './store.js';

export interface CreateUpdatePackageArgs {
  /** For a full package the lowest version it is meant for; for a delta its base (unless deltaFromVersion says so). */
  fromVersion: string;
  toVersion: string;
  /** A file inside UPLOAD_DIR, stored through the CDN service. Give this or `cdnFileId`. */
  packagePath?: string | null;
  /** An ACTIVE CDN file already uploaded. Give this or `packagePath`. */
  cdnFileId?: string | null;
  extensionId?: string | null;
  productId?: string | null;
  isDelta?: boolean | null;
  /** The delta's base version (defaults to `fromVersion`; must equal it when both are given). */
  deltaFromVersion?: string | null;
  /** How the delta is applied (e.g. `zstd-patch`); deltas only. */
  deltaFormat?: string | null;
  /** sha256 (hex) of what the client holds after applying the delta; deltas only. */
  targetChecksum?: string | null;
  releaseNotes?: string | null;
  createdBy?: string | null;
}

export interface PackageFilter extends PageRequest {
  extensionId?: string | null;
  productId?: string | null;
  /** Only packages that lead to this version (by SemVer precedence). */
  version?: string | null;
}

const LIMITS = { releaseNotes: 100_000, deltaFormat: 50 };
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What a create request asks for, validated before anything is stored. */
interface PackageRequest {
  owner: Owner;
  from: ParsedVersion;
  to: ParsedVersion;
  isDelta: boolean;
  source: { kind: 'path'; packagePath: string } | { kind: 'cdnFile'; cdnFileId: string };
  deltaFormat: string | null;
  targetChecksum: string | null;
  releaseNotes: string | null;
  createdBy: string | null;
}

/**
 * Update packages: an artifact (stored through the CDN service) that takes clients of an owner
 * to a version, as a full package or as a delta from one base version.
 */
export class DistributionPackages {
  constructor(private readonly scope: DistributionScope) {}

  /**
   * Creates a package in named steps: validate → check the versions and duplicates (cheap, before
   * storing any bytes) → store the artifact (or take the uploaded file) → record it, re-checking
   * in one transaction that the versions exist and the CDN file is ACTIVE (locked, so
   * `deleteCdnFile` cannot race it). Publishes RELEASE_CHANGED with the insert.
   *
   * BAD_USER_INPUT: invalid SemVer, `fromVersion` not below `toVersion`, neither or both of
   * `packagePath`/`cdnFileId`, a bad path (the CDN service's rules), delta fields on a full
   * package. NOT_FOUND: a version or CDN file that does not exist. CONFLICT: the same package
   * exists (one full package per version, one delta per base), or the CDN file is deleted or
   * expired. PAYLOAD_TOO_LARGE: a file over MAX_FILE_SIZE. A file stored for a request that then
   * fails is deleted again.
   */
  async createPackage(args: CreateUpdatePackageArgs, audit?: AuditRecorder): Promise<UpdatePackageRecord> {
    const request = parsePackageRequest(args);
    const runtime = await this.scope.runtime();
    await checkVersionsAndDuplicates(runtime, request);
    const stored = request.source.kind === 'path' ? await this.storeArtifact(request, request.source.packagePath) : null;
    const cdnFileId = stored ?? (request.source as { cdnFileId: string }).cdnFileId;
    try {
      const created = await recordPackage(runtime, request, cdnFileId, audit, stored !== null);
      runtime.log.info(
        { packageId: created.id, toVersion: created.toVersion, isDelta: created.isDelta, cdnFileId, extensionId: created.extensionId, productId: created.productId },
        'update package created',
      );
      return created;
    } catch (error) {
      if (stored) {
        await this.scope.cdn.deleteFileAsStep(stored, { deletedBy: request.createdBy, force: true }).catch((cleanup: unknown) =>
          runtime.log.warn({ err: cleanup, fileId: stored }, 'could not delete the artifact stored for a package that was refused'),
        );
      }
      throw error;
    }
  }

  /** Packages of an owner, highest target version first (SemVer precedence). */
  async listPackages(filter: PackageFilter): Promise<Page<UpdatePackageRecord>> {
    const owner = parseOwner(filter.extensionId, filter.productId, false);
    const limit = pageSize(filter.first);
    const toSortKey = filter.version ? parseVersion(filter.version, 'version').sortKey : null;
    const after = filter.after ? parsePackageCursor(filter.after) : null;
    const { db } = await this.scope.runtime();
    const { rows, total } = await selectPackagePage(db, { owner, toSortKey, limit, after });
    return toPage(rows, limit, total, (row) => [row.toSortKey ?? '', row.id]);
  }

  /** Packages leading to each version (full package first), for DataLoaders: one statement. */
  async packagesByVersionIds(versionIds: readonly string[]): Promise<UpdatePackageRecord[][]> {
    const { db } = await this.scope.runtime();
    const rows = await selectPackagesByVersionIds(db, { versionIds: versionIds.filter(isUuid) });
    return versionIds.map((id) => rows.filter((row) => row.toVersionId === id));
  }

  /** Stores the artifact through the CDN service; resolves the new file's id. */
  private async storeArtifact(request: PackageRequest, packagePath: string): Promise<string> {
    const file = await this.scope.cdn.uploadFileAsStep(packagePath, null, { metadata: { updatePackage: { toVersion: request.to.version, isDelta: request.isDelta } } }, request.createdBy);
    return file.id;
  }
}

function parsePackageCursor(cursor: string): [string, string] {
  const [sortKey, id] = decodeCursor(cursor, 2) as [string, string];
  if (!isSortKey(sortKey) || !isUuid(id)) throw new BadInputError('after is not a cursor returned by this list: pass pageInfo.endCursor unchanged', { field: 'after' });
  return [sortKey, id];
}

function parseText(value: string | null | undefined, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max) throw new BadInputError(`${field} must be text of at most ${max} characters`, { field });
  return value;
}

function parsePackageRequest(args: CreateUpdatePackageArgs): PackageRequest {
  const owner = parseOwner(args.extensionId, args.productId);
  const from = parseVersion(args.fromVersion, 'fromVersion');
  const to = parseVersion(args.toVersion, 'toVersion');
  if (from.sortKey >= to.sortKey) {
    throw new BadInputError(`fromVersion ${from.version} must be lower than toVersion ${to.version}: a package takes clients up to its version`, { field: 'fromVersion' });
  }
  const isDelta = args.isDelta === true;
  if (isDelta && args.deltaFromVersion !== undefined && args.deltaFromVersion !== null) {
    const base = parseVersion(args.deltaFromVersion, 'deltaFromVersion');
    if (base.sortKey !== from.sortKey) {
      throw new BadInputError(`deltaFromVersion ${base.version} differs from fromVersion ${from.version}: a delta applies to exactly one base, give it once`, { field: 'deltaFromVersion' });
    }
  }
  if (!isDelta) {
    for (const field of ['deltaFromVersion', 'deltaFormat', 'targetChecksum'] as const) {
      if (args[field] !== undefined && args[field] !== null) {
        throw new BadInputError(`${field} applies to delta packages only: set isDelta: true, or leave ${field} out`, { field });
      }
    }
  }
  const hasPath = args.packagePath !== undefined && args.packagePath !== null;
  const hasFile = args.cdnFileId !== undefined && args.cdnFileId !== null;
  if (hasPath === hasFile) {
    throw new BadInputError('Give exactly one of packagePath (a file inside UPLOAD_DIR to store) or cdnFileId (a file already uploaded)', { field: 'packagePath' });
  }
  if (hasFile && !isUuid(args.cdnFileId)) throw new NotFoundError('CDN file', String(args.cdnFileId));
  const targetChecksum = args.targetChecksum === undefined || args.targetChecksum === null ? null : String(args.targetChecksum).toLowerCase();
  if (targetChecksum !== null && !SHA256_HEX.test(targetChecksum)) {
    throw new BadInputError('targetChecksum must be a sha256 as 64 hex digits', { field: 'targetChecksum' });
  }
  return {
    owner,
    from,
    to,
    isDelta,
    source: hasPath ? { kind: 'path', packagePath: String(args.packagePath) } : { kind: 'cdnFile', cdnFileId: args.cdnFileId! },
    deltaFormat: parseText(args.deltaFormat, 'deltaFormat', LIMITS.deltaFormat),
    targetChecksum,
    releaseNotes: parseText(args.releaseNotes, 'releaseNotes', LIMITS.releaseNotes),
    createdBy: args.createdBy ?? null,
  };
}

/** The request's versions, or NOT_FOUND naming the first one missing. */
function requireVersions(request: PackageRequest, found: Map<string, VersionRef>): { from: VersionRef; to: VersionRef } {
  const to = found.get(request.to.sortKey);
  const from = found.get(request.from.sortKey);
  for (const [field, parsed, row] of [['toVersion', request.to, to], ['fromVersion', request.from, from]] as const) {
    if (!row) {
      throw new DomainError(ErrorCode.NOT_FOUND, `Version ${parsed.version} of ${describeOwner(request.owner)} (${field}) was not found: create it with createVersion first`, {
        field,
      });
    }
  }
  return { from: from!, to: to! };
}

function duplicateError(request: PackageRequest, existingId: string): ConflictError {
  const what = request.isDelta ? `A delta package from ${request.from.version} to ${request.to.version}` : `A full package for ${request.to.version}`;
  return new ConflictError(`${what} of ${describeOwner(request.owner)} already exists (id ${existingId}): packages are immutable, create a new version instead`, {
    existingId,
  });
}

/** The checks worth doing before storing any bytes; repeated in the recording transaction. */
async function checkVersionsAndDuplicates(runtime: ServiceRuntime, request: PackageRequest): Promise<void> {
  await runtime.db.transaction(async (tx) => {
    const { from, to } = requireVersions(request, await lockVersionsByPrecedence(tx, { owner: request.owner, sortKeys: [request.from.sortKey, request.to.sortKey] }));
    const existing = await findSamePackage(tx, { toVersionId: to.id, isDelta: request.isDelta, fromVersionId: request.isDelta ? from.id : null });
    if (existing) throw duplicateError(request, existing.id);
  });
}

/**
 * In one transaction: versions exist, the CDN file is ACTIVE (locked), insert, publish, the
 * automatic deltas' job for a full package, audit entry.
 */
async function recordPackage(
  runtime: ServiceRuntime,
  request: PackageRequest,
  cdnFileId: string,
  audit: AuditRecorder | undefined,
  artifactStored: boolean,
): Promise<UpdatePackageRecord> {
  const { db, events } = runtime;
  try {
    return await db.transaction(async (tx) => {
      const { from, to } = requireVersions(request, await lockVersionsByPrecedence(tx, { owner: request.owner, sortKeys: [request.from.sortKey, request.to.sortKey] }));
      const file = await lockCdnFile(tx, { id: cdnFileId });
      if (!file || file.status === 'UPLOADING') throw new NotFoundError('CDN file', cdnFileId);
      if (file.status !== 'ACTIVE' || (file.expiresAt && file.expiresAt <= new Date())) {
        const state = file.status === 'ACTIVE' ? 'EXPIRED' : file.status;
        throw new ConflictError(`CDN file ${file.fileName} (id ${file.id}) is ${state}: clients could not download it. Upload the artifact again`, { cdnFileId });
      }
      const created = await insertPackage(tx, {
        values: {
          fromVersion: from.version,
          toVersion: to.version,
          toVersionId: to.id,
          fromVersionId: request.isDelta ? from.id : null,
          toSortKey: to.sortKey,
          ...request.owner,
          cdnFileId: file.id,
          packageUrl: file.cdnUrl,
          packageSize: file.fileSize,
          checksum: file.checksum,
          isDelta: request.isDelta,
          deltaFromVersion: request.isDelta ? from.version : null,
          deltaFormat: request.isDelta ? request.deltaFormat : null,
          targetChecksum: request.isDelta ? request.targetChecksum : file.checksum,
          releaseNotes: request.releaseNotes,
          createdBy: request.createdBy,
        },
      });
      await releaseChanged(events, tx, { ...request.owner, distributionId: null, reason: 'package-created' });
      // In this transaction, not after it: the request for deltas to the new package exists iff
      // the package does, whichever process created it (a script that exits at once included).
      await enqueueAutomaticDeltas(runtime, tx, created);
      // The artifact's upload (artifactStored) is part of this operation: named here, not an entry of its own.
      await audit?.record(tx, { targetId: created.id, details: { cdnFileId: file.id, artifactStored, toVersion: to.version, isDelta: request.isDelta } });
      return created;
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await db.transaction(async (tx) => {
      const { to, from } = requireVersions(request, await lockVersionsByPrecedence(tx, { owner: request.owner, sortKeys: [request.from.sortKey, request.to.sortKey] }));
      return findSamePackage(tx, { toVersionId: to.id, isDelta: request.isDelta, fromVersionId: request.isDelta ? from.id : null });
    });
    throw duplicateError(request, existing?.id ?? 'unknown');
  }
}
