import { Args, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';

import type { AuditEntryRecord } from '../../services/audit/service.js';
import type { GraphQLContext } from '../context.js';
import { connection } from '../types/common.js';
import { AuditActor, AuditEntry, AuditEntryConnection, AuditLogArgs } from '../types/audit.js';

@Resolver(() => AuditEntry)
export class AuditResolver {
  @Query(() => AuditEntryConnection, { description: 'The audit trail of admin mutations, newest first (admin).' })
  async auditLog(@Args(() => AuditLogArgs) { filter, first, after }: AuditLogArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.audit.listEntries({ ...filter, first, after }));
  }

  @FieldResolver(() => AuditActor)
  actor(@Root() entry: AuditEntryRecord): AuditActor {
    return { id: entry.actorId, role: entry.actorRole };
  }
}
