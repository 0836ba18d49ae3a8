import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

import { AUDIT_ACTOR_ROLES, AUDIT_OUTCOMES, AUDIT_TARGET_TYPES, AUDITED_OPERATIONS } from '../../services/audit/service.js';
import { JSONObjectScalar } from '../scalars.js';
import { PageInfo } from './common.js';

/** GraphQL enums derived from the service's lists: one source per enum. */
const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((value) => [value, value])) as { [K in T]: K };

export const AuditOutcome = enumOf(AUDIT_OUTCOMES);
registerEnumType(AuditOutcome, {
  name: 'AuditOutcome',
  description: 'SUCCEEDED: the change committed (its entry was written in the same transaction). FAILED: refused or failed; nothing changed.',
});

export const AuditActorRole = enumOf(AUDIT_ACTOR_ROLES);
registerEnumType(AuditActorRole, {
  name: 'AuditActorRole',
  description: 'admin: an API caller (id: the token subject). script: code calling a service directly (id: the user id it passed, or "script"). system: the server itself (id: "system:<name>").',
});

export const AuditTargetType = enumOf(AUDIT_TARGET_TYPES);
registerEnumType(AuditTargetType, { name: 'AuditTargetType', description: 'The kind of object an audited operation changes.' });

@ObjectType({ description: 'Who made an audited change.' })
export class AuditActor {
  @Field(() => String, { description: 'A user id (UUID), "script", or "system:<name>".' })
  id: string;

  @Field(() => AuditActorRole)
  role: keyof typeof AuditActorRole;
}

@ObjectType({ description: 'One admin mutation: who, what, when, on which object, and how it ended.' })
export class AuditEntry {
  @Field(() => ID)
  id: string;

  @Field(() => Date, { description: 'When the entry was written: with the change (SUCCEEDED) or just after the refusal (FAILED).' })
  at: Date;

  @Field(() => AuditActor)
  actor: AuditActor;

  @Field(() => String, { description: `The mutation: ${Object.keys(AUDITED_OPERATIONS).join(', ')}.` })
  operation: string;

  @Field(() => AuditTargetType)
  targetType: keyof typeof AuditTargetType;

  @Field(() => ID, { nullable: true, description: 'The object changed (for a create, the one created); null when a refused create made none.' })
  targetId: string | null;

  @Field(() => AuditOutcome)
  outcome: keyof typeof AuditOutcome;

  @Field(() => String, { nullable: true, description: 'FAILED only: the error code the caller got (BAD_USER_INPUT, NOT_FOUND, CONFLICT, FORBIDDEN, …).' })
  errorCode: string | null;

  @Field(() => String, { nullable: true, description: 'FAILED only: the error message the caller got.' })
  errorMessage: string | null;

  @Field(() => JSONObjectScalar, { description: '`input`: what was asked (secrets redacted, long text and lists cut); plus what the change produced.' })
  details: Record<string, unknown>;
}

@ObjectType({ description: 'A page of audit entries, newest first.' })
export class AuditEntryConnection {
  @Field(() => [AuditEntry])
  nodes: AuditEntry[];

  @Field(() => Int)
  totalCount: number;

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@InputType({ description: 'Narrows the audit log; every field is optional and they combine with AND.' })
export class AuditLogFilter {
  @Field(() => String, { nullable: true, description: 'An actor id: a user id (UUID), "script", or "system:<name>".' })
  actor?: string | null;

  @Field(() => String, { nullable: true, description: 'A mutation name, e.g. "pauseDistribution".' })
  operation?: string | null;

  @Field(() => AuditTargetType, { nullable: true })
  targetType?: keyof typeof AuditTargetType | null;

  @Field(() => ID, { nullable: true })
  targetId?: string | null;

  @Field(() => AuditOutcome, { nullable: true })
  outcome?: keyof typeof AuditOutcome | null;

  @Field(() => Date, { nullable: true, description: 'Entries at or after this time.' })
  since?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Entries before this time.' })
  until?: Date | null;
}

@ArgsType()
export class AuditLogArgs {
  @Field(() => AuditLogFilter, { nullable: true })
  filter?: AuditLogFilter | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1–200 (default 50).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page.' })
  after?: string | null;
}
