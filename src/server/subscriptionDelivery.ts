import {
  createSourceEventStream,
  execute,
  GraphQLError,
  Kind,
  parse,
  validate,
  visit,
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  type GraphQLSchema,
} from 'graphql';
import type { WebSocket } from 'ws';

import type { Caller } from '../auth/tokens.js';
import { EventStream } from '../events/stream.js';
import type { GraphQLContext } from '../graphql/context.js';

/**
 * Delivery of GraphQL subscriptions over graphql-ws, driven through its `subscribe` hook.
 *
 * A subscription whose source is an EventStream (`events.stream`, see docs/events.md) is
 * served on the fast path: the bus pushes each selected value straight here, subscribers
 * whose stream selected the *same object* and who share a document, the variables that
 * matter to the selection and a role share one execution and one serialised payload per
 * event; each gets it as `{"id":…,"type":"next","payload":…}` written to its socket without
 * graphql-ws's per-message machinery. Any other source (type-graphql `topics:` with a filter,
 * a plain async iterable) runs the standard way: one execution per subscriber per event.
 */

const OPEN = 1;
const MAX_CACHED_DOCUMENTS = 1000;

/** A parsed and validated operation text, shared by every subscription sending that text. */
export interface CachedDocument {
  /** The text it was parsed from (subscribers' copies are swapped for this one). */
  query: string;
  document?: DocumentNode;
  errors?: readonly GraphQLError[];
  /** Small id used in execution keys instead of the whole text. */
  id: number;
  /** Per operation name: variables used inside the selection (not in root field arguments). */
  selectionVariables: Map<string | undefined, string[]>;
}

/** Parses and validates each distinct operation text once (LRU-bounded). */
export class DocumentCache {
  private readonly entries = new Map<string, CachedDocument>();
  private nextId = 1;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly rules: readonly ValidationRule[],
  ) {}

  /** Throws parse errors (GraphQLError) as `parse` does; validation errors are returned. */
  get(query: string): CachedDocument {
    const hit = this.entries.get(query);
    if (hit) {
      this.entries.delete(query);
      this.entries.set(query, hit);
      return hit;
    }
    const document = parse(query, { maxTokens: 5000 });
    const errors = validate(this.schema, document, this.rules);
    const entry: CachedDocument = { query, document: errors.length ? undefined : document, errors: errors.length ? errors : undefined, id: this.nextId++, selectionVariables: new Map() };
    this.entries.set(query, entry);
    if (this.entries.size > MAX_CACHED_DOCUMENTS) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }
}

/** Root fields of an operation (following fragments), whose arguments only choose events. */
function rootFieldNodes(document: DocumentNode, selectionSet: SelectionSetNode, into = new Set<FieldNode>(), seen = new Set<string>()): Set<FieldNode> {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) into.add(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) rootFieldNodes(document, selection.selectionSet, into, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) rootFieldNodes(document, fragment.selectionSet, into, seen);
    }
  }
  return into;
}

/**
 * Variables that can change what the selection returns for a given root value: every usage
 * except in the arguments of root fields (those are consumed by `subscribe`/`select`).
 */
export function selectionVariables(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const roots = rootFieldNodes(document, operation.selectionSet);
  const used = new Set<string>();
  visit(document, {
    Variable(node, _key, parent, _path, ancestors) {
      let argument = false;
      // graphql-js's `ancestors` stops above the parent: the argument (or list, object field…)
      // that holds the variable is `parent`, so it is looked at first.
      const chain = [...ancestors, parent] as readonly (ASTNode | readonly ASTNode[] | undefined)[];
      for (let index = chain.length - 1; index >= 0; index -= 1) {
        const ancestor = chain[index];
        if (ancestor === undefined) continue;
        if (Array.isArray(ancestor) || !('kind' in (ancestor as ASTNode))) continue;
        const kind = (ancestor as ASTNode).kind;
        if (kind === Kind.VARIABLE_DEFINITION) return;
        if (kind === Kind.ARGUMENT) argument = true;
        else if (argument && (kind === Kind.FIELD || kind === Kind.DIRECTIVE)) {
          if (kind === Kind.FIELD && roots.has(ancestor as FieldNode)) return;
          break;
        }
      }
      used.add(node.name.value);
    },
  });
  return [...used].sort();
}

/** Who a subscription belongs to: registered by onSubscribe, read by the subscribe hook. */
export interface SubscriberInfo {
  socket: WebSocket;
  id: string;
  caller: Caller;
  requestId: string;
  cached: CachedDocument;
  operation: OperationDefinitionNode;
  /** The client asked (connectionParams.subscriptionAcks) to be told when the subscription is live. */
  acknowledge: boolean;
  /** A fresh per-execution context (loaders must not outlive one event). */
  createContext(): GraphQLContext;
  /** Shapes a result's errors for this subscriber (codes, request id, logging), as onNext does. */
  shapeResult(result: ExecutionResult, context: GraphQLContext): ExecutionResult;
}

interface Subscriber {
  info: SubscriberInfo;
  key: string;
  args: ExecutionArgs;
  /** Set while its initial value is being sent: events queue behind it. */
  tail: Promise<void> | undefined;
}

/** One execution for one (event, value, key): its serialised payload, or the raw result when it has errors. */
type Settled = { json: string } | { result: ExecutionResult; context: GraphQLContext };
type Shared = Settled | Promise<Settled>;

export class SubscriptionDelivery {
  private readonly subscribers = new WeakMap<ExecutionArgs, SubscriberInfo>();

  /** Called from onSubscribe with the ExecutionArgs it returns. */
  register(args: ExecutionArgs, info: SubscriberInfo): void {
    this.subscribers.set(args, info);
  }

  /** graphql-ws's `subscribe` hook. */
  async subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source as ExecutionResult;
    const info = this.subscribers.get(args);
    if (info && source instanceof EventStream) {
      const iterator = this.attach(source as EventStream<never, unknown>, args, info);
      acknowledge(info);
      return iterator;
    }
    if (info) acknowledge(info);
    return mapEvents(source as AsyncIterable<unknown>, (payload) => execute({ ...args, rootValue: payload }));
  }

  private attach(stream: EventStream<never, unknown>, args: ExecutionArgs, info: SubscriberInfo): AsyncIterableIterator<ExecutionResult> {
    const { cached, operation, caller } = info;
    let names = cached.selectionVariables.get(args.operationName ?? undefined);
    if (!names) {
      names = selectionVariables(cached.document!, operation);
      cached.selectionVariables.set(args.operationName ?? undefined, names);
    }
    const variables = args.variableValues ?? {};
    const relevant = names.length === 0 ? '' : JSON.stringify(names.map((name) => variables[name] ?? null));
    const key = `${cached.id}\u0000${args.operationName ?? ''}\u0000${caller.role}\u0000${relevant}`;
    // Executions make their own context; the one made for set-up (loaders, a child logger)
    // would otherwise live as long as the subscription.
    const subscriber: Subscriber = { info, key, args: { ...args, contextValue: undefined }, tail: undefined };
    args.contextValue = undefined;

    let finish: () => void = () => {};
    const finished = new Promise<IteratorResult<ExecutionResult>>((resolve) => (finish = () => resolve({ value: undefined, done: true })));
    const initial = stream.attach({
      push: (value, scratch) => this.deliver(subscriber, value, scratch),
      end: () => finish(),
    });
    if (initial) {
      const tail: Promise<void> = initial
        .then(
          (value) => (value === undefined ? undefined : this.sendOwn(subscriber, value)),
          (error: unknown) => this.sendOwnResult(subscriber, { errors: [asGraphQLError(error)] }),
        )
        .finally(() => {
          if (subscriber.tail === tail) subscriber.tail = undefined;
        });
      subscriber.tail = tail;
    }
    // graphql-ws iterates this until it ends, and calls return() when the client completes
    // or disconnects; values never pass through it.
    return {
      next: () => finished,
      return: async () => {
        stream.end();
        finish();
        return { value: undefined, done: true };
      },
      throw: async (error: unknown) => {
        stream.end();
        finish();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * One event's value for one subscriber: executed once per (key, value) within that event.
   * Returns a promise while that execution runs (the bus awaits a batch of them).
   */
  private deliver(subscriber: Subscriber, value: unknown, scratch: Map<unknown, unknown>): void | Promise<void> {
    let byValue = scratch.get(subscriber.key) as Map<unknown, Shared> | undefined;
    if (!byValue) {
      byValue = new Map();
      scratch.set(subscriber.key, byValue);
    }
    let shared = byValue.get(value);
    if (shared === undefined) {
      shared = this.executeShared(subscriber, value);
      byValue.set(value, shared);
      if (shared instanceof Promise) void shared.then((settled) => byValue.set(value, settled), () => {});
    }
    if (subscriber.tail) {
      // Its initial value is still on the way: this event goes after it.
      const ready = shared;
      const tail: Promise<void> = subscriber.tail
        .then(() => ready)
        .then((settled) => this.sendShared(subscriber, settled))
        .catch(() => {})
        .finally(() => {
          if (subscriber.tail === tail) subscriber.tail = undefined;
        });
      subscriber.tail = tail;
      return undefined;
    }
    if (shared instanceof Promise) return shared.then((settled) => this.sendShared(subscriber, settled));
    this.sendShared(subscriber, shared);
    return undefined;
  }

  private executeShared(subscriber: Subscriber, value: unknown): Shared {
    const context = subscriber.info.createContext();
    const toShared = (result: ExecutionResult): Settled =>
      result.errors?.length ? { result, context } : { json: JSON.stringify(result) };
    try {
      const result = execute({ ...subscriber.args, rootValue: value, contextValue: context });
      return result instanceof Promise ? result.then(toShared, (error: unknown) => toShared({ errors: [asGraphQLError(error)] })) : toShared(result);
    } catch (error) {
      return toShared({ errors: [asGraphQLError(error)] });
    }
  }

  private sendShared(subscriber: Subscriber, shared: Settled): void {
    if ('json' in shared) this.write(subscriber, shared.json);
    else this.sendOwnResult(subscriber, shared.result, shared.context);
  }

  /** A value only this subscriber gets (its initial value): executed for it alone. */
  private async sendOwn(subscriber: Subscriber, value: unknown): Promise<void> {
    const context = subscriber.info.createContext();
    let result: ExecutionResult;
    try {
      result = await execute({ ...subscriber.args, rootValue: value, contextValue: context });
    } catch (error) {
      result = { errors: [asGraphQLError(error)] };
    }
    this.sendOwnResult(subscriber, result, context);
  }

  private sendOwnResult(subscriber: Subscriber, result: ExecutionResult, context = subscriber.info.createContext()): void {
    const shaped = result.errors?.length ? subscriber.info.shapeResult(result, context) : result;
    this.write(subscriber, JSON.stringify(shaped));
  }

  private write(subscriber: Subscriber, payloadJson: string): void {
    const { socket, id } = subscriber.info;
    if (socket.readyState !== OPEN) return;
    socket.send(`{"id":${JSON.stringify(id)},"type":"next","payload":${payloadJson}}`);
  }
}

function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  const original = error instanceof Error ? error : new Error(String(error));
  return new GraphQLError(original.message, { originalError: original });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof Object(value)[Symbol.asyncIterator] === 'function';
}

/** The standard path: each event executed for this one subscriber. return() ends the source at once. */
function mapEvents<T>(source: AsyncIterable<unknown>, map: (payload: unknown) => T | Promise<T>): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  return {
    async next() {
      const step = await iterator.next();
      return step.done ? { value: undefined, done: true } : { value: await map(step.value), done: false };
    },
    async return() {
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      await iterator.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * graphql-ws has no "subscribed" message: a client cannot tell when an event published now would
 * reach it. A client that asks (connectionParams `{ subscriptionAcks: true }`) gets a protocol
 * ping `{ "type": "ping", "payload": { "subscribed": "<id>" } }` once the subscription listens —
 * a ping is part of the protocol, so any graphql-ws client copes (it answers with a pong).
 */
function acknowledge(info: SubscriberInfo): void {
  if (!info.acknowledge || info.socket.readyState !== info.socket.OPEN) return;
  info.socket.send(JSON.stringify({ type: 'ping', payload: { subscribed: info.id } }));
}
