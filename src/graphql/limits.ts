import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';

/**
 * Limits a hostile client runs into on HTTP and WebSocket alike (both validate with these
 * rules). Breaches are validation errors, surfaced as BAD_USER_INPUT naming the limit.
 */
export const QUERY_LIMITS = {
  /** Deepest selection nesting; the deepest legitimate query here is about 5. */
  maxDepth: 10,
  /** Aliases per operation: stops one request from running a field hundreds of times. */
  maxAliases: 20,
  /** graphql-armor's cost: objects 2, scalars 1, multiplied by depth. */
  maxCost: 5000,
} as const;

/**
 * graphql-armor rules *throw* their error out of `validate()` by default
 * (`propagateOnRejection`), which Apollo answers with HTTP 500 and graphql-ws with close 4500.
 * Report it as a validation error instead, without the misleading "Syntax Error: " prefix.
 */
const rejection = {
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''))),
  ],
};

export const validationRules: ValidationRule[] = [
  maxDepthRule({ n: QUERY_LIMITS.maxDepth, exposeLimits: true, flattenFragments: true, ...rejection }),
  maxAliasesRule({ n: QUERY_LIMITS.maxAliases, exposeLimits: true, ...rejection }),
  costLimitRule({ maxCost: QUERY_LIMITS.maxCost, exposeLimits: true, ...rejection }),
] as ValidationRule[];
