import { Arg, Args, Ctx, FieldResolver, Float, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';

import { callerActor } from '../../services/audit/actor.js';
import type { DistributionRecord } from '../../services/distribution/store.js';
import type { VersionRecord } from '../../services/versions/store.js';
import type { GraphQLContext } from '../context.js';
import { connection } from '../types/common.js';
import {
  AdoptionArgs,
  CreateUpdatePackageInput,
  DistributeUpdateInput,
  Distribution,
  DistributionConnection,
  DistributionDailyStats,
  DistributionHealth,
  DistributionsArgs,
  DistributionStats,
  ReportUpdateStatusArgs,
  UpdatePackage,
  UpdatePackageConnection,
  UpdatePackagesArgs,
  VersionAdoption,
} from '../types/distribution.js';
import { Version } from '../types/version.js';

@Resolver(() => UpdatePackage)
export class UpdatePackageResolver {
  @Query(() => UpdatePackage, { nullable: true, description: 'An update package; null when unknown.' })
  updatePackage(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.loaders.updatePackage.load(id);
  }

  @Query(() => UpdatePackageConnection, { description: 'Update packages, highest target version (SemVer precedence) first.' })
  async updatePackages(@Args(() => UpdatePackagesArgs) args: UpdatePackagesArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.distribution.listUpdatePackages(args));
  }

  @Mutation(() => UpdatePackage, { description: 'Stores an artifact (packagePath in UPLOAD_DIR, or an uploaded cdnFileId) as a full or delta package (admin).' })
  createUpdatePackage(@Arg('input', () => CreateUpdatePackageInput) input: CreateUpdatePackageInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.createUpdatePackage({ ...input, createdBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }
}

@Resolver(() => Version)
export class VersionPackagesResolver {
  @FieldResolver(() => [UpdatePackage], { description: 'Packages leading to this version (full package first).' })
  updatePackages(@Root() version: VersionRecord, @Ctx() ctx: GraphQLContext) {
    return ctx.loaders.versionPackages.load(version.id);
  }
}

@Resolver(() => Distribution)
export class DistributionResolver {
  @Query(() => Distribution, { nullable: true, description: 'A distribution; null when unknown (admin).' })
  distribution(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.getDistribution({ id });
  }

  @Query(() => DistributionConnection, { description: 'Distributions, newest first (admin).' })
  async distributions(@Args(() => DistributionsArgs) args: DistributionsArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.distribution.listDistributions(args));
  }

  @Query(() => [VersionAdoption], { description: 'Client reports per version and UTC day over the last `days` days (admin).' })
  adoption(@Args(() => AdoptionArgs) args: AdoptionArgs, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.getAdoption(args);
  }

  @Mutation(() => Distribution, { description: 'Offers a package to clients: IMMEDIATE, GRADUAL (optionally ramped) or SCHEDULED (admin).' })
  distributeUpdate(@Arg('input', () => DistributeUpdateInput) input: DistributeUpdateInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.distributeUpdate({ ...input, createdBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Distribution, { description: 'Sets the share of clients (0–100); ends a running ramp (admin).' })
  updateDistributionPercentage(@Arg('id', () => ID) id: string, @Arg('percentage', () => Float) percentage: number, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.updateDistributionPercentage({ id, percentage, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Distribution, { description: 'Stops offering the package and stops its ramp (admin).' })
  pauseDistribution(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.pauseDistribution({ id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Distribution, { description: 'Resumes a paused distribution where it stood (admin).' })
  resumeDistribution(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.resumeDistribution({ id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Distribution, { description: 'Withdraws a distribution for good; the package may be distributed again (admin).' })
  cancelDistribution(@Arg('id', () => ID) id: string, @Arg('reason', () => String, { nullable: true }) reason: string | null, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.cancelDistribution({ id, reason, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Boolean, { description: 'A client reports what happened to an update (counted in batches; any authenticated caller).' })
  reportUpdateStatus(@Args(() => ReportUpdateStatusArgs) args: ReportUpdateStatusArgs, @Ctx() ctx: GraphQLContext) {
    return ctx.services.distribution.reportUpdateStatus(args);
  }

  @FieldResolver(() => UpdatePackage, { nullable: true })
  package(@Root() distribution: DistributionRecord, @Ctx() ctx: GraphQLContext) {
    return ctx.loaders.updatePackage.load(distribution.packageId);
  }

  @FieldResolver(() => DistributionHealth, { nullable: true, description: 'The health gate’s view of the client reports, and what it did; null without a gate.' })
  async health(@Root() distribution: DistributionRecord, @Ctx() ctx: GraphQLContext): Promise<DistributionHealth | null> {
    if (!distribution.healthGate) return null;
    return ctx.services.distribution.distributionHealth({ distribution, counts: await ctx.loaders.distributionCounts.load(distribution.id) });
  }

  @FieldResolver(() => DistributionStats, { description: 'Offers and client reports, all time (written in batches: a few seconds behind).' })
  async stats(@Root() distribution: DistributionRecord, @Ctx() ctx: GraphQLContext): Promise<DistributionStats> {
    return { distributionId: distribution.id, ...(await ctx.loaders.distributionCounts.load(distribution.id)) };
  }
}

@Resolver(() => DistributionStats)
export class DistributionStatsResolver {
  @FieldResolver(() => [DistributionDailyStats], { description: 'Per UTC day over the last `days` days, oldest first; days without counts are left out.' })
  async daily(
    @Root() stats: DistributionStats,
    @Arg('days', () => Int, { defaultValue: 30, description: '1–366.' }) days: number,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.distribution.getDailyDistributionCounts({ distributionIds: [stats.distributionId], days }).then((all) => all[0]!);
  }
}
