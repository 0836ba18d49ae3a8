import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';

import { callerActor } from '../../services/audit/actor.js';
import type { DeltaGenerationRecord } from '../../services/delta/service.js';
import type { GraphQLContext } from '../context.js';
import { DeltaGeneration, GenerateDeltaPackageInput } from '../types/delta.js';
import { UpdatePackage } from '../types/distribution.js';

type SubscribeData = { args: { id: string }; context: GraphQLContext };

@Resolver(() => DeltaGeneration)
export class DeltaResolver {
  @Query(() => DeltaGeneration, { nullable: true, description: 'A delta generation; null when unknown (admin).' })
  deltaGeneration(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.delta.getGeneration({ id });
  }

  @Mutation(() => DeltaGeneration, {
    description:
      'Builds the delta package fromVersion → toVersion from their full packages in the background, verified to rebuild the target byte for byte; answers at once (PENDING), or with the running generation of the same pair (admin).',
  })
  generateDeltaPackage(@Arg('input', () => GenerateDeltaPackageInput) input: GenerateDeltaPackageInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.delta.requestGeneration({ ...input, createdBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Subscription(() => DeltaGeneration, {
    subscribe: ({ args, context }: SubscribeData) => context.services.delta.generationEvents({ id: args.id }),
    description: 'The generation now, then on every change (status, progress in steps of 5) from whichever instance runs it (admin).',
  })
  deltaGenerationProgress(@Root() generation: DeltaGenerationRecord, @Arg('id', () => ID) _id: string): DeltaGenerationRecord {
    return generation;
  }

  @FieldResolver(() => UpdatePackage, { nullable: true, description: 'The delta package, once SUCCEEDED.' })
  package(@Root() generation: DeltaGenerationRecord, @Ctx() ctx: GraphQLContext) {
    return generation.packageId ? ctx.loaders.updatePackage.load(generation.packageId) : null;
  }
}
