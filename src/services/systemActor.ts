/**
 * The id recorded as creator and approver of what the server does by itself — today the health
 * gate's automatic rollback plans (`createdBy`, `approvedBy`). The nil UUID: no token can carry
 * it as a real user, and it reads as "nobody": a person looking at the plan sees the system did it.
 */
export const SYSTEM_ACTOR_ID = '00000000-0000-0000-0000-000000000000';
