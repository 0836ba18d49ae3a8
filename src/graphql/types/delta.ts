import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import { DELTA_GENERATION_STATUSES, type DeltaGenerationStatus as DeltaGenerationStatusValue } from '../../services/delta/store.js';

/** GraphQL enum derived from the pgEnum's values: one source. */
const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((value) => [value, value])) as { [K in T]: K };

export const DeltaGenerationStatus = enumOf(DELTA_GENERATION_STATUSES);
registerEnumType(DeltaGenerationStatus, {
  name: 'DeltaGenerationStatus',
  description: 'PENDING (queued) → RUNNING → SUCCEEDED (package set) | FAILED (error says which step failed).',
});

@ObjectType({ description: 'The background build of one delta package, from the full package of fromVersion to that of toVersion.' })
export class DeltaGeneration {
  @Field(() => ID)
  id: string;

  @Field(() => DeltaGenerationStatus)
  status: DeltaGenerationStatusValue;

  @Field(() => Int, { description: '0–100; 100 once SUCCEEDED.' })
  progress: number;

  @Field(() => String, { nullable: true, description: 'Why it FAILED, naming the step: reading a full package, generating and verifying, storing.' })
  error: string | null;

  @Field(() => String)
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => ID, { nullable: true })
  extensionId: string | null;

  @Field(() => ID, { nullable: true })
  productId: string | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;
}

@InputType()
export class GenerateDeltaPackageInput {
  @Field(() => String, { description: 'The base version: clients on it get the delta.' })
  fromVersion: string;

  @Field(() => String, { description: 'The version the delta rebuilds (its full package, byte for byte).' })
  toVersion: string;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;
}
