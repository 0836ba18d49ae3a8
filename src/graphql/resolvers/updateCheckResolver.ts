import { Args, Ctx, Query, Resolver, Root, Subscription } from 'type-graphql';

import type { UpdateInfo as UpdateInfoRecord } from '../../services/distribution/updateCheck.js';
import type { Services } from '../../services/index.js';
import type { GraphQLContext } from '../context.js';
import { UpdateCheckArgs, UpdateInfo } from '../types/updateCheck.js';

type SubscribeData = { args: UpdateCheckArgs; context: GraphQLContext };

/**
 * What `checkForUpdates` answers. The HTTP fast path calls it directly for a known update-check
 * document (src/server/fastPath.ts, DirectField), so both paths give the same answer.
 */
export function checkForUpdates(services: Services, args: UpdateCheckArgs) {
  return services.distribution.checkUpdate(args);
}

@Resolver(() => UpdateInfo)
export class UpdateCheckResolver {
  @Query(() => UpdateInfo, {
    nullable: true,
    description:
      'The update this client should install: the highest live, non-deprecated version above currentVersion it is eligible for (null when none).',
  })
  checkForUpdates(@Args(() => UpdateCheckArgs) args: UpdateCheckArgs, @Ctx() ctx: GraphQLContext) {
    return checkForUpdates(ctx.services, args);
  }

  // The service's stream: the current offer first, then each new one for this client. Every
  // subscriber that gets the same offer gets the same object (see services/distribution/offers.ts).
  @Subscription(() => UpdateInfo, {
    subscribe: ({ args, context }: SubscribeData) => context.services.distribution.updateAvailable(args),
    description: 'The current offer (if any), then each new offer for this client, from whichever instance made the change.',
  })
  updateAvailable(@Root() offer: UpdateInfoRecord, @Args(() => UpdateCheckArgs) _args: UpdateCheckArgs): UpdateInfoRecord {
    return offer;
  }
}
