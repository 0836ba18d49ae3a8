import type { IncomingMessage, ServerResponse } from 'node:http';

import { ApolloServer, HeaderMap, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { Server } from 'node:http';

import { TokenVerifier, type Caller } from '../auth/tokens.js';
import type { GraphQLContext } from '../graphql/context.js';
import { formatError, INTERNAL_MESSAGE } from '../graphql/errors.js';
import { checkOperationLimits, validationRules } from '../graphql/limits.js';
import { DomainError, ErrorCode } from '../services/errors.js';
import type { GraphQLFastPath, GraphQLRequestBody } from './fastPath.js';
import { Metrics } from './metrics.js';
import { BodyTooLargeError, readBody, sendGraphQLError } from './httpUtil.js';

export interface GraphQLHttpOptions {
  schema: GraphQLSchema;
  httpServer: Server;
  isProduction: boolean;
  maxRequestBytes: number;
  verifier: TokenVerifier;
  metrics: Metrics;
  log: Logger;
  /** Builds the per-operation context once the caller is known. */
  createContext(caller: Caller, requestId: string): GraphQLContext;
  /** Extra Apollo plugins (the WebSocket server's drain). */
  plugins?: ApolloServerPlugin<BaseContext>[];
  /** Answers known, compiled queries before Apollo (fastPath.ts); Apollo answers the rest. */
  fastPath?: GraphQLFastPath;
}

/** Metrics and error logs per operation, with the request id on every line. */
function observabilityPlugin(metrics: Metrics): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async didEncounterErrors({ errors }) {
          // Domain errors are the caller's business; anything else is ours to investigate.
          for (const error of errors) {
            const original = error.originalError ?? error;
            const code = error.extensions?.code;
            if (!(original instanceof DomainError) && (code === undefined || code === ErrorCode.INTERNAL_SERVER_ERROR)) {
              contextValue.log.error({ err: original, path: error.path }, 'operation failed');
            }
          }
        },
        async willSendResponse({ response, operation }) {
          const type = operation?.operation ?? 'unknown';
          const label = metrics.operationLabel(operation);
          metrics.operations.inc({ operation: label, type, transport: 'http' });
          metrics.latency.observe({ operation: label, type }, Number(process.hrtime.bigint() - started) / 1e9);
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            const code = String(error.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR);
            metrics.errors.inc({ code });
            if (code === ErrorCode.INTERNAL_SERVER_ERROR && error.extensions) {
              (error.extensions as Record<string, unknown>).requestId = contextValue.requestId;
            }
          }
        },
      };
    },
  };
}

/**
 * The limits that need the variables (cost, input text and nesting), checked once Apollo has
 * parsed, validated and picked the operation, before anything executes. Answered with HTTP 400.
 */
function operationLimitsPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request, operationName }) {
          const [error] = checkOperationLimits(schema, document, request.variables, operationName);
          if (error) {
            throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });
          }
        },
      };
    },
  };
}

/**
 * GraphQL over HTTP on plain node:http through Apollo's integration API (Express halves
 * throughput here). Authenticates before Apollo runs: no token, no GraphQL.
 */
export class GraphQLHttpHandler {
  readonly apollo: ApolloServer<GraphQLContext>;

  constructor(private readonly options: GraphQLHttpOptions) {
    this.apollo = new ApolloServer<GraphQLContext>({
      schema: options.schema,
      introspection: !options.isProduction,
      includeStacktraceInErrorResponses: !options.isProduction,
      allowBatchedHttpRequests: false,
      // src/index.ts owns SIGTERM/SIGINT: Apollo's own handlers would race ours and hang the drain.
      stopOnTerminationSignals: false,
      // Bearer tokens, not cookies, authenticate: a request carrying Authorization is never a CSRF.
      csrfPrevention: { requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'] },
      validationRules: [...(validationRules as never[])],
      formatError: (formatted, error) => formatError(formatted, error, options.isProduction),
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer: options.httpServer }),
        ...(options.isProduction ? [ApolloServerPluginLandingPageDisabled()] : []),
        observabilityPlugin(options.metrics),
        operationLimitsPlugin(),
        ...((options.plugins ?? []) as ApolloServerPlugin<GraphQLContext>[]),
      ],
    });
  }

  start(): Promise<void> {
    return this.apollo.start();
  }

  stop(): Promise<void> {
    return this.apollo.stop();
  }

  async handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const { verifier, log } = this.options;
    let caller: Caller;
    try {
      const token = TokenVerifier.bearer(req.headers.authorization);
      if (!token) {
        return sendGraphQLError(res, ErrorCode.UNAUTHENTICATED, 'Authentication required: send "Authorization: Bearer <JWT>"');
      }
      caller = verifier.verifiedCaller(token) ?? (await verifier.verify(token));
    } catch (error) {
      if (error instanceof DomainError) return sendGraphQLError(res, error.code, error.message);
      throw error;
    }

    let body: unknown;
    if (req.method === 'POST') {
      let text: string;
      try {
        text = await readBody(req, this.options.maxRequestBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          res.setHeader('connection', 'close');
          return sendGraphQLError(res, ErrorCode.PAYLOAD_TOO_LARGE, `GraphQL request body is larger than ${error.limit} bytes`);
        }
        throw error;
      }
      const contentType = req.headers['content-type'] ?? '';
      if (!/json/i.test(contentType)) {
        return sendGraphQLError(res, ErrorCode.BAD_USER_INPUT, 'POST /graphql needs "Content-Type: application/json"');
      }
      try {
        body = JSON.parse(text);
      } catch {
        return sendGraphQLError(res, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON');
      }
      if (Array.isArray(body)) {
        return sendGraphQLError(res, ErrorCode.BAD_USER_INPUT, 'Batched requests are not accepted: send one operation per request');
      }
      if (this.options.fastPath && body && typeof body === 'object') {
        const handled = this.options.fastPath.tryHandle(res, body as GraphQLRequestBody, req.headers.accept, caller, requestId);
        if (handled === true || (handled !== false && (await handled))) return;
      }
    }

    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const context = this.options.createContext(caller, requestId);
    let response;
    try {
      response = await this.apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
        context: async () => context,
      });
    } catch (error) {
      log.error({ err: error, requestId }, 'graphql request failed');
      return sendGraphQLError(res, ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, { requestId });
    }
    res.statusCode = response.status ?? 200;
    for (const [key, value] of response.headers) res.setHeader(key, value);
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }
}
