import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';

import { callerActor } from '../../services/audit/actor.js';
import type { CdnFileRecord, CdnInvalidationRecord } from '../../services/cdn/types.js';
import type { GraphQLContext } from '../context.js';
import { connection } from '../types/common.js';
import {
  CdnDailyStats,
  CdnFile,
  CdnFileConnection,
  CdnFilesArgs,
  CdnFileStats,
  CdnInvalidation,
  CdnInvalidationConnection,
  CdnInvalidationsArgs,
  CdnRegionStats,
  UploadCdnFileInput,
} from '../types/cdn.js';

@Resolver(() => CdnFile)
export class CdnFileResolver {
  @Query(() => CdnFile, { nullable: true, description: 'A CDN file; null when unknown (or deleted, unless includeDeleted).' })
  cdnFile(
    @Arg('id', () => ID) id: string,
    @Arg('includeDeleted', () => Boolean, { defaultValue: false, description: 'Also return a DELETED file (with who deleted it and whether force was used).' })
    includeDeleted: boolean,
    @Ctx() ctx: GraphQLContext,
  ) {
    return includeDeleted ? ctx.services.cdn.getFile(id, true) : ctx.loaders.cdnFile.load(id);
  }

  @Query(() => CdnFileConnection, { description: 'CDN files, newest first (ACTIVE unless status says otherwise).' })
  async cdnFiles(@Args(() => CdnFilesArgs) args: CdnFilesArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.cdn.listFiles(args));
  }

  @Mutation(() => CdnFile, { description: 'Stores a file from UPLOAD_DIR on the CDN, in every region (admin).' })
  uploadCdnFile(@Arg('input', () => UploadCdnFileInput) input: UploadCdnFileInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.cdn.uploadFile(input.filePath, input.fileName, input, ctx.caller?.id, callerActor(ctx.caller));
  }

  @Mutation(() => Boolean, {
    description: 'Deletes a file from every region and invalidates its URLs (admin). CONFLICT while update packages point at it, unless force.',
  })
  deleteCdnFile(
    @Arg('id', () => ID) id: string,
    @Arg('force', () => Boolean, { defaultValue: false, description: 'Delete even while update packages point at it (recorded on the file).' }) force: boolean,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.cdn.deleteFile(id, { force, deletedBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @FieldResolver(() => CdnFileStats)
  stats(@Root() file: CdnFileRecord): CdnFileStats {
    return { fileId: file.id, downloads: file.downloadCount, bytesServed: file.bytesServed, lastDownloadAt: file.lastDownloadAt };
  }
}

@Resolver(() => CdnFileStats)
export class CdnFileStatsResolver {
  @FieldResolver(() => [CdnRegionStats], { description: 'Per region, all time.' })
  regions(@Root() stats: CdnFileStats, @Ctx() ctx: GraphQLContext) {
    return ctx.loaders.cdnRegionStats.load(stats.fileId);
  }

  @FieldResolver(() => [CdnDailyStats], { description: 'One entry per UTC day, oldest first, the last `days` days including today (zeros included).' })
  async daily(
    @Root() stats: CdnFileStats,
    @Arg('days', () => Int, { defaultValue: 30, description: '1–366.' }) days: number,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.cdn.lastDays(await ctx.loaders.cdnDailyStats.load(stats.fileId), days);
  }
}

@Resolver(() => CdnInvalidation)
export class CdnInvalidationResolver {
  @Mutation(() => CdnInvalidation, {
    description: "Asks the edge to drop cached copies of paths (default: the file's URLs) and records the request (admin).",
  })
  invalidateCdnCache(
    @Arg('fileId', () => ID) fileId: string,
    @Arg('paths', () => [String], { nullable: true, description: 'URL paths under the CDN base path, each starting with "/"; "*" only at the end.' })
    paths: string[] | null | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.cdn.invalidateCache(fileId, paths, ctx.caller?.id, callerActor(ctx.caller));
  }

  @Query(() => CdnInvalidation, { nullable: true })
  cdnInvalidation(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.cdn.getInvalidation(id);
  }

  @Query(() => CdnInvalidationConnection, { description: 'Invalidation requests, newest first.' })
  async cdnInvalidations(@Args(() => CdnInvalidationsArgs) args: CdnInvalidationsArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.cdn.listInvalidations(args));
  }

  @FieldResolver(() => CdnFile, { nullable: true, description: 'The file, while it is not deleted.' })
  file(@Root() invalidation: CdnInvalidationRecord, @Ctx() ctx: GraphQLContext) {
    return invalidation.fileId ? ctx.loaders.cdnFile.load(invalidation.fileId) : null;
  }
}
