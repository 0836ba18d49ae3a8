import { Arg, Args, Ctx, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';

import { callerActor } from '../../services/audit/actor.js';
import type { VersionPublishedEvent, VersionRecord } from '../../services/versions/service.js';
import type { GraphQLContext } from '../context.js';
import { connection } from '../types/common.js';
import {
  ChangelogArgs,
  CreateVersionInput,
  LatestVersionArgs,
  OwnerArgs,
  Version,
  VersionComparison,
  VersionConnection,
  VersionEvent,
  VersionsArgs,
} from '../types/version.js';

type SubscribeData = { args: OwnerArgs; context: GraphQLContext };

@Resolver(() => Version)
export class VersionResolver {
  @Query(() => VersionConnection, { description: 'Versions of an owner, highest precedence first; stable only unless includePrerelease.' })
  async versions(@Args(() => VersionsArgs) args: VersionsArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.versions.listVersions(args));
  }

  @Query(() => Version, { nullable: true, description: 'The highest non-deprecated version; null when there is none.' })
  latestVersion(@Args(() => LatestVersionArgs) args: LatestVersionArgs, @Ctx() ctx: GraphQLContext) {
    return ctx.services.versions.getLatestVersion(args);
  }

  @Query(() => Version, { nullable: true })
  version(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.loaders.version.load(id);
  }

  @Query(() => VersionComparison, { description: 'SemVer precedence of two versions (both must be strict SemVer).' })
  compareVersions(
    @Arg('version1', () => String) version1: string,
    @Arg('version2', () => String) version2: string,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.versions.compareVersions({ version1, version2 });
  }

  @Query(() => String, { description: 'Keep-a-Changelog markdown for (fromVersion, toVersion].' })
  changelog(@Args(() => ChangelogArgs) args: ChangelogArgs, @Ctx() ctx: GraphQLContext) {
    return ctx.services.versions.generateChangelog(args);
  }

  @Mutation(() => Version, { description: 'Publishes a new version (admin).' })
  createVersion(@Arg('input', () => CreateVersionInput) input: CreateVersionInput, @Ctx() ctx: GraphQLContext) {
    const { version, extensionId, productId, changelog, releaseNotes, metadata } = input;
    return ctx.services.versions.createVersion({ version, extensionId, productId, changelog, releaseNotes, metadata, releasedBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => Version, { description: 'Marks a version deprecated so it is never offered again (admin).' })
  deprecateVersion(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.versions.deprecateVersion({ id, reason, deprecatedBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  // Live fields take their events from a service's EventStream (`subscribe`), and resolve
  // from the value the stream selected (`@Root`) — never from their arguments, which only
  // choose the events: that lets the server execute once for every subscriber sharing a
  // selection (see docs/events.md).
  @Subscription(() => Version, {
    subscribe: ({ args, context }: SubscribeData) => context.services.versions.publishedEvents(args),
    description: 'Each version created or deprecated for this owner (both ids optional: unset matches all).',
  })
  versionPublished(@Root() event: VersionPublishedEvent, @Args(() => OwnerArgs) _owner: OwnerArgs): VersionRecord {
    return event.version;
  }

  @Subscription(() => VersionEvent, {
    subscribe: ({ args, context }: SubscribeData) => context.services.versions.publishedEvents(args),
    description: 'Like versionPublished, with what happened (CREATED or DEPRECATED).',
  })
  versionEvents(@Root() event: VersionPublishedEvent, @Args(() => OwnerArgs) _owner: OwnerArgs): VersionPublishedEvent {
    return event;
  }
}
