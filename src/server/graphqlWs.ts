import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import {
  getOperationAST,
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  specifiedRules,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';

import { onTokenExpiry, TokenVerifier, type Caller } from '../auth/tokens.js';
import type { GraphQLContext } from '../graphql/context.js';
import { formatErrors } from '../graphql/errors.js';
import { checkOperationLimits, validationRules } from '../graphql/limits.js';
import { assertAccess, PERMISSIONS } from '../graphql/permissions.js';
import { DomainError, ErrorCode } from '../services/errors.js';
import { Metrics } from './metrics.js';
import { DocumentCache, SubscriptionDelivery, type CachedDocument } from './subscriptionDelivery.js';

export interface GraphQLWsOptions {
  schema: GraphQLSchema;
  wsServer: WebSocketServer;
  verifier: TokenVerifier;
  isProduction: boolean;
  metrics: Metrics;
  log: Logger;
  createContext(caller: Caller, requestId: string): GraphQLContext;
  /**
   * Most subscriptions one socket may hold at once (WS_MAX_SUBSCRIPTIONS, default 100). One
   * more is refused with BAD_USER_INPUT naming the limit; the socket and its other
   * subscriptions carry on.
   */
  maxSubscriptionsPerSocket?: number;
}

export const DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET = 100;

interface SocketState {
  caller?: Caller;
  connectionId: string;
  subscriptions: Set<string>;
  cancelExpiry?: () => void;
  /** connectionParams.subscriptionAcks: tell the client when each subscription is live (see SubscriptionDelivery). */
  acknowledgeSubscriptions: boolean;
}

type Extra = { request: IncomingMessage; state?: SocketState };

/** Close code for a missing, invalid or expired token (graphql-ws treats it as fatal: no retry loop). */
export const UNAUTHENTICATED_CLOSE = CloseCode.Unauthorized;

/** Tags a parse/validation error the way Apollo does on HTTP, so both transports map it alike. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}

/** Root fields an operation selects, following fragments (what permissions are checked against). */
function rootFields(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): string[] {
  const fields: string[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.push(selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fields.push(...rootFields(document, selection.selectionSet, seen));
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find(
        (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) fields.push(...rootFields(document, fragment.selectionSet, seen));
    }
  }
  return fields;
}

/**
 * graphql-ws on the shared WebSocket server. The token is checked once at connection
 * (bad token: close 4401) and the socket is closed when it expires; every operation is
 * parsed, validated with the same limits as HTTP, and authorised per root field before it
 * runs — graphql-shield wraps `resolve`, not `subscribe`, so this is where subscriptions are
 * guarded.
 */
export function serveGraphQLOverWebSocket(options: GraphQLWsOptions) {
  const { schema, verifier, metrics, log, isProduction } = options;
  const maxSubscriptions = options.maxSubscriptionsPerSocket ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET;
  // As on HTTP (Apollo's `introspection: !isProduction`): no schema introspection in production.
  const rules = [...specifiedRules, ...validationRules, ...(isProduction ? [NoSchemaIntrospectionCustomRule] : [])];
  // Introspection fields are governed by the rule above, not by PERMISSIONS.
  const metaFields = new Set(['__typename', '__schema', '__type']);
  const documents = new DocumentCache(schema, rules);
  const delivery = new SubscriptionDelivery();

  /** As on HTTP: internal failures are logged and answered with the request id, and every error returned is counted by code. */
  const shapeResult = (result: ExecutionResult, context: GraphQLContext): ExecutionResult => {
    if (!result.errors?.length) return result;
    const { requestId, log: requestLog } = context;
    for (const error of result.errors) {
      if (!(error.originalError instanceof DomainError)) requestLog.error({ err: error.originalError ?? error, path: error.path }, 'subscription operation failed');
    }
    const errors = formatErrors(result.errors, isProduction).map((error) => {
      const code = String(error.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR);
      metrics.errors.inc({ code });
      return code === ErrorCode.INTERNAL_SERVER_ERROR ? { ...error, extensions: { ...error.extensions, requestId } } : error;
    });
    return { ...result, errors } as unknown as ExecutionResult;
  };

  return useServer<Record<string, unknown> | undefined, Extra>(
    {
      schema,
      onConnect: async (ctx) => {
        const state: SocketState = {
          connectionId: crypto.randomUUID(),
          subscriptions: new Set(),
          acknowledgeSubscriptions: ctx.connectionParams?.subscriptionAcks === true,
        };
        ctx.extra.state = state;
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        try {
          const token = TokenVerifier.bearer(typeof raw === 'string' ? raw : undefined);
          if (!token) throw new DomainError(ErrorCode.UNAUTHENTICATED, 'connectionParams.authorization must be "Bearer <JWT>"');
          state.caller = await verifier.verify(token);
        } catch (error) {
          const reason = error instanceof DomainError ? `UNAUTHENTICATED: ${error.message}` : 'UNAUTHENTICATED';
          ctx.extra.socket.close(UNAUTHENTICATED_CLOSE, Buffer.from(reason).subarray(0, 123).toString());
          return false;
        }
        if (state.caller.expiresAt) {
          // Not one setTimeout: past ~24.8 days it would fire at once and close a valid socket.
          state.cancelExpiry = onTokenExpiry(state.caller.expiresAt, () => ctx.extra.socket.close(UNAUTHENTICATED_CLOSE, 'UNAUTHENTICATED: token expired'));
        }
        metrics.sockets.inc();
        log.debug({ connectionId: state.connectionId, userId: state.caller.id }, 'websocket connected');
        // Nothing reads the upgrade request after this; graphql-ws would keep it (headers,
        // parser state) for as long as the socket lives — a few KB per subscriber.
        (ctx.extra as { request?: IncomingMessage }).request = undefined;
        return true;
      },
      onSubscribe: (ctx, id, payload) => {
        const state = ctx.extra.state!;
        let cached: CachedDocument;
        try {
          cached = documents.get(payload.query);
        } catch (error) {
          return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
        }
        if (cached.errors) return cached.errors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
        const document = cached.document!;
        // graphql-ws keeps the subscribe message for the subscription's lifetime: thousands of
        // subscribers sending the same text then hold one copy of it, not one each.
        (payload as { query: string }).query = cached.query;
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) {
          return [new GraphQLError('Name the operation to run: the document has several or none', { extensions: { code: ErrorCode.BAD_USER_INPUT } })];
        }
        const rootType = operation.operation === 'query' ? 'Query' : operation.operation === 'mutation' ? 'Mutation' : 'Subscription';
        try {
          for (const field of rootFields(document, operation.selectionSet)) {
            if (!metaFields.has(field)) assertAccess(state.caller ?? null, PERMISSIONS[rootType][field], `${rootType}.${field}`);
          }
        } catch (error) {
          return [error as GraphQLError];
        }
        const limitErrors = checkOperationLimits(schema, document, payload.variables, payload.operationName);
        if (limitErrors.length > 0) return limitErrors;
        if (operation.operation === 'subscription' && state.subscriptions.size >= maxSubscriptions) {
          return [
            new GraphQLError(
              `This connection already has ${state.subscriptions.size} subscriptions, the most one WebSocket may hold (WS_MAX_SUBSCRIPTIONS=${maxSubscriptions}): complete one first, or open another connection`,
              { extensions: { code: ErrorCode.BAD_USER_INPUT, limit: maxSubscriptions } },
            ),
          ];
        }
        const requestId = `${state.connectionId}:${id}`;
        if (operation.operation === 'subscription') {
          state.subscriptions.add(id);
          metrics.subscriptions.inc();
        }
        metrics.operations.inc({ operation: metrics.operationLabel(operation), type: operation.operation, transport: 'ws' });
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: options.createContext(state.caller!, requestId),
        };
        if (operation.operation === 'subscription') {
          delivery.register(args, {
            socket: ctx.extra.socket,
            id,
            caller: state.caller!,
            requestId,
            cached,
            operation,
            acknowledge: state.acknowledgeSubscriptions,
            createContext: () => options.createContext(state.caller!, requestId),
            shapeResult,
          });
        }
        return args;
      },
      // Subscriptions fed by an EventStream are delivered by SubscriptionDelivery (shared
      // execution per event); other operations run as graphql-ws would run them.
      subscribe: (args) => delivery.subscribe(args),
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!result.errors?.length) return;
        return shapeResult(result, args.contextValue as GraphQLContext);
      },
      onError: (_ctx, _id, _payload, errors) => {
        for (const error of errors) metrics.errors.inc({ code: String(error.extensions?.code ?? ErrorCode.BAD_USER_INPUT) });
        return formatErrors(errors, isProduction);
      },
      onComplete: (ctx, id) => {
        if (ctx.extra.state?.subscriptions.delete(id)) metrics.subscriptions.dec();
      },
      onClose: (ctx) => {
        const state = ctx.extra.state;
        if (!state) return;
        state.cancelExpiry?.();
        if (state.subscriptions.size > 0) metrics.subscriptions.dec(state.subscriptions.size);
        state.subscriptions.clear();
        if (state.caller) metrics.sockets.dec();
      },
    },
    options.wsServer,
  );
}
