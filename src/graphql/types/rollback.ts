import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import { CHECK_NAMES } from '../../services/rollback/checks.js';
import { STEP_NAMES } from '../../services/rollback/execution.js';
import { ROLLBACK_STATUSES, ROLLBACK_STRATEGIES } from '../../services/rollback/store.js';
import { PageInfo } from './common.js';

/** GraphQL enums derived from the pgEnums' values: one source per enum. */
const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((value) => [value, value])) as { [K in T]: K };

export const RollbackStrategy = enumOf(ROLLBACK_STRATEGIES);
registerEnumType(RollbackStrategy, {
  name: 'RollbackStrategy',
  description: 'IMMEDIATE: the target is offered to every client above it at once. GRADUAL: to a growing share (25 %, 50 %, 100 %, 5 minutes apart). SCHEDULED: immediately, at scheduledAt.',
});

export const RollbackStatus = enumOf(ROLLBACK_STATUSES);
registerEnumType(RollbackStatus, { name: 'RollbackStatus', description: 'PENDING → APPROVED → EXECUTING → COMPLETED | FAILED; PENDING or APPROVED → CANCELLED; FAILED → EXECUTING (retry).' });

export const SafetyCheckStatus = enumOf(['PASSED', 'WARNING', 'FAILED'] as const);
registerEnumType(SafetyCheckStatus, { name: 'SafetyCheckStatus', description: 'FAILED blocks approval and execution; WARNING is for the approver to weigh.' });

export const RollbackStepStatus = enumOf(['PENDING', 'RUNNING', 'COMPLETED', 'FAILED'] as const);
registerEnumType(RollbackStepStatus, { name: 'RollbackStepStatus' });

@ObjectType({ description: `One safety check of a plan. Names: ${CHECK_NAMES.join(', ')}.` })
export class SafetyCheck {
  @Field(() => String)
  name: string;

  @Field(() => SafetyCheckStatus)
  status: keyof typeof SafetyCheckStatus;

  @Field(() => String, { description: 'What was found and, when it is not PASSED, what to do about it.' })
  message: string;
}

@ObjectType({ description: `One step of a plan's execution, in order: ${STEP_NAMES.join(' → ')}.` })
export class RollbackStep {
  @Field(() => String)
  name: string;

  @Field(() => RollbackStepStatus)
  status: keyof typeof RollbackStepStatus;

  @Field(() => Date, { nullable: true, description: 'When the last attempt started.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;

  @Field(() => String, { nullable: true, description: 'What the step did, or why it failed.' })
  message: string | null;

  @Field(() => Int, { description: 'How many times the step was started (above 1 only after a crash or a retry; its work is done once).' })
  attempts: number;
}

@ObjectType({ description: 'A plan to take the clients of an extension or product from a version back to an older one.' })
export class RollbackPlan {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  fromVersion: string;

  @Field(() => String)
  toVersion: string;

  @Field(() => ID, { nullable: true })
  extensionId: string | null;

  @Field(() => ID, { nullable: true })
  productId: string | null;

  @Field(() => String)
  reason: string;

  @Field(() => [SafetyCheck], { description: 'As last evaluated (at creation, approval and execution).' })
  safetyChecks: SafetyCheck[];

  @Field(() => Int, { description: 'Seconds until the last live client runs the target, estimated from the strategy, package size and live clients (docs/rollback.md).' })
  estimatedDowntime: number;

  @Field(() => RollbackStrategy)
  rollbackStrategy: keyof typeof RollbackStrategy;

  @Field(() => Date, { nullable: true })
  scheduledAt: Date | null;

  @Field(() => RollbackStatus)
  status: keyof typeof RollbackStatus;

  @Field(() => ID, { nullable: true })
  createdBy: string | null;

  @Field(() => ID, { nullable: true })
  approvedBy: string | null;

  @Field(() => Date, { nullable: true })
  approvedAt: Date | null;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When execution started (the first time).' })
  executedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When execution ended, COMPLETED or FAILED.' })
  completedAt: Date | null;

  @Field(() => Date, { nullable: true })
  cancelledAt: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the plan FAILED, naming the step.' })
  error: string | null;

  @Field(() => [RollbackStep], { description: 'The execution step log (empty before execution).' })
  steps: RollbackStep[];

  @Field(() => ID, { nullable: true, description: 'The rollback distribution of the target created by the last step.' })
  rollbackDistributionId: string | null;

  @Field(() => Date)
  updatedAt: Date;
}

@ObjectType({ description: 'A page of rollback plans, newest first.' })
export class RollbackPlanConnection {
  @Field(() => [RollbackPlan])
  nodes: RollbackPlan[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@InputType()
export class CreateRollbackPlanInput {
  @Field(() => String, { description: 'The version clients run now.' })
  fromVersion: string;

  @Field(() => String, { description: 'The older version to take them back to.' })
  toVersion: string;

  @Field(() => String)
  reason: string;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => RollbackStrategy, { nullable: true, defaultValue: 'IMMEDIATE' })
  rollbackStrategy?: keyof typeof RollbackStrategy | null;

  @Field(() => Date, { nullable: true, description: 'SCHEDULED only: when it runs (in the future).' })
  scheduledAt?: Date | null;
}

@ArgsType()
export class RollbackPlansArgs {
  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;

  @Field(() => RollbackStatus, { nullable: true })
  status?: keyof typeof RollbackStatus | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page.' })
  after?: string | null;
}

@ArgsType()
export class RollbackPlanStatusArgs {
  @Field(() => ID, { nullable: true, description: 'One plan (its current state is sent first); unset: every plan of the owner.' })
  planId?: string | null;

  @Field(() => ID, { nullable: true })
  extensionId?: string | null;

  @Field(() => ID, { nullable: true })
  productId?: string | null;
}
