import type { ServerResponse } from 'node:http';

import {
  getNamedType,
  getNullableType,
  getOperationAST,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  GraphQLBoolean,
  GraphQLError,
  GraphQLID,
  GraphQLString,
  Kind,
  parse,
  specifiedRules,
  typeFromAST,
  validate,
  valueFromAST,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLInputType,
  type GraphQLLeafType,
  type GraphQLSchema,
  type OperationDefinitionNode,
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
  /**
   * Root fields answered without executing the document (see DirectField): the update check,
   * which clients send at very high volume with the same few answers.
   */
  directFields?: Record<string, DirectField>;
}

/**
 * A root field the fast path may answer straight from its service: called with the field's
 * arguments coerced as graphql-js coerces them, it must return exactly what the field's
 * resolver returns (the resolver calls the same function), and the fields of its object type
 * must be plain properties of that value (no field resolvers). Returning the same object for
 * the same answer (a memo) lets the serialised response be reused.
 */
export type DirectField = (args: Record<string, unknown>) => unknown;

/** A serialised response, kept per answer object. */
interface Answer {
  text: string;
  bytes: number;
}

/** How one variable of a directly answered document is checked per request. */
interface DirectVariable {
  name: string;
  /** The only JavaScript type a value may have to be taken here (String and ID: string; Boolean: boolean). */
  jsType: 'string' | 'boolean';
  nonNull: boolean;
  /** The variable's own default (already coerced), used when the request leaves it out. */
  defaultValue?: { value: unknown };
}

/** One argument of the direct field: a literal (coerced once) or a variable. */
interface DirectArgument {
  name: string;
  variable?: string;
  literal?: { value: unknown };
  nonNull: boolean;
  /** The argument's schema default, used when it is absent (or its variable is). */
  defaultValue?: { value: unknown };
}

/** A query of exactly one direct root field selecting leaf fields: answered without execution. */
interface DirectPlan {
  resolve: DirectField;
  responseKey: string;
  nullable: boolean;
  variables: DirectVariable[];
  arguments: DirectArgument[];
  fields: { key: string; name: string; typename?: string; type?: GraphQLLeafType; nonNull: boolean }[];
  /** Serialised responses by answer object (answers are memoised per release state). */
  answers: WeakMap<object, Answer>;
  nullAnswer?: Answer;
}

/** Not taken here: the request goes on to the compiled function (which reports any error). */
const NOT_DIRECT = Symbol('not direct');

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
  /** Set when the document can be answered without executing it (see DirectField). */
  direct?: DirectPlan;
  /** When this text was last moved to the recently-used end of the cache (ms). */
  touchedAt?: number;
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
  private readonly documents = new Map<string, Map<string, Prepared> & { touchedAt?: number }>();
  private readonly compileAfter: number;
  private readonly maxDocuments: number;
  private readonly rules: ValidationRule[];
  /** Some field computes its own cost from its arguments: then every request is costed in full. */
  private readonly fieldComplexity: boolean;
  /** Requests answered here since start (tests check the fast path was taken). */
  handled = 0;
  /** Of those, answered straight from a DirectField, without execution (tests). */
  answeredDirectly = 0;

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
  tryHandle(res: ServerResponse, body: GraphQLRequestBody, accept: string | undefined, caller: Caller, requestId: string): boolean | Promise<boolean> {
    const started = performance.now();
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

    // Synchronous while nothing waits (the update check at steady state): no promise per request.
    if (prepared.direct) {
      const answer = this.answerDirectly(prepared.direct, variables as Record<string, unknown> | undefined);
      if (answer instanceof Promise) return answer.then((settled) => this.answered(res, prepared, settled, variables, caller, requestId, started));
      return this.answered(res, prepared, answer, variables, caller, requestId, started);
    }
    return this.execute(res, prepared, variables, caller, requestId, started);
  }

  /** Sends a direct answer, or runs the compiled function when there is none. */
  private answered(
    res: ServerResponse,
    prepared: Prepared,
    answer: Answer | typeof NOT_DIRECT,
    variables: unknown,
    caller: Caller,
    requestId: string,
    started: number,
  ): boolean | Promise<boolean> {
    if (answer === NOT_DIRECT) return this.execute(res, prepared, variables, caller, requestId, started);
    this.answeredDirectly++;
    this.send(res, prepared, answer.text, answer.bytes, started);
    return true;
  }

  private execute(res: ServerResponse, prepared: Prepared, variables: unknown, caller: Caller, requestId: string, started: number): boolean | Promise<boolean> {
    const context = this.options.createContext(caller, requestId);
    const compiled = prepared.compiled!;
    const result = compiled.query(undefined, context, variables as Record<string, unknown> | undefined);
    if (isPromise(result)) return result.then((settled) => this.finish(res, prepared, settled, context, started));
    return this.finish(res, prepared, result, context, started);
  }

  private finish(res: ServerResponse, prepared: Prepared, result: ExecutionResult, context: GraphQLContext, started: number): boolean {
    const compiled = prepared.compiled!;
    // No data at all: the variables did not coerce. Apollo answers that (status 400, its message).
    if (result.data === undefined) return false;

    const text = result.errors?.length
      ? `${JSON.stringify({ errors: this.formatErrors(result.errors, context), data: result.data })}\n`
      : `${compiled.stringify({ data: result.data })}\n`;
    this.send(res, prepared, text, Buffer.byteLength(text), started);
    return true;
  }

  private send(res: ServerResponse, prepared: Prepared, text: string, bytes: number, started: number): void {
    // Apollo's cache-control plugin marks every response without cache hints no-store.
    res.writeHead(200, { 'cache-control': 'no-store', 'content-type': JSON_CONTENT_TYPE, 'content-length': bytes });
    res.end(text);
    this.handled++;
    prepared.countOperation!.inc();
    prepared.observeLatency!.observe((performance.now() - started) / 1000);
  }

  /**
   * The response of a directly answered document for these variables, or NOT_DIRECT when the
   * compiled function must answer instead: a variable that needs coercing beyond "the right
   * JavaScript type" (or fails to), an answer that is not an object, an error thrown — that
   * path then reports it exactly as it always does.
   */
  private answerDirectly(plan: DirectPlan, variables: Record<string, unknown> | undefined): Answer | typeof NOT_DIRECT | Promise<Answer | typeof NOT_DIRECT> {
    // Variables, coerced as graphql-js's coerceVariableValues would (only the simple cases).
    const values = new Map<string, unknown>();
    for (const variable of plan.variables) {
      const given = variables !== undefined && Object.hasOwn(variables, variable.name) ? variables[variable.name] : undefined;
      if (given === undefined) {
        if (variable.defaultValue) values.set(variable.name, variable.defaultValue.value);
        else if (variable.nonNull) return NOT_DIRECT;
      } else if (given === null) {
        if (variable.nonNull) return NOT_DIRECT;
        values.set(variable.name, null);
      } else if (typeof given === variable.jsType) values.set(variable.name, given);
      else return NOT_DIRECT;
    }
    // Arguments, as graphql-js's getArgumentValues builds them.
    const args: Record<string, unknown> = {};
    for (const argument of plan.arguments) {
      let value: unknown;
      let present = false;
      if (argument.literal) {
        value = argument.literal.value;
        present = true;
      } else if (argument.variable !== undefined && values.has(argument.variable)) {
        value = values.get(argument.variable);
        present = true;
      }
      if (!present) {
        if (argument.defaultValue) args[argument.name] = argument.defaultValue.value;
        else if (argument.nonNull) return NOT_DIRECT;
        continue;
      }
      if (value === null && argument.nonNull) return NOT_DIRECT;
      args[argument.name] = value;
    }
    let value: unknown;
    try {
      value = plan.resolve(args);
    } catch {
      return NOT_DIRECT;
    }
    if (isPromise(value)) return value.then((resolved) => this.serialise(plan, resolved), () => NOT_DIRECT);
    return this.serialise(plan, value);
  }

  /** The response bytes for an answer: built once per answer object, then reused. */
  private serialise(plan: DirectPlan, value: unknown): Answer | typeof NOT_DIRECT {
    if (value === null || value === undefined) {
      if (!plan.nullable) return NOT_DIRECT;
      return (plan.nullAnswer ??= answerOf({ data: { [plan.responseKey]: null } }));
    }
    if (typeof value !== 'object') return NOT_DIRECT;
    const cached = plan.answers.get(value);
    if (cached) return cached;
    const record = value as Record<string, unknown>;
    const object: Record<string, unknown> = {};
    for (const field of plan.fields) {
      if (field.typename !== undefined) {
        object[field.key] = field.typename;
        continue;
      }
      const raw = record[field.name];
      if (raw === null || raw === undefined) {
        if (field.nonNull) return NOT_DIRECT; // an error graphql-js words itself
        object[field.key] = null;
        continue;
      }
      try {
        object[field.key] = field.type!.serialize(raw);
      } catch {
        return NOT_DIRECT;
      }
    }
    const answer = answerOf({ data: { [plan.responseKey]: object } });
    plan.answers.set(value, answer);
    return answer;
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
      // Least recently used goes first: re-inserting moves this text to the end — at most once
      // a second per text, since a hot text would otherwise be moved on every request.
      const now = Date.now();
      if (byName.touchedAt === undefined || now - byName.touchedAt >= 1000) {
        byName.touchedAt = now;
        this.documents.delete(query);
        this.documents.set(query, byName);
      }
    } else {
      if (this.documents.size >= this.maxDocuments) {
        this.documents.delete(this.documents.keys().next().value!);
      }
      byName = new Map<string, Prepared>();
      this.documents.set(query, byName!);
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
    prepared.countOperation = metrics.operationCounter(label, 'query', 'http');
    prepared.observeLatency = metrics.latency.labels(label, 'query');
    prepared.direct = this.directPlan(document, operation);
    prepared.compiled = compiled;
  }

  /**
   * A DirectPlan when the operation is exactly one direct root field (no directives, fragments
   * or arguments inside) selecting leaf fields of one object type, and every variable is a
   * String, ID or Boolean; otherwise undefined (the compiled function answers).
   */
  private directPlan(document: DocumentNode, operation: OperationDefinitionNode): DirectPlan | undefined {
    const { directFields, schema } = this.options;
    if (!directFields || document.definitions.length !== 1 || operation.directives?.length) return undefined;
    const [root, ...others] = operation.selectionSet.selections;
    if (!root || others.length > 0 || root.kind !== Kind.FIELD || root.directives?.length) return undefined;
    const resolve = Object.hasOwn(directFields, root.name.value) ? directFields[root.name.value] : undefined;
    const field = schema.getQueryType()?.getFields()[root.name.value];
    if (!resolve || !field || !root.selectionSet) return undefined;
    const objectType = getNullableType(field.type);
    if (!isObjectType(objectType)) return undefined;

    const variables: DirectVariable[] = [];
    for (const definition of operation.variableDefinitions ?? []) {
      if (definition.directives?.length) return undefined;
      const type = typeFromAST(schema, definition.type);
      if (!type) return undefined;
      const named = getNullableType(type);
      const jsType = named === GraphQLString || named === GraphQLID ? 'string' : named === GraphQLBoolean ? 'boolean' : undefined;
      if (!jsType) return undefined;
      const variable: DirectVariable = { name: definition.variable.name.value, jsType, nonNull: isNonNullType(type) };
      if (definition.defaultValue) {
        const value = valueFromAST(definition.defaultValue, type as GraphQLInputType);
        if (value === undefined) return undefined;
        variable.defaultValue = { value };
      }
      variables.push(variable);
    }
    const argumentNodes = new Map((root.arguments ?? []).map((node) => [node.name.value, node.value]));
    const args: DirectArgument[] = [];
    for (const definition of field.args) {
      const argument: DirectArgument = { name: definition.name, nonNull: isNonNullType(definition.type) };
      if (definition.defaultValue !== undefined) argument.defaultValue = { value: definition.defaultValue };
      const node = argumentNodes.get(definition.name);
      if (node?.kind === Kind.VARIABLE) argument.variable = node.name.value;
      else if (node) {
        if (containsVariable(node)) return undefined;
        const value = valueFromAST(node, definition.type);
        if (value === undefined) return undefined;
        argument.literal = { value };
      }
      args.push(argument);
    }

    const fields: DirectPlan['fields'] = [];
    const typeFields = objectType.getFields();
    for (const selection of root.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD || selection.directives?.length || selection.arguments?.length || selection.selectionSet) return undefined;
      const key = (selection as FieldNode).alias?.value ?? selection.name.value;
      if (selection.name.value === '__typename') {
        fields.push({ key, name: '__typename', typename: objectType.name, nonNull: true });
        continue;
      }
      const fieldDefinition = typeFields[selection.name.value];
      if (!fieldDefinition) return undefined;
      const type = getNullableType(fieldDefinition.type);
      if (isListType(type) || !isLeafType(getNamedType(type))) return undefined;
      fields.push({ key, name: selection.name.value, type: type as GraphQLLeafType, nonNull: isNonNullType(fieldDefinition.type) });
    }
    return {
      resolve,
      responseKey: root.alias?.value ?? root.name.value,
      nullable: !isNonNullType(field.type),
      variables,
      arguments: args,
      fields,
      answers: new WeakMap(),
    };
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

function answerOf(response: unknown): Answer {
  const text = `${JSON.stringify(response)}\n`;
  return { text, bytes: Buffer.byteLength(text) };
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}

export type { ExecutionResult };
