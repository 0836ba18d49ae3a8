import { ArgsType, Field, ID, ObjectType } from 'type-graphql';

import { ByteCountScalar } from '../scalars.js';

@ObjectType({ description: 'An update offered to a client: the package that takes it from its version to toVersion.' })
export class UpdateInfo {
  @Field(() => String, { description: 'The client’s current version, as it sent it.' })
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => ID)
  packageId: string;

  @Field(() => String, { description: 'Where to download the package.' })
  packageUrl: string;

  @Field(() => ByteCountScalar)
  packageSize: number;

  @Field(() => String, { description: 'sha256 (hex) of the bytes at packageUrl.' })
  checksum: string;

  @Field(() => Boolean, { description: 'True for a delta: it applies only on deltaFromVersion, the client’s version.' })
  isDelta: boolean;

  @Field(() => String, { nullable: true, description: 'The base a delta applies to; null for a full package.' })
  deltaFromVersion: string | null;

  @Field(() => String, { nullable: true, description: 'How a delta is applied; null for a full package.' })
  deltaFormat: string | null;

  @Field(() => String, { nullable: true, description: 'sha256 of what the client holds after applying the package.' })
  targetChecksum: string | null;

  @Field(() => Boolean, { description: 'True when this takes the client back to a lower version (an executed rollback).' })
  isRollback: boolean;

  @Field(() => Boolean, { description: 'True when a mandatory release lies between the client’s version and the offer (inclusive).' })
  mandatory: boolean;

  @Field(() => String, { nullable: true })
  releaseNotes: string | null;

  @Field(() => ID, { description: 'The distribution the offer comes from.' })
  distributionId: string;
}

@ArgsType()
export class UpdateCheckArgs {
  @Field(() => String, { description: 'The version the client runs (strict SemVer).' })
  currentVersion: string;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'A stable id of the installation: decides gradual rollouts. Without it only fully rolled-out updates are offered.',
  })
  clientId?: string | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Offer prerelease versions too.' })
  includePrerelease?: boolean | null;
}
