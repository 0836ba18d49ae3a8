import { createRequire } from 'node:module';

import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  getNullableType,
  GraphQLError,
  isListType,
  visit,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';

import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../services/pagination.js';
import { ErrorCode } from '../services/errors.js';
import { storableTextProblem } from '../services/text.js';

// graphql-query-complexity's ESM build imports graphql's .mjs files, a second copy of graphql
// beside the CommonJS one Apollo and type-graphql use ("another module or realm"): load its
// CommonJS build, which shares theirs.
const { fieldExtensionsEstimator, getComplexity } = createRequire(import.meta.url)(
  'graphql-query-complexity',
) as typeof import('graphql-query-complexity');

/**
 * Limits a hostile client runs into on HTTP and WebSocket alike. Depth and aliases depend on
 * the document only and run as validation rules (`validationRules`); cost and input values
 * depend on the variables too and run once they are known (`checkOperationLimits`). Every
 * breach is BAD_USER_INPUT naming the limit. docs/limits.md explains them to API users.
 */
export const QUERY_LIMITS = {
  /** Deepest selection nesting; the deepest legitimate query here is about 5. */
  maxDepth: 10,
  /** Aliases per operation: stops one request from running a field hundreds of times. */
  maxAliases: 20,
  /**
   * Largest cost of one operation: every field costs 1, and a list multiplies what is selected
   * under it (plus a per-item cost for database rows) by its size (see `LIST_SIZE_ARGUMENTS`).
   * Sized so a 200-item page of files or versions with their usual fields passes, and so the
   * dearest query that passes stays within a few hundred milliseconds (docs/limits.md).
   */
  maxCost: 25_000,
  /** Deepest nesting of an input value (a variable or a literal argument), objects and lists alike. */
  maxInputDepth: 32,
} as const;

/**
 * Arguments that say how many items a field returns: the size assumed when the argument is
 * omitted, the largest the service accepts, what fetching the list costs once (a page is two
 * statements: the rows and their count) and what each item costs before any of its fields (a
 * page item is a row read from the database). Measured on PGlite, one page request costs about
 * as much as 2,500 resolved fields and a 200-row page as much as 5,000 more. Values outside
 * the range count as the largest: the service refuses them with its own message before doing
 * any work. `days` is served from one batched statement for all files, so it weighs by its size only.
 */
export const LIST_SIZE_ARGUMENTS: Readonly<Record<string, { default: number; max: number; fetchCost: number; itemCost: number }>> = {
  first: { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE, fetchCost: 2_500, itemCost: 25 },
  days: { default: 30, max: 366, fetchCost: 0, itemCost: 0 },
};

/** Length assumed for a list whose size no argument bounds (a file's regions, a version's changelog). */
export const UNSIZED_LIST_ESTIMATE = 10;

function listSize(name: string, value: unknown): number {
  const { default: fallback, max } = LIST_SIZE_ARGUMENTS[name]!;
  if (value === undefined || value === null) return fallback;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max ? value : max;
}

/**
 * Cost of one field: 1, plus the list's fetch cost, plus (what is selected under it + the
 * item's own cost) times the list's size. A `nodes` list is one page of a connection, already multiplied by its parent's `first`;
 * introspection is bounded by the schema's own size (and off in production).
 */
const listEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  if (type.name.startsWith('__') || field.name.startsWith('__')) return 1 + childComplexity;
  const sizeArgs = field.args.filter((arg) => arg.name in LIST_SIZE_ARGUMENTS);
  if (sizeArgs.length > 0) {
    let items = 1;
    let fetchCost = 0;
    let itemCost = 0;
    for (const arg of sizeArgs) {
      items *= listSize(arg.name, args[arg.name]);
      fetchCost += LIST_SIZE_ARGUMENTS[arg.name]!.fetchCost;
      itemCost += LIST_SIZE_ARGUMENTS[arg.name]!.itemCost;
    }
    return 1 + fetchCost + items * (childComplexity + itemCost);
  }
  if (isListType(getNullableType(field.type)) && field.name !== 'nodes') return 1 + UNSIZED_LIST_ESTIMATE * childComplexity;
  return 1 + childComplexity;
};

/** `@Field({ complexity })` (type-graphql) overrides the generic estimate where a field sets it. */
const estimators: ComplexityEstimator[] = [fieldExtensionsEstimator(), listEstimator];

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

/** The document-only limits, added to graphql's specified rules on both transports. */
export const validationRules: ValidationRule[] = [
  maxDepthRule({ n: QUERY_LIMITS.maxDepth, exposeLimits: true, flattenFragments: true, ...rejection }),
  maxAliasesRule({ n: QUERY_LIMITS.maxAliases, exposeLimits: true, ...rejection }),
] as ValidationRule[];

function badInput(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code: ErrorCode.BAD_USER_INPUT } });
}

/** `$input.metadata.a`, `$ids[3]`: where in a variable a problem sits (long paths shortened). */
function describePath(path: readonly (string | number)[]): string {
  const shown = path.length > 8 ? [...path.slice(0, 6), '…'] : path;
  return shown.map((part, i) => (i === 0 ? `$${part}` : typeof part === 'number' ? `[${part}]` : `.${part}`)).join('');
}

/**
 * Checks every string (object keys included) of the variables for characters PostgreSQL text
 * cannot hold, and their nesting depth. Iterative: a value nested thousands of levels deep is
 * refused here, before anything recursive (coercion, JSON.stringify, the database driver) sees it.
 */
export function checkVariables(variables: Record<string, unknown>): GraphQLError | null {
  // The usual case, only scalars (an update check's versions and ids), without building the
  // walk below; in the walk's order (last variable first), so the same problem is reported.
  const names = Object.keys(variables);
  let flat = true;
  for (let index = names.length - 1; index >= 0 && flat; index -= 1) {
    const name = names[index]!;
    const value = variables[name];
    if (typeof value === 'string') {
      const problem = storableTextProblem(value);
      if (problem) return badInput(`${describePath([name])} ${problem}`, { variable: name });
    } else if (value !== null && typeof value === 'object') flat = false;
  }
  if (flat) return null;
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = Object.entries(variables).map(([name, value]) => ({
    value,
    path: [name],
    depth: 0,
  }));
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = storableTextProblem(value);
      if (problem) return badInput(`${describePath(path)} ${problem}`, { variable: path[0] });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= QUERY_LIMITS.maxInputDepth) {
      return badInput(`${describePath(path)} nests deeper than ${QUERY_LIMITS.maxInputDepth} levels; input values may nest at most ${QUERY_LIMITS.maxInputDepth} levels`, {
        variable: path[0],
        limit: QUERY_LIMITS.maxInputDepth,
      });
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ value: item, path: [...path, index], depth: depth + 1 }));
    } else {
      for (const [key, item] of Object.entries(value)) {
        const problem = storableTextProblem(key);
        if (problem) return badInput(`${describePath(path)} has a key that ${problem}`, { variable: path[0] });
        stack.push({ value: item, path: [...path, key], depth: depth + 1 });
      }
    }
  }
  return null;
}

/** The same checks for values written inline in the document (`releaseNotes: "a\u0000"`). */
function checkLiterals(document: DocumentNode): GraphQLError | null {
  let found: GraphQLError | null = null;
  let depth = 0;
  let argument = '';
  const fields: string[] = [];
  const where = () => `argument "${[argument, ...fields].join('.')}"`;
  visit(document, {
    Argument: { enter: (node) => void (argument = node.name.value) },
    ObjectField: { enter: (node) => void fields.push(node.name.value), leave: () => void fields.pop() },
    StringValue(node) {
      const problem = storableTextProblem(node.value);
      if (problem && !found) found = badInput(`${where()} ${problem}`, { argument });
    },
    ObjectValue: { enter: () => enterValue(), leave: () => void depth-- },
    ListValue: { enter: () => enterValue(), leave: () => void depth-- },
  });
  function enterValue(): false | undefined {
    if (depth >= QUERY_LIMITS.maxInputDepth) {
      found ??= badInput(`${where()} nests deeper than ${QUERY_LIMITS.maxInputDepth} levels; input values may nest at most ${QUERY_LIMITS.maxInputDepth} levels`, {
        argument,
        limit: QUERY_LIMITS.maxInputDepth,
      });
      return false; // do not descend; leave is not called for a skipped node, so depth stays balanced
    }
    depth++;
    return undefined;
  }
  return found;
}

/**
 * The cost of the operation `operationName` (or the only one) with these variables, as the
 * limit counts it. Throws when the variables do not coerce to the operation's types.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables?: Record<string, unknown> | null,
  operationName?: string | null,
): number {
  return getComplexity({ schema, query: document, variables: variables ?? {}, operationName: operationName ?? undefined, estimators });
}

/**
 * The limits that need the operation's variables, for every transport (Apollo's
 * didResolveOperation, graphql-ws onSubscribe, any fast path): input text and nesting, then the
 * cost computed with the variables. Call after the document validated with `validationRules`.
 * Returns the errors to answer with (empty: run it); never throws.
 */
export function checkOperationLimits(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
  operationName?: string | null,
): GraphQLError[] {
  const inputProblem = checkVariables(variables ?? {}) ?? checkLiterals(document);
  if (inputProblem) return [inputProblem];
  let cost: number;
  try {
    cost = operationCost(schema, document, variables, operationName);
  } catch (error) {
    // Variables that do not coerce (wrong type, unknown enum value) or a runaway fragment graph.
    return [badInput(error instanceof Error ? error.message : String(error))];
  }
  if (cost > QUERY_LIMITS.maxCost) {
    return [
      badInput(
        `Query cost ${cost} exceeds the limit of ${QUERY_LIMITS.maxCost}: each field costs 1, each page 2,500 and each of its items 25 more, and a list multiplies what is selected under it by its size (first, days, …); ask for smaller pages, fewer days or fewer fields`,
        { cost, maxCost: QUERY_LIMITS.maxCost },
      ),
    ];
  }
  return [];
}
