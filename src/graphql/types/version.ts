import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import { JSONObjectScalar } from '../scalars.js';
import { PageInfo } from './common.js';

export enum ChangeType {
  ADDED = 'ADDED',
  CHANGED = 'CHANGED',
  DEPRECATED = 'DEPRECATED',
  REMOVED = 'REMOVED',
  FIXED = 'FIXED',
  SECURITY = 'SECURITY',
}
registerEnumType(ChangeType, { name: 'ChangeType', description: 'Keep a Changelog section of an entry.' });

export enum VersionDifference {
  MAJOR = 'MAJOR',
  PREMAJOR = 'PREMAJOR',
  MINOR = 'MINOR',
  PREMINOR = 'PREMINOR',
  PATCH = 'PATCH',
  PREPATCH = 'PREPATCH',
  PRERELEASE = 'PRERELEASE',
}
registerEnumType(VersionDifference, { name: 'VersionDifference', description: 'The most significant part two versions differ in (as `semver.diff`).' });

export enum VersionEventAction {
  CREATED = 'CREATED',
  DEPRECATED = 'DEPRECATED',
}
registerEnumType(VersionEventAction, { name: 'VersionEventAction' });

@ObjectType({ description: 'One change of a release, Keep-a-Changelog style.' })
export class ChangelogEntry {
  @Field(() => ChangeType)
  type: ChangeType;

  @Field(() => String)
  description: string;

  @Field(() => String, { nullable: true, description: 'Area of the product the change touches, e.g. "editor".' })
  scope: string | null;

  @Field(() => Boolean, { description: 'True when users or integrations must change something to upgrade.' })
  breaking: boolean;
}

@InputType()
export class ChangelogEntryInput {
  @Field(() => ChangeType)
  type: ChangeType;

  @Field(() => String)
  description: string;

  @Field(() => String, { nullable: true })
  scope?: string | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false })
  breaking?: boolean | null;
}

@ObjectType({ description: 'A released version of an extension or product (strict SemVer 2.0.0).' })
export class Version {
  @Field(() => ID)
  id: string;

  @Field(() => String, { description: 'The full SemVer string as published, build metadata included.' })
  version: string;

  @Field(() => Int, { description: 'SemVer major (versions above 2^31 − 1 are rejected at creation).' })
  major: number;

  @Field(() => Int)
  minor: number;

  @Field(() => Int)
  patch: number;

  @Field(() => String, { nullable: true, description: 'Prerelease tag without the leading "-", e.g. "rc.1".' })
  prerelease: string | null;

  @Field(() => String, { nullable: true, description: 'Build metadata without the leading "+"; ignored in ordering.' })
  build: string | null;

  @Field(() => ID, { nullable: true })
  extensionId: string | null;

  @Field(() => ID, { nullable: true })
  productId: string | null;

  @Field(() => [ChangelogEntry])
  changelog: ChangelogEntry[];

  @Field(() => String, { nullable: true })
  releaseNotes: string | null;

  @Field(() => Boolean, { description: 'True when the version has no prerelease tag.' })
  isStable: boolean;

  @Field(() => Boolean, { description: 'Deprecated versions are never offered as updates.' })
  isDeprecated: boolean;

  @Field(() => String, { nullable: true })
  deprecationReason: string | null;

  @Field(() => Date, { nullable: true })
  deprecatedAt: Date | null;

  @Field(() => Date)
  releasedAt: Date;

  @Field(() => ID, { nullable: true, description: 'User id (token `sub`) of the admin who created it.' })
  releasedBy: string | null;

  @Field(() => JSONObjectScalar)
  metadata: Record<string, unknown>;
}

@ObjectType({ description: 'A page of versions, highest SemVer precedence first.' })
export class VersionConnection {
  @Field(() => [Version])
  nodes: Version[];

  @Field(() => Int, { description: 'How many versions match the filter across all pages.' })
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@ObjectType()
export class VersionComparison {
  @Field(() => String)
  version1: string;

  @Field(() => String)
  version2: string;

  @Field(() => Int, { description: '-1, 0 or 1, as semver.compare(version1, version2).' })
  result: number;

  @Field(() => String, { nullable: true, description: 'The newer version, null when both have equal precedence.' })
  newer: string | null;

  @Field(() => VersionDifference, { nullable: true, description: 'Null when both have equal precedence.' })
  difference: VersionDifference | null;
}

@ObjectType({ description: 'A version was created or deprecated.' })
export class VersionEvent {
  @Field(() => VersionEventAction)
  action: VersionEventAction;

  @Field(() => Version)
  version: Version;
}

@InputType()
export class CreateVersionInput {
  @Field(() => String, { description: 'Strict SemVer 2.0.0, e.g. "1.4.0" or "2.0.0-rc.1".' })
  version: string;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => [ChangelogEntryInput], { nullable: true })
  changelog?: ChangelogEntryInput[] | null;

  @Field(() => String, { nullable: true })
  releaseNotes?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@ArgsType()
export class OwnerArgs {
  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;
}

@ArgsType()
export class VersionsArgs extends OwnerArgs {
  @Field(() => Boolean, { defaultValue: false, description: 'Include prerelease versions.' })
  includePrerelease: boolean;

  @Field(() => Boolean, { defaultValue: true, description: 'Include deprecated versions (marked isDeprecated).' })
  includeDeprecated: boolean;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page.' })
  after?: string | null;
}

@ArgsType()
export class LatestVersionArgs extends OwnerArgs {
  @Field(() => Boolean, { defaultValue: false })
  includePrerelease: boolean;
}

@ArgsType()
export class ChangelogArgs extends OwnerArgs {
  @Field(() => String, { nullable: true, description: 'Exclusive lower bound; omit to start at the first release.' })
  fromVersion?: string | null;

  @Field(() => String, { nullable: true, description: 'Inclusive upper bound; omit for the latest release.' })
  toVersion?: string | null;

  @Field(() => Boolean, { defaultValue: false })
  includePrerelease: boolean;
}
