import { BadInputError } from '../errors.js';
import { parseOwner, type Owner } from '../owner.js';
import { parseVersion, type ParsedVersion } from '../versions/semverOrder.js';
import { isInRollout } from './bucketing.js';
import type { LiveRelease, ReleaseState } from './releaseState.js';

/**
 * The contract's update-check rules, as pure functions over a release state (no I/O):
 *
 * - The offer is the highest live (ACTIVE/COMPLETED), non-deprecated version above the
 *   client's that this client is eligible for.
 * - A delta applies only on its base version (same precedence) and is preferred there; a full
 *   package applies to any lower version. A delta is offered under its own distribution, or —
 *   when it rebuilds the full package exactly — under the full package's (it rides on it).
 * - Prereleases are offered only with `includePrerelease`.
 * - Gradual eligibility: `rolloutBucket(salt, clientId) < percentage × 100`. Without a
 *   clientId only fully rolled-out releases (100 %: IMMEDIATE, COMPLETED, a started
 *   SCHEDULED) are offered.
 * - `mandatory` when any live mandatory release lies in (current, offer].
 * - Rollback: a client on a withdrawn version (deprecated, or halted by a rollback) with no
 *   forward offer is offered the highest eligible rollback distribution's target below it,
 *   with `isRollback: true`.
 * - No applicable release: null.
 */

/** The answer to an update check (GraphQL `UpdateInfo`). */
export interface UpdateInfo {
  /** The client's version, as it sent it. */
  fromVersion: string;
  toVersion: string;
  packageId: string;
  packageUrl: string;
  packageSize: number;
  checksum: string;
  isDelta: boolean;
  deltaFromVersion: string | null;
  deltaFormat: string | null;
  targetChecksum: string | null;
  isRollback: boolean;
  mandatory: boolean;
  releaseNotes: string | null;
  distributionId: string;
}

export interface UpdateCheckArgs {
  currentVersion: string;
  extensionId?: string | null;
  productId?: string | null;
  clientId?: string | null;
  includePrerelease?: boolean | null;
}

/** The parsed, validated form of a check's arguments. */
export interface UpdateCheckQuery {
  current: ParsedVersion;
  owner: Owner;
  clientId: string | null;
  includePrerelease: boolean;
}

export const CLIENT_ID_MAX_LENGTH = 200;

/** Parsed versions by text: clients send the same few versions over and over. */
const parsedVersions = new Map<string, ParsedVersion>();
const PARSED_VERSIONS_MAX = 10_000;

function parseCurrentVersion(text: string): ParsedVersion {
  let parsed = parsedVersions.get(text);
  if (!parsed) {
    parsed = parseVersion(text, 'currentVersion'); // BAD_USER_INPUT for anything not strict SemVer
    if (parsedVersions.size >= PARSED_VERSIONS_MAX) parsedVersions.clear();
    parsedVersions.set(text, parsed);
  }
  return parsed;
}

/** Validates a check's arguments: BAD_USER_INPUT naming the field for invalid SemVer, owner or clientId. */
export function parseUpdateCheck(args: UpdateCheckArgs): UpdateCheckQuery {
  const current = parseCurrentVersion(args.currentVersion);
  const owner = parseOwner(args.extensionId, args.productId);
  const clientId = args.clientId === undefined || args.clientId === null || args.clientId === '' ? null : args.clientId;
  if (clientId !== null && (typeof clientId !== 'string' || clientId.length > CLIENT_ID_MAX_LENGTH)) {
    throw new BadInputError(`clientId must be text of at most ${CLIENT_ID_MAX_LENGTH} characters (a stable id of the installation)`, { field: 'clientId' });
  }
  return { current, owner, clientId, includePrerelease: args.includePrerelease === true };
}

function eligible(release: LiveRelease, clientId: string | null): boolean {
  if (release.percentage >= 100) return true;
  if (clientId === null) return false;
  return isInRollout(release.salt, clientId, release.percentage);
}

function applies(release: LiveRelease, query: UpdateCheckQuery): boolean {
  if (release.toDeprecated) return false;
  if (release.toPrerelease && !query.includePrerelease) return false;
  if (release.isDelta && release.baseSortKey !== query.current.sortKey) return false;
  return eligible(release, query.clientId);
}

/** The release to offer (forward first, then rollback), or undefined. */
export function chooseRelease(state: ReleaseState, query: UpdateCheckQuery): { release: LiveRelease; mandatory: boolean; rollback: boolean } | undefined {
  const currentKey = query.current.sortKey;
  // releases: highest target first, a delta before the full package of the same target. A
  // rollback distribution is its target's live release too (it superseded the original
  // distribution of the package): clients below the target are offered it forward, as usual.
  for (const release of state.releases) {
    if (release.toSortKey <= currentKey) break;
    if (!applies(release, query)) continue;
    // A delta riding on this full package's distribution, when the client is on its base.
    const offered = release.deltas?.get(currentKey) ?? release;
    return { release: offered, mandatory: mandatoryUpTo(state, currentKey, release.toSortKey), rollback: false };
  }
  if (!state.withdrawn.has(currentKey)) return undefined;
  for (const release of state.releases) {
    if (!release.isRollback || release.toSortKey >= currentKey) continue;
    if (release.isDelta ? release.baseSortKey !== currentKey : false) continue;
    if (release.toDeprecated || (release.toPrerelease && !query.includePrerelease) || !eligible(release, query.clientId)) continue;
    return { release, mandatory: release.mandatory, rollback: true };
  }
  return undefined;
}

/** True when a live, forward mandatory release has its target in (current, offer]. */
function mandatoryUpTo(state: ReleaseState, currentKey: string, offerKey: string): boolean {
  for (const release of state.releases) {
    if (release.toSortKey <= currentKey) break;
    if (release.mandatory && !release.isRollback && release.toSortKey <= offerKey) return true;
  }
  return false;
}

/** Answers memoised per state: the same offer is the same object for every client that gets it. */
const MEMO_MAX = 20_000;

/** The update check: the offer for these arguments from this state, or null. */
export function checkUpdate(state: ReleaseState, query: UpdateCheckQuery, fromVersion: string): UpdateInfo | null {
  const choice = chooseRelease(state, query);
  if (!choice) return null;
  return toUpdateInfo(state, choice.release, choice.mandatory, fromVersion, choice.rollback);
}

export function toUpdateInfo(state: ReleaseState, release: LiveRelease, mandatory: boolean, fromVersion: string, rollback = release.isRollback): UpdateInfo {
  const key = `${release.packageId}\u0000${mandatory ? 1 : 0}\u0000${rollback ? 1 : 0}\u0000${fromVersion}`;
  const memo = state.memo as Map<string, UpdateInfo>;
  let info = memo.get(key);
  if (!info) {
    info = {
      fromVersion,
      toVersion: release.toVersion,
      packageId: release.packageId,
      packageUrl: release.packageUrl,
      packageSize: release.packageSize,
      checksum: release.checksum,
      isDelta: release.isDelta,
      deltaFromVersion: release.deltaFromVersion,
      deltaFormat: release.deltaFormat,
      targetChecksum: release.targetChecksum,
      isRollback: rollback,
      mandatory,
      releaseNotes: release.releaseNotes,
      distributionId: release.distributionId,
    };
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(key, info);
  }
  return info;
}
