import crypto from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';

import { CachingTokenVerifier } from '../auth/tokenCache.js';
import { localJwtSecret } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { createContext } from '../graphql/context.js';
import { buildGraphQLSchema, guardSchema } from '../graphql/schema.js';
import { startJobs } from '../jobs/registry.js';
import { testJobRoute } from '../jobs/testQueues.js';
import { createServices, type Services } from '../services/index.js';
import { closeRuntime, createRuntime, type ServiceRuntime } from '../services/runtime.js';
import { cdnRoutes } from './cdnRoutes.js';
import { validationRules } from '../graphql/limits.js';
import { checkForUpdates } from '../graphql/resolvers/updateCheckResolver.js';
import type { UpdateCheckArgs } from '../graphql/types/updateCheck.js';
import { GraphQLFastPath } from './fastPath.js';
import { GraphQLHttpHandler } from './graphqlHttp.js';
import { serveGraphQLOverWebSocket } from './graphqlWs.js';
import { limitBodyIdleTime, requestIdOf, sendGraphQLError, sendJson } from './httpUtil.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { ErrorCode } from '../services/errors.js';

/** A route outside GraphQL (health, metrics, CDN files, uploads). Return false to pass. */
export interface Route {
  name: string;
  method: string | string[];
  match(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }): Promise<void> | void;
}

export interface App {
  /** `http://host:port`, as bound. */
  url: string;
  port: number;
  runtime: ServiceRuntime;
  services: Services;
  metrics: Metrics;
  /** Answers hot queries before Apollo (its `handled` count shows it was taken). */
  fastPath: GraphQLFastPath;
  /** The HS256 secret tokens are verified with (undefined under JWKS). */
  jwtSecret: string | undefined;
  /** Graceful stop: refuse new work, drain requests, close sockets (1001), then the database. */
  close(): Promise<void>;
}

export const GRAPHQL_PATH = '/graphql';

/** Constant-time comparison of `Authorization: Bearer <token>` with the expected token. */
function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/**
 * Starts one server instance: database (migrated), event bus, services, GraphQL over HTTP
 * and WebSocket on one port, /healthz and /metrics.
 */
export async function startApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  const runtime = await createRuntime(config, log);
  const services = createServices(runtime);
  // Before taking requests: what a crashed predecessor left half-written (the sweep repeats this).
  await services.cdn.removeStaleTempFiles();
  const jwtSecret = config.jwtJwksUrl ? config.jwtSecret : (config.jwtSecret ?? localJwtSecret(config.dataDir));
  const verifier = new CachingTokenVerifier({
    secret: jwtSecret,
    jwksUrl: config.jwtJwksUrl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    maxTtlSeconds: config.jwtMaxTtlSeconds,
  });
  const executableSchema = await buildGraphQLSchema(runtime.events);
  const schema = guardSchema(executableSchema);
  const metrics = new Metrics(schema);
  const makeContext = (caller: Parameters<typeof createContext>[1], requestId: string) =>
    createContext(services, caller, requestId, log);

  const server = http.createServer();
  server.requestTimeout = 0; // uploads may stream for minutes; per-route code bounds its own work
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  const wsServer = new WebSocketServer({ noServer: true, maxPayload: config.maxRequestBytes });
  const wsDisposable = serveGraphQLOverWebSocket({ schema, wsServer, verifier, isProduction: config.isProduction, metrics, log, createContext: makeContext, maxSubscriptionsPerSocket: config.wsMaxSubscriptions });

  const fastPath = new GraphQLFastPath({
    schema: executableSchema,
    validationRules,
    isProduction: config.isProduction,
    metrics,
    log,
    createContext: makeContext,
    // The update check: answered from the release state without executing the document.
    directFields: { checkForUpdates: (args) => checkForUpdates(services, args as unknown as UpdateCheckArgs) },
  });
  const graphqlHttp = new GraphQLHttpHandler({
    schema,
    httpServer: server,
    isProduction: config.isProduction,
    maxRequestBytes: config.maxRequestBytes,
    verifier,
    metrics,
    log,
    createContext: makeContext,
    fastPath,
    plugins: [{ async serverWillStart() { return { async drainServer() { await wsDisposable.dispose(); } }; } }],
  });
  await graphqlHttp.start();

  const routes: Route[] = [
    {
      name: 'graphql',
      method: ['GET', 'POST'],
      match: (pathname) => pathname === GRAPHQL_PATH,
      handle: (req, res, { requestId }) => graphqlHttp.handle(req, res, requestId),
    },
    {
      name: 'healthz',
      method: ['GET', 'HEAD'],
      match: (pathname) => pathname === '/healthz',
      async handle(_req, res) {
        try {
          await Promise.race([
            runtime.database.ping(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out after 2 s')), 2000).unref()),
          ]);
          sendJson(res, 200, { status: 'ok', database: runtime.database.kind });
        } catch (error) {
          log.warn({ err: error }, 'health check failed');
          sendJson(res, 503, { status: 'unavailable', database: runtime.database.kind, error: 'database unreachable' });
        }
      },
    },
    {
      name: 'metrics',
      method: 'GET',
      match: (pathname) => pathname === '/metrics',
      async handle(req, res) {
        if (config.metricsToken !== undefined && !bearerMatches(req.headers.authorization, config.metricsToken)) {
          return sendJson(res, 401, { error: 'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>"' }, { 'www-authenticate': 'Bearer realm="metrics"' });
        }
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
      },
    },
    ...(config.jobs.testQueues ? [testJobRoute(runtime)] : []),
    // Last: with CDN_BASE_URL at a host's root, the file route's prefix matches every path.
    ...cdnRoutes({ config, cdn: services.cdn, verifier, log }),
  ];

  const graphqlRoute = routes[0]!;
  /** Shared by every request to exactly `/graphql` (the GraphQL route reads nothing from it). */
  const graphqlUrl: URL = Object.freeze(new URL(GRAPHQL_PATH, 'http://localhost'));

  // Handlers still running, so a shutdown can let them clean up (an upload cut off removes its temp file).
  const inFlight = new Set<Promise<unknown>>();
  server.on('request', (req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    // The update check's path as sent: no URL to parse (a measurable share of a small request).
    const url = req.url === GRAPHQL_PATH ? graphqlUrl : new URL(req.url ?? '/', 'http://localhost');
    const route = url === graphqlUrl ? graphqlRoute : routes.find((candidate) => candidate.match(url.pathname));
    const methods = route ? [route.method].flat() : [];
    const finish = () => metrics.countHttpRequest(route?.name ?? 'none', res.statusCode);
    res.on('finish', finish);
    let timedOut = false;
    limitBodyIdleTime(req, res, config.bodyIdleTimeoutMs, () => {
      timedOut = true;
      log.info({ requestId, route: route?.name, idleMs: config.bodyIdleTimeoutMs }, 'request body idle too long: 408 and closed');
    });
    if (!route) return sendJson(res, 404, { error: `No route for ${url.pathname}` });
    if (!methods.includes(req.method ?? '')) {
      return sendJson(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` }, { allow: methods.join(', ') });
    }
    const handling = Promise.resolve(route.handle(req, res, { requestId, url })).catch((error: unknown) => {
      // A body cut for idleness makes its handler fail on the closed stream: already answered and logged.
      if (timedOut) return void res.destroy();
      log.error({ err: error, requestId, route: route.name }, 'request failed');
      if (!res.headersSent) sendGraphQLError(res, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error', { requestId });
      else res.destroy();
    });
    inFlight.add(handling);
    void handling.finally(() => inFlight.delete(handling));
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== GRAPHQL_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  await services.cdn.setPublicBaseUrl(config.cdnBaseUrl ?? `http://${shownHost}:${port}/cdn`);
  // Jobs and recurring work (CDN retries, sweeps, stats flush): src/jobs/registry.ts.
  await startJobs({ runtime, services });

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    runtime,
    services,
    metrics,
    fastPath,
    jwtSecret,
    close() {
      closing ??= (async () => {
        await graphqlHttp.stop(); // drains HTTP (stops accepting) and disposes graphql-ws (1001)
        for (const client of wsServer.clients) client.terminate();
        wsServer.close();
        server.closeAllConnections();
        // Uploads cut off just now are removing their temp files: give them a moment before exiting.
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
        await runtime.jobs.stop(); // bounded wait for running handlers and recurring passes
        await services.cdn.close(); // after the last download: its counts are flushed here
        await services.distribution.close(); // after the last request: pending report counts are written
        await closeRuntime(runtime);
      })();
      return closing;
    },
  };
}
