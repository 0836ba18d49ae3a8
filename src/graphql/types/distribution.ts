import { ArgsType, Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import {
  DISTRIBUTION_STATUSES,
  DISTRIBUTION_STRATEGIES,
  UPDATE_REPORT_STATUSES,
  type DistributionStatus as DistributionStatusValue,
  type DistributionStrategy as DistributionStrategyValue,
  type UpdateReportStatus as UpdateReportStatusValue,
} from '../../services/distribution/store.js';
import { ByteCountScalar, JSONObjectScalar } from '../scalars.js';
import { PageInfo } from './common.js';

/** A GraphQL enum object from a pgEnum's values: the database is the one source of each set. */
function enumOf<const T extends readonly string[]>(values: T): { [K in T[number]]: K } {
  return Object.fromEntries(values.map((value) => [value, value])) as { [K in T[number]]: K };
}

export const DistributionStrategy = enumOf(DISTRIBUTION_STRATEGIES);
registerEnumType(DistributionStrategy, {
  name: 'DistributionStrategy',
  description: 'IMMEDIATE: every client at once. GRADUAL: a share of clients, optionally ramped. SCHEDULED: goes live at scheduledAt.',
});

export const DistributionStatus = enumOf(DISTRIBUTION_STATUSES);
registerEnumType(DistributionStatus, {
  name: 'DistributionStatus',
  description:
    'PENDING: scheduled, not live yet. ACTIVE: live below 100 % (or ramping). PAUSED: not offered, ramp stopped. COMPLETED: live at 100 %. HALTED: stopped by a rollback. CANCELLED: withdrawn.',
});

export const UpdateReportStatus = enumOf(UPDATE_REPORT_STATUSES);
registerEnumType(UpdateReportStatus, { name: 'UpdateReportStatus', description: 'What a client reports about an update.' });

@ObjectType({ description: 'An artifact that takes clients to a version: a full package, or a delta from one base version.' })
export class UpdatePackage {
  @Field(() => ID)
  id: string;

  @Field(() => String, { description: 'Full package: the lowest version it was made for. Delta: its base.' })
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => ID, { nullable: true, description: 'Id of the target version.' })
  toVersionId: string | null;

  @Field(() => ID, { nullable: true })
  extensionId: string | null;

  @Field(() => ID, { nullable: true })
  productId: string | null;

  @Field(() => ID, { nullable: true, description: 'The CDN file holding the artifact.' })
  cdnFileId: string | null;

  @Field(() => String)
  packageUrl: string;

  @Field(() => ByteCountScalar)
  packageSize: number;

  @Field(() => String, { description: 'sha256 (hex) of the bytes at packageUrl.' })
  checksum: string;

  @Field(() => Boolean)
  isDelta: boolean;

  @Field(() => String, { nullable: true, description: 'The version a delta applies to; null for a full package.' })
  deltaFromVersion: string | null;

  @Field(() => String, { nullable: true, description: 'How a delta is applied; null for a full package.' })
  deltaFormat: string | null;

  @Field(() => String, { nullable: true, description: 'sha256 of what the client holds after applying the package.' })
  targetChecksum: string | null;

  @Field(() => String, { nullable: true })
  releaseNotes: string | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => ID, { nullable: true })
  createdBy: string | null;

  @Field(() => Date, { nullable: true, description: 'When a distribution of the package first went live.' })
  distributedAt: Date | null;
}

@ObjectType({ description: 'A page of update packages, highest target version first.' })
export class UpdatePackageConnection {
  @Field(() => [UpdatePackage])
  nodes: UpdatePackage[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@ObjectType({ description: 'One step of a ramp: go to percentage, then hold holdSeconds before the next step.' })
export class RampStep {
  @Field(() => Float)
  percentage: number;

  @Field(() => Int)
  holdSeconds: number;
}

@InputType()
export class RampStepInput {
  @Field(() => Float, { description: '0–100, at most 2 decimals; each step above the previous one.' })
  percentage: number;

  @Field(() => Int, { description: 'Seconds to hold this step before the next one (0 to 90 days).' })
  holdSeconds: number;
}

@ObjectType({ description: 'When client reports pause a distribution and plan a rollback: after minSamples outcomes, once the Wilson lower bound of the failure rate exceeds maxFailureRate.' })
export class HealthGate {
  @Field(() => Int, { description: 'Outcomes (installed + failed + rolled back) needed before the gate may act.' })
  minSamples: number;

  @Field(() => Float, { description: 'Failure rate (0–1, exclusive) the release must be shown to exceed.' })
  maxFailureRate: number;

  @Field(() => Boolean, { description: 'Approve and execute the rollback plan automatically on a breach.' })
  autoExecute: boolean;
}

@ObjectType({ description: 'A gated distribution’s health from client reports (written in batches: a few seconds behind), and what the gate did.' })
export class DistributionHealth {
  @Field(() => ByteCountScalar, { description: 'Outcomes: installed + failed + rolled back (reports, not distinct clients).' })
  samples: number;

  @Field(() => ByteCountScalar, { description: 'Failed + rolled back.' })
  failures: number;

  @Field(() => Float, { nullable: true, description: 'failures / samples; null without samples.' })
  observedFailureRate: number | null;

  @Field(() => Float, { description: 'Wilson score lower bound of the failure rate (one-sided 95 %); 0 without samples.' })
  wilsonLowerBound: number;

  @Field(() => Boolean, { description: 'Whether the numbers now breach the gate (samples ≥ minSamples and the bound above maxFailureRate).' })
  breached: boolean;

  @Field(() => Date, { nullable: true, description: 'When the gate tripped (it acts once); null while it has not.' })
  trippedAt: Date | null;

  @Field(() => String, { nullable: true, description: 'What the gate found and did, with the numbers; says so when there was no version to roll back to.' })
  note: string | null;

  @Field(() => ID, { nullable: true, description: 'The rollback plan the gate created (or found open) for this release.' })
  rollbackPlanId: string | null;
}

@InputType({ description: 'A health gate; fields left out take the defaults (minSamples 50, maxFailureRate 0.05, autoExecute false).' })
export class HealthGateInput {
  @Field(() => Int, { nullable: true, description: 'Whole number ≥ 1 (default 50).' })
  minSamples?: number | null;

  @Field(() => Float, { nullable: true, description: 'Strictly between 0 and 1 (default 0.05).' })
  maxFailureRate?: number | null;

  @Field(() => Boolean, { nullable: true, description: 'Default false: the plan waits for an admin’s approval.' })
  autoExecute?: boolean | null;
}

@ObjectType({ description: 'How a package is offered to clients.' })
export class Distribution {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  packageId: string;

  @Field(() => ID, { nullable: true })
  extensionId: string | null;

  @Field(() => ID, { nullable: true })
  productId: string | null;

  @Field(() => DistributionStrategy)
  strategy: DistributionStrategyValue;

  @Field(() => DistributionStatus)
  status: DistributionStatusValue;

  @Field(() => Float, { description: 'Share of clients offered the package (0–100).' })
  percentage: number;

  @Field(() => Boolean, { description: 'Offers passing over this release are mandatory.' })
  mandatory: boolean;

  @Field(() => Boolean, { description: 'A rollback distribution (offers its target to clients on a higher version).' })
  isRollback: boolean;

  @Field(() => [RampStep], { nullable: true, description: 'The ramp the server advances by itself; null without one.' })
  steps: RampStep[] | null;

  @Field(() => Int, { description: 'Index of the ramp step applied last.' })
  currentStep: number;

  @Field(() => Date, { nullable: true, description: 'When the next ramp step is due; null when none is pending.' })
  nextStepAt: Date | null;

  @Field(() => Date, { nullable: true })
  scheduledAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When it went live.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When it reached 100 %.' })
  completedAt: Date | null;

  @Field(() => Date, { nullable: true })
  pausedAt: Date | null;

  @Field(() => String, { nullable: true, description: 'Why it was cancelled or halted.' })
  statusReason: string | null;

  @Field(() => ID, { nullable: true })
  createdBy: string | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date)
  updatedAt: Date;

  @Field(() => HealthGate, { nullable: true, description: 'Automatic rollback from client reports; null when the distribution has no gate.' })
  healthGate: HealthGate | null;
}

@ObjectType({ description: 'A page of distributions, newest first.' })
export class DistributionConnection {
  @Field(() => [Distribution])
  nodes: Distribution[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@ObjectType({ description: 'Offers made and client reports received for a distribution (counts of reports, not distinct clients).' })
export class DistributionStats {
  /** The distribution these counts belong to (for the daily loader). */
  distributionId: string;

  @Field(() => ByteCountScalar)
  offered: number;

  @Field(() => ByteCountScalar)
  downloaded: number;

  @Field(() => ByteCountScalar)
  installed: number;

  @Field(() => ByteCountScalar)
  failed: number;

  @Field(() => ByteCountScalar)
  rolledBack: number;
}

@ObjectType()
export class DistributionDailyStats {
  @Field(() => String, { description: 'UTC day, YYYY-MM-DD.' })
  date: string;

  @Field(() => ByteCountScalar)
  offered: number;

  @Field(() => ByteCountScalar)
  downloaded: number;

  @Field(() => ByteCountScalar)
  installed: number;

  @Field(() => ByteCountScalar)
  failed: number;

  @Field(() => ByteCountScalar)
  rolledBack: number;
}

@ObjectType({ description: 'Client reports for one version on one UTC day.' })
export class VersionAdoption {
  @Field(() => String)
  version: string;

  @Field(() => ID)
  versionId: string;

  @Field(() => String, { description: 'UTC day, YYYY-MM-DD.' })
  date: string;

  @Field(() => ByteCountScalar)
  downloaded: number;

  @Field(() => ByteCountScalar)
  installed: number;

  @Field(() => ByteCountScalar)
  failed: number;

  @Field(() => ByteCountScalar)
  rolledBack: number;
}

@InputType()
export class CreateUpdatePackageInput {
  @Field(() => String, { description: 'Full package: the lowest version it is for. Delta: its base version.' })
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => String, { nullable: true, description: 'A file inside UPLOAD_DIR to store on the CDN. Give this or cdnFileId.' })
  packagePath?: string | null;

  @Field(() => ID, { nullable: true, description: 'An ACTIVE CDN file already uploaded. Give this or packagePath.' })
  cdnFileId?: string | null;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => Boolean, { defaultValue: false })
  isDelta: boolean;

  @Field(() => String, { nullable: true, description: 'A delta’s base (defaults to fromVersion; must equal it when given).' })
  deltaFromVersion?: string | null;

  @Field(() => String, { nullable: true, description: 'How the delta is applied (deltas only).' })
  deltaFormat?: string | null;

  @Field(() => String, { nullable: true, description: 'sha256 of the file after applying the delta (deltas only).' })
  targetChecksum?: string | null;

  @Field(() => String, { nullable: true })
  releaseNotes?: string | null;
}

@InputType()
export class DistributeUpdateInput {
  @Field(() => ID)
  packageId: string;

  @Field(() => DistributionStrategy)
  strategy: DistributionStrategyValue;

  @Field(() => Float, { nullable: true, description: 'GRADUAL: the share of clients, 0–100 (with steps: their first, may be left out).' })
  percentage?: number | null;

  @Field(() => Date, { nullable: true, description: 'SCHEDULED: when it goes live (in the future).' })
  scheduledAt?: Date | null;

  @Field(() => [RampStepInput], { nullable: true, description: 'A ramp the server advances by itself, e.g. 1 → 5 → 20 → 50 → 100 % with holds.' })
  steps?: RampStepInput[] | null;

  @Field(() => Boolean, { defaultValue: false, description: 'Clients passing over this release must install the offer.' })
  mandatory: boolean;

  @Field(() => HealthGateInput, { nullable: true, description: 'Pause and plan a rollback automatically when client reports show the release failing.' })
  healthGate?: HealthGateInput | null;
}

@ArgsType()
export class UpdatePackagesArgs {
  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => String, { nullable: true, description: 'Only packages leading to this version.' })
  version?: string | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@ArgsType()
export class DistributionsArgs {
  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => DistributionStatus, { nullable: true })
  status?: DistributionStatusValue | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@ArgsType()
export class ReportUpdateStatusArgs {
  @Field(() => String, { description: 'Stable id of the installation (1–200 printable characters).' })
  clientId: string;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => String)
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => UpdateReportStatus)
  status: UpdateReportStatusValue;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Anything useful about the outcome (at most 4 KiB).' })
  details?: Record<string, unknown> | null;
}

@ArgsType()
export class AdoptionArgs {
  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => Int, { defaultValue: 30, description: 'How many UTC days back, today included (1–366).' })
  days: number;
}
