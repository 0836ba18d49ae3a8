import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';

import { callerActor } from '../../services/audit/actor.js';
import type { RollbackPlanRecord } from '../../services/rollback/service.js';
import type { GraphQLContext } from '../context.js';
import { connection } from '../types/common.js';
import { CreateRollbackPlanInput, RollbackPlan, RollbackPlanConnection, RollbackPlansArgs, RollbackPlanStatusArgs, RollbackStep } from '../types/rollback.js';

type SubscribeData = { args: RollbackPlanStatusArgs; context: GraphQLContext };

@Resolver(() => RollbackPlan)
export class RollbackResolver {
  @Query(() => RollbackPlan, { nullable: true })
  rollbackPlan(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.getPlan({ id });
  }

  @Query(() => RollbackPlanConnection, { description: 'Rollback plans, newest first.' })
  async rollbackPlans(@Args(() => RollbackPlansArgs) args: RollbackPlansArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.rollback.listPlans(args));
  }

  @Mutation(() => RollbackPlan, { description: 'Creates a PENDING plan and runs its safety checks (admin).' })
  createRollbackPlan(@Arg('input', () => CreateRollbackPlanInput) input: CreateRollbackPlanInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.createPlan({ ...input, createdBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => RollbackPlan, { description: 'PENDING → APPROVED; refused while a safety check FAILED (admin).' })
  approveRollbackPlan(@Arg('planId', () => ID) planId: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.approvePlan({ id: planId, approvedBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => RollbackPlan, { description: 'APPROVED → EXECUTING exactly once; the steps run in the background (admin).' })
  executeRollbackPlan(@Arg('planId', () => ID) planId: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.executePlan({ id: planId, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => RollbackPlan, { description: 'PENDING or APPROVED → CANCELLED (admin).' })
  cancelRollbackPlan(@Arg('planId', () => ID) planId: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.cancelPlan({ id: planId, cancelledBy: ctx.caller?.id, actor: callerActor(ctx.caller) });
  }

  @Mutation(() => RollbackPlan, { description: 'FAILED → EXECUTING, resuming after the last completed step (admin).' })
  retryRollbackPlan(@Arg('planId', () => ID) planId: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.rollback.retryPlan({ id: planId, actor: callerActor(ctx.caller) });
  }

  @Subscription(() => RollbackPlan, {
    subscribe: ({ args, context }: SubscribeData) => context.services.rollback.planEvents(args),
    description: 'The plan on every status and step change, from whichever instance made it (admin).',
  })
  rollbackPlanStatus(@Root() plan: RollbackPlanRecord, @Args(() => RollbackPlanStatusArgs) _filter: RollbackPlanStatusArgs): RollbackPlanRecord {
    return plan;
  }

  @FieldResolver(() => [RollbackStep])
  steps(@Root() plan: RollbackPlanRecord): RollbackStep[] {
    return plan.steps.map((step) => ({
      ...step,
      startedAt: step.startedAt ? new Date(step.startedAt) : null,
      finishedAt: step.finishedAt ? new Date(step.finishedAt) : null,
    }));
  }
}
