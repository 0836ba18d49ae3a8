import crypto from 'node:crypto';

import type { CdnProvider } from '../../cdn/provider.js';
import type { DbExecutor } from '../../db/client.js';
import type { CdnFileRecord } from '../cdn/types.js';
import { describeOwner, type Owner } from '../owner.js';
import type { ParsedVersion } from '../versions/semverOrder.js';
import { estimateDowntime } from './estimate.js';
import * as store from './store.js';
import type { PackageRow, RollbackStrategy, SafetyCheckRecord, VersionRow } from './store.js';

/**
 * The safety checks of a rollback plan, in the order they are shown. Each yields one
 * `{ name, status, message }`; a FAILED one blocks approval and execution, a WARNING is shown
 * to the approver. They run at creation, again at approval and again right before execution
 * (the world may have changed in between).
 */
export const CHECK_NAMES = [
  'target-version-exists',
  'target-older-than-current',
  'target-not-deprecated',
  'target-package-integrity',
  'current-version-live',
  'no-other-open-plan',
  'changelog-risks',
  'schedule',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** Why the checks run: `resume` is a retry of a plan whose earlier steps already ran. */
export type CheckPhase = 'create' | 'approve' | 'execute' | 'resume';

export interface CheckInput {
  db: DbExecutor;
  owner: Owner;
  from: ParsedVersion;
  to: ParsedVersion;
  strategy: RollbackStrategy;
  scheduledAt: Date | null;
  /** The plan being checked (null before it exists): excluded from "other open plans". */
  planId: string | null;
  phase: CheckPhase;
  /** Steps already completed (resume): the current version is no longer live once halted. */
  completedSteps?: readonly string[];
  /** Reads a CDN file's record (regions and storage key). */
  cdnFile(id: string): Promise<CdnFileRecord | null>;
  cdnProvider(): Promise<CdnProvider>;
  now: Date;
}

export interface CheckOutcome {
  checks: SafetyCheckRecord[];
  fromVersion: VersionRow | null;
  toVersion: VersionRow | null;
  targetPackage: PackageRow | null;
  liveClients: number;
  estimatedDowntime: number;
}

const passed = (name: CheckName, message: string): SafetyCheckRecord => ({ name, status: 'PASSED', message });
const warning = (name: CheckName, message: string): SafetyCheckRecord => ({ name, status: 'WARNING', message });
const failed = (name: CheckName, message: string): SafetyCheckRecord => ({ name, status: 'FAILED', message });

export function firstFailed(checks: readonly SafetyCheckRecord[]): SafetyCheckRecord | undefined {
  return checks.find((check) => check.status === 'FAILED');
}

export async function runSafetyChecks(input: CheckInput): Promise<CheckOutcome> {
  const { db, owner, from, to } = input;
  const [fromVersion, toVersion] = await Promise.all([
    store.selectVersionByPrecedence(db, { owner, sortKey: from.sortKey }),
    store.selectVersionByPrecedence(db, { owner, sortKey: to.sortKey }),
  ]);
  const targetPackage = toVersion ? await store.selectFullPackage(db, { versionId: toVersion.id }) : null;
  const [integrity, live, openPlans, risks, liveClients] = await Promise.all([
    checkPackageIntegrity(input, toVersion, targetPackage),
    checkCurrentLive(input, fromVersion),
    checkOpenPlans(input),
    checkChangelogRisks(input, fromVersion),
    fromVersion ? store.selectInstalledClients(db, { versionId: fromVersion.id }) : Promise.resolve(0),
  ]);
  const checks: SafetyCheckRecord[] = [
    toVersion
      ? passed('target-version-exists', `Version ${toVersion.version} of ${describeOwner(owner)} exists (id ${toVersion.id})`)
      : failed('target-version-exists', `Version ${to.version} does not exist for ${describeOwner(owner)}: publish it (createVersion) or pick an existing version`),
    // Input validation refuses a target that is not older; the check records that it held.
    passed('target-older-than-current', `${to.version} precedes ${from.version}`),
    !toVersion
      ? failed('target-not-deprecated', `Version ${to.version} does not exist, so it cannot be offered`)
      : toVersion.isDeprecated
        ? failed('target-not-deprecated', `Version ${toVersion.version} is deprecated (${toVersion.deprecationReason ?? 'no reason given'}) and is never offered again: pick a version that is not deprecated`)
        : passed('target-not-deprecated', `Version ${toVersion.version} is not deprecated`),
    integrity,
    live,
    openPlans,
    risks,
    ...(input.strategy === 'SCHEDULED' ? [checkSchedule(input)] : []),
  ];
  const estimatedDowntime = estimateDowntime({ strategy: input.strategy, packageSize: targetPackage?.packageSize ?? 0, liveClients });
  return { checks, fromVersion, toVersion, targetPackage, liveClients, estimatedDowntime };
}

/**
 * A full package of the target exists, its file is on the CDN, and the bytes every region would
 * serve — read back through the provider — hash to the package's checksum.
 */
async function checkPackageIntegrity(input: CheckInput, toVersion: VersionRow | null, pkg: PackageRow | null): Promise<SafetyCheckRecord> {
  const name = 'target-package-integrity';
  if (!toVersion) return failed(name, `Version ${input.to.version} does not exist, so it has no package`);
  if (!pkg) {
    return failed(name, `Version ${toVersion.version} has no full update package: create one with createUpdatePackage (a delta applies to one base version only, so it cannot roll every client back)`);
  }
  if (!pkg.cdnFileId) return failed(name, `Package ${pkg.id} has no stored file on record, so its bytes cannot be verified: create the package again`);
  const file = await input.cdnFile(pkg.cdnFileId);
  if (!file || file.status !== 'ACTIVE') {
    return failed(name, `The file of package ${pkg.id} (CDN file ${pkg.cdnFileId}) is ${file ? file.status.toLowerCase() : 'gone'}: clients could not download it. Upload it again and create a new package`);
  }
  const regions = file.regions.filter((region) => region.status === 'AVAILABLE').map((region) => region.region);
  if (regions.length === 0) return failed(name, `No region holds the file of package ${pkg.id} (CDN file ${file.id}): wait for re-replication or upload it again`);
  const provider = await input.cdnProvider();
  const problems: string[] = [];
  for (const region of regions) {
    try {
      const stream = await provider.get(region, file.storageKey);
      const hash = crypto.createHash('sha256');
      let size = 0;
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const digest = hash.digest('hex');
      if (digest !== pkg.checksum) problems.push(`region ${region} serves ${size} bytes hashing to sha256 ${digest}, not the package's ${pkg.checksum}`);
    } catch (error) {
      problems.push(`region ${region} could not be read (${(error as Error).message})`);
    }
  }
  if (problems.length > 0) {
    return failed(name, `The bytes of package ${pkg.id} on the CDN do not match its checksum: ${problems.join('; ')}. Upload the artifact again and create a new package before rolling back to it`);
  }
  return passed(name, `Package ${pkg.id} (${pkg.packageSize} bytes) read back from ${regions.join(', ')} hashes to its sha256 ${pkg.checksum}`);
}

async function checkCurrentLive(input: CheckInput, fromVersion: VersionRow | null): Promise<SafetyCheckRecord> {
  const name = 'current-version-live';
  if (!fromVersion) return failed(name, `Version ${input.from.version} does not exist for ${describeOwner(input.owner)}: there is nothing to roll back from`);
  if (input.phase === 'resume' && input.completedSteps?.includes('halt-distributions')) {
    return passed(name, `The distributions of ${fromVersion.version} were already halted by this plan's earlier attempt`);
  }
  // A PAUSED distribution that went live still counts: pausing stops new offers, but clients
  // that installed the version run it (the health gate pauses a bad release, then rolls it back).
  const found = await store.selectVersionDistributions(input.db, { versionId: fromVersion.id, statuses: ['ACTIVE', 'COMPLETED', 'PAUSED'] });
  const live = found.filter((d) => d.status !== 'PAUSED' || d.startedAt !== null);
  if (live.length === 0) {
    return failed(
      name,
      `Version ${fromVersion.version} is not live (no ACTIVE or COMPLETED distribution of its packages, nor a PAUSED one that went live): no client is being offered it, so there is nothing to roll back`,
    );
  }
  return passed(name, `Version ${fromVersion.version} is live in ${live.length} distribution(s): ${live.map((d) => `${d.id} (${d.status}, ${d.percentage}%)`).join(', ')}`);
}

async function checkOpenPlans(input: CheckInput): Promise<SafetyCheckRecord> {
  const name = 'no-other-open-plan';
  const others = await store.selectOpenPlans(input.db, { owner: input.owner, exceptId: input.planId });
  if (others.length > 0) {
    return failed(
      name,
      `${describeOwner(input.owner)} has other open rollback plan(s): ${others.map((p) => `${p.id} (${p.status}, ${p.fromVersion} → ${p.toVersion})`).join(', ')}. Finish or cancel them first`,
    );
  }
  return passed(name, `No other open rollback plan for ${describeOwner(input.owner)}`);
}

/** Breaking changes and security fixes in the versions the rollback undoes, (target, current]. */
async function checkChangelogRisks(input: CheckInput, fromVersion: VersionRow | null): Promise<SafetyCheckRecord> {
  const name = 'changelog-risks';
  if (!fromVersion) return passed(name, 'No changelog to read: the current version does not exist');
  const undone = await store.selectVersionsBetween(input.db, { owner: input.owner, fromSortKey: input.to.sortKey, toSortKey: fromVersion.sortKey });
  const security: string[] = [];
  const breaking: string[] = [];
  for (const version of undone) {
    for (const entry of version.changelog) {
      const text = `${version.version}: ${entry.description}`;
      if (entry.type === 'SECURITY') security.push(text);
      if (entry.breaking) breaking.push(text);
    }
  }
  if (security.length === 0 && breaking.length === 0) {
    return passed(name, `No breaking changes or security fixes in the ${undone.length} version(s) rolled back`);
  }
  const parts = [
    security.length > 0 ? `rolling back removes security fix(es) — ${security.join('; ')}` : null,
    breaking.length > 0 ? `it crosses breaking change(s) — ${breaking.join('; ')} — check that data written by the newer version still works on ${input.to.version}` : null,
  ].filter(Boolean);
  return warning(name, `Review before approving: ${parts.join('; ')}`);
}

function checkSchedule(input: CheckInput): SafetyCheckRecord {
  const name = 'schedule';
  if (!input.scheduledAt) return failed(name, 'A SCHEDULED plan needs scheduledAt');
  // At execution the job runs at scheduledAt, so the time has come by design.
  if (input.phase === 'execute' || input.phase === 'resume') return passed(name, `Scheduled for ${input.scheduledAt.toISOString()}`);
  if (input.scheduledAt.getTime() <= input.now.getTime()) {
    return failed(name, `scheduledAt ${input.scheduledAt.toISOString()} is in the past: create a new plan with a future time, or an IMMEDIATE one`);
  }
  return passed(name, `Runs at ${input.scheduledAt.toISOString()}`);
}
