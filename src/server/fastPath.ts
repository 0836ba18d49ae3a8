import type { ServerResponse } from 'node:http';

import {
  getOperationAST,
  isObjectType,
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
  visit,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Logger } from 'pino';

import type { Caller } from '../auth/tokens.js';
import type { GraphQLContext } from '../graphql/context.js';
import { formatError } from '../graphql/errors.js';
import { checkOperationLimits, checkVariables, LIST_SIZE_ARGUMENTS } from '../graphql/limits.js';
import { assertAccess, PERMISSIONS, type Access } from '../graphql/permissions.js';
import { DomainError, ErrorCode } from '../services/errors.js';
import { Metrics } from './metrics.js';

/**
 * A fast path in front of Apollo for the queries clients send over and over (update checks,
 * latestVersion, compareVersions): the document is parsed, validated (the same rules and
 * limits as Apollo) and compiled with graphql-jit once per query text, then each request only
 * checks access, runs the compiled function and writes the JSON.
 *
 * It keeps every rule Apollo's path keeps: the caller is authenticated before this runs
 * (graphqlHttp.ts); root fields are checked against the same PERMISSIONS table shield is
 * built from; validation, depth and alias limits are the same rules, and cost and input limits
 * the same `checkOperationLimits`; errors go through
 * the same `formatError`; metrics and error logs are the same. Whatever it is not sure to
 * answer exactly as Apollo would — a document seen for the first time, an invalid one, a
 * mutation or subscription, introspection, a denied field, a variable that does not coerce,
 * an unusual Accept header, persisted queries — it leaves to Apollo (returns false).
 *
 * Why graphql-jit: Apollo's pipeline alone serves 0.15× a raw node:http server here, plain
 * graphql-js with cached parse/validate 0.39×, graphql-jit 0.68× (docs/STACK measurements).
 */

export interface FastPathOptions {
  /**
   * The executable schema *without* graphql-shield: shield wraps every field in an async
   * rule, which is what makes execution slow. Access is checked here per root field instead,
   * from PERMISSIONS — the table shield's rules are generated from (object types are `allow`).
   */
  schema: GraphQLSchema;
  /** Limits added to graphql-js's specified rules (the same list Apollo validates with). */
  validationRules: readonly ValidationRule[];
  isProduction: boolean;
  metrics: Metrics;
  log: Logger;
  createContext(caller: Caller, requestId: string): GraphQLContext;
  /**
   * A document is compiled the `compileAfter`-th time its text is seen (default 2): a query sent
   * once (dashboards, scripts) costs no compilation, and a client cannot make the server compile
   * a new document per request.
   */
  compileAfter?: number;
  /** Most documents remembered (least recently used dropped first; default 500). */
  maxDocuments?: number;
}

/** What the fast path knows of one query text (+ operation name). */
interface Prepared {
  seen: number;
  /** Set once compiled; undefined while cold. */
  compiled?: CompiledQuery;
  /** Never handled here (invalid, not a query, introspection, no access rule…): Apollo answers. */
  apolloOnly?: boolean;
  rootFields?: { name: string; access: Access | undefined }[];
  /** Kept when the operation has variables: its cost and inputs are checked per request. */
  document?: DocumentNode;
  /**
   * The variables cannot change the cost (no list size or @skip/@include given by a variable):
   * once one request passed the full check, later ones only need their variables' input check.
   */
  costFixed?: boolean;
  costPassed?: boolean;
  countOperation?: { inc(): void };
  observeLatency?: { observe(seconds: number): void };
}

export interface GraphQLRequestBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export class GraphQLFastPath {
  /** query text → operation name ('' for none) → what is known of it. */
  private readonly documents = new Map<string, Map<string, Prepared>>();
  private readonly compileAfter: number;
  private readonly maxDocuments: number;
  private readonly rules: ValidationRule[];
  /** Some field computes its own cost from its arguments: then every request is costed in full. */
  private readonly fieldComplexity: boolean;
  /** Requests answered here since start (tests check the fast path was taken). */
  handled = 0;

  constructor(private readonly options: FastPathOptions) {
    this.compileAfter = Math.max(1, options.compileAfter ?? 2);
    this.maxDocuments = options.maxDocuments ?? 500;
    this.rules = [...specifiedRules, ...options.validationRules];
    this.fieldComplexity = Object.values(options.schema.getTypeMap()).some(
      (type) => isObjectType(type) && Object.values(type.getFields()).some((field) => field.extensions?.complexity !== undefined),
    );
  }

  /**
   * Answers the request when the document is known, compiled and allowed for this caller;
   * resolves false (nothing written) when Apollo must answer instead.
   */
  async tryHandle(res: ServerResponse, body: GraphQLRequestBody, accept: string | undefined, caller: Caller, requestId: string): Promise<boolean> {
    const started = process.hrtime.bigint();
    const { query } = body;
    if (typeof query !== 'string' || body.extensions !== undefined || !acceptsJson(accept)) return false;
    const operationName = body.operationName ?? '';
    if (typeof operationName !== 'string') return false;
    const variables = body.variables ?? undefined;
    if (variables !== undefined && (variables === null || typeof variables !== 'object' || Array.isArray(variables))) return false;

    const prepared = this.lookup(query, operationName);
    if (prepared.apolloOnly) return false;
    if (!prepared.compiled) {
      if (++prepared.seen < this.compileAfter) return false;
      this.prepare(prepared, query, operationName);
      if (!prepared.compiled) return false;
    }
    for (const field of prepared.rootFields!) {
      try {
        assertAccess(caller, field.access, field.name);
      } catch {
        return false; // Apollo (shield) reports the denial in its usual shape
      }
    }
    // Cost and input limits depend on the variables: over them, Apollo answers the refusal.
    if (prepared.document) {
      if (prepared.costPassed) {
        // Same document, a cost its variables cannot change: only their text and nesting are new.
        if (variables !== undefined && checkVariables(variables as Record<string, unknown>)) return false;
      } else {
        if (checkOperationLimits(this.options.schema, prepared.document, variables as Record<string, unknown> | undefined, operationName || undefined).length > 0) {
          return false;
        }
        if (prepared.costFixed) prepared.costPassed = true;
      }
    }

    const context = this.options.createContext(caller, requestId);
    const compiled = prepared.compiled!;
    let result = compiled.query(undefined, context, variables as Record<string, unknown> | undefined);
    if (isPromise(result)) result = await result;
    // No data at all: the variables did not coerce. Apollo answers that (status 400, its message).
    if (result.data === undefined) return false;

    const text = result.errors?.length
      ? `${JSON.stringify({ errors: this.formatErrors(result.errors, context), data: result.data })}\n`
      : `${compiled.stringify({ data: result.data })}\n`;
    // Apollo's cache-control plugin marks every response without cache hints no-store.
    res.writeHead(200, { 'cache-control': 'no-store', 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    this.handled++;
    prepared.countOperation!.inc();
    prepared.observeLatency!.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  }

  /** How many documents are compiled (tests and metrics). */
  get compiledCount(): number {
    let count = 0;
    for (const byName of this.documents.values()) for (const prepared of byName.values()) if (prepared.compiled) count++;
    return count;
  }

  private lookup(query: string, operationName: string): Prepared {
    let byName = this.documents.get(query);
    if (byName) {
      // Least recently used goes first: re-inserting moves this text to the end.
      this.documents.delete(query);
      this.documents.set(query, byName);
    } else {
      if (this.documents.size >= this.maxDocuments) {
        this.documents.delete(this.documents.keys().next().value!);
      }
      byName = new Map();
      this.documents.set(query, byName);
    }
    let prepared = byName.get(operationName);
    if (!prepared) {
      prepared = { seen: 0 };
      byName.set(operationName, prepared);
    }
    return prepared;
  }

  /** Parses, validates and compiles; marks the document Apollo-only when any step says so. */
  private prepare(prepared: Prepared, query: string, operationName: string): void {
    const { schema, metrics } = this.options;
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch {
      prepared.apolloOnly = true;
      return;
    }
    const operation = getOperationAST(document, operationName || undefined);
    if (!operation || operation.operation !== 'query' || validate(schema, document, this.rules).length > 0) {
      prepared.apolloOnly = true;
      return;
    }
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    // Without variables the cost and inputs are those of the text: checked once, here.
    if (operation.variableDefinitions?.length) {
      prepared.document = document;
      prepared.costFixed = !this.fieldComplexity && !costDependsOnVariables(document);
    }
    else if (checkOperationLimits(schema, document, undefined, operationName || undefined).length > 0) {
      prepared.apolloOnly = true;
      return;
    }
    const names = rootFieldNames(operation.selectionSet, fragments);
    // Introspection follows Apollo's own switch (off in production): leave it to Apollo.
    if (names.some((name) => name.startsWith('__') && name !== '__typename')) {
      prepared.apolloOnly = true;
      return;
    }
    let compiled: CompiledQuery | ExecutionResult;
    try {
      compiled = compileQuery(schema, document, operationName || undefined, {
        // Errors carry no capture of a JIT stack (it would only show generated code).
        disablingCapturingStackErrors: this.options.isProduction,
      });
    } catch (error) {
      this.options.log.warn({ err: error, operationName }, 'graphql-jit could not compile a document; Apollo answers it');
      prepared.apolloOnly = true;
      return;
    }
    if (!isCompiledQuery(compiled)) {
      prepared.apolloOnly = true;
      return;
    }
    const label = metrics.operationLabel(operation);
    prepared.rootFields = names
      .filter((name) => name !== '__typename')
      .map((name) => ({ name, access: PERMISSIONS.Query[name] }));
    prepared.countOperation = metrics.operations.labels(label, 'query', 'http');
    prepared.observeLatency = metrics.latency.labels(label, 'query');
    prepared.compiled = compiled;
  }

  /** Apollo's error normalisation (code default, stack outside production) + our formatError. */
  private formatErrors(errors: readonly GraphQLError[], context: GraphQLContext): GraphQLFormattedError[] {
    const { isProduction, metrics } = this.options;
    return errors.map((error) => {
      const original = error.originalError ?? error;
      const extensions: Record<string, unknown> = { ...error.extensions, code: error.extensions.code ?? ErrorCode.INTERNAL_SERVER_ERROR };
      if (!isProduction) extensions.stacktrace = error.stack?.split('\n');
      const formatted = formatError({ ...error.toJSON(), extensions }, error, isProduction);
      const code = String(formatted.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR);
      metrics.errors.inc({ code });
      if (!(original instanceof DomainError) && code === ErrorCode.INTERNAL_SERVER_ERROR) {
        context.log.error({ err: original, path: error.path }, 'operation failed');
        return { ...formatted, extensions: { ...formatted.extensions, requestId: context.requestId } };
      }
      return formatted;
    });
  }
}

/**
 * Whether a variable can change the operation's cost: it sizes a list (`first: $n`, `days: $d`)
 * or decides a directive (`@include(if: $x)`). Other variables (versions, ids, client ids) only
 * reach resolvers, never the cost estimate (no field sets its own `complexity` function).
 */
function costDependsOnVariables(document: DocumentNode): boolean {
  let depends = false;
  visit(document, {
    Argument(node) {
      if (node.name.value in LIST_SIZE_ARGUMENTS && containsVariable(node.value)) depends = true;
    },
    Directive(node) {
      if (node.arguments?.some((argument) => containsVariable(argument.value))) depends = true;
    },
  });
  return depends;
}

function containsVariable(value: ValueNode): boolean {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(containsVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((field) => containsVariable(field.value));
  return false;
}

/** Root field names of an operation, through fragments (skipped ones included: all must be allowed). */
function rootFieldNames(selectionSet: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): string[] {
  const names: string[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) names.push(selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) names.push(...rootFieldNames(selection.selectionSet, fragments, seen));
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      if (fragment) names.push(...rootFieldNames(fragment.selectionSet, fragments, seen));
    }
  }
  return names;
}

/** True when Apollo would answer `application/json` for this Accept header (the common cases only). */
function acceptsJson(accept: string | undefined): boolean {
  if (!accept || accept === '*/*' || accept === 'application/json') return true;
  return false;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}

export type { ExecutionResult };
