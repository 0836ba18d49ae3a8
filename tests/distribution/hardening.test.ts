import http from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QUERY_LIMITS } from '../../src/graphql/limits.js';
import { CompareVersionsDocument, CreateVersionDocument, DeprecateVersionDocument, LatestVersionDocument, VersionPublishedDocument } from '../generated/graphql.js';
import { subscribe, wsCloseOf, wsRequest, type GraphQLResponse, type HttpClient } from '../helpers/client.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * What a hostile or sloppy client runs into: query limits on both transports, oversized and
 * batched bodies, malformed requests, production masking, health and metrics.
 */

const DEEP_QUERY = `{ __type(name: "Query") { fields { type { ${'ofType { '.repeat(QUERY_LIMITS.maxDepth)}name${' }'.repeat(QUERY_LIMITS.maxDepth)} } } } }`;
const ALIAS_QUERY = `{ ${Array.from({ length: QUERY_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: compareVersions(version1: "1.0.${i}", version2: "1.0.0") { result }`).join(' ')} }`;
// A page size and a number of days multiply the cost of everything selected under them.
const COSTLY_QUERY = `{ cdnFiles(first: 200) { nodes { id stats { daily(days: 366) { date downloads bytesServed } } } } }`;

const LIMITS: [string, string, RegExp][] = [
  ['depth', DEEP_QUERY, new RegExp(`depth limit of ${QUERY_LIMITS.maxDepth} exceeded`)],
  ['aliases', ALIAS_QUERY, new RegExp(`Aliases limit of ${QUERY_LIMITS.maxAliases} exceeded, found ${QUERY_LIMITS.maxAliases + 1}`)],
  ['cost', COSTLY_QUERY, new RegExp(`Query cost \\d+ exceeds the limit of ${QUERY_LIMITS.maxCost}`)],
];

const codesOf = (errors: GraphQLResponse<unknown>['errors']) => (errors ?? []).map((error) => error.extensions?.code);

/** Raw HTTP, for requests fetch will not make (chunked bodies of a chosen size). */
function rawPost(url: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const write = (index: number) => {
      if (index === chunks.length) return void req.end();
      // The server may answer and close before every chunk is sent: that is the point.
      if (!req.write(chunks[index]!)) req.once('drain', () => write(index + 1));
      else setImmediate(() => write(index + 1));
    };
    write(0);
  });
}

/** Samples of one metric from the Prometheus text format, with their labels. */
async function metric(server: TestServer, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const match = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line)!;
      const labels = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { labels, value: Number(match[2]) };
    });
}

/** Polls until `check` passes (events cross sockets asynchronously); fails with its last error. */
async function eventually(check: () => Promise<void>, attempts = 50): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await check();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('development server', () => {
  let server: TestServer;
  let user: HttpClient;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ MAX_REQUEST_SIZE: '16KiB' });
    user = await server.client('user');
    token = await server.token('user');
  });
  afterAll(() => server?.close());

  describe('query limits', () => {
    it.each(LIMITS)('refuses a query over the %s limit over HTTP with BAD_USER_INPUT naming the limit', async (_name, query, message) => {
      const response = await user.request(query);
      expect(response.status).toBe(400);
      expect(codesOf(response.errors)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toMatch(message);
      expect(response.data ?? null).toBeNull();
    });

    it.each(LIMITS)('refuses a query over the %s limit over WebSocket with BAD_USER_INPUT naming the limit, and the socket stays usable', async (_name, query, message) => {
      const client = await server.ws('user');
      const outcome = await wsRequest(client, query);
      expect(codesOf(outcome.errors)).toEqual(['BAD_USER_INPUT']);
      expect(outcome.errors?.[0]?.message).toMatch(message);
      expect((await wsRequest(client, CompareVersionsDocument, { version1: '1.0.0', version2: '2.0.0' })).data?.compareVersions.result).toBe(-1);
    });

    it('accepts queries within the limits', async () => {
      const aliases = `{ ${Array.from({ length: QUERY_LIMITS.maxAliases }, (_, i) => `a${i}: compareVersions(version1: "1.0.${i}", version2: "1.0.0") { result }`).join(' ')} }`;
      const response = await user.request<Record<string, { result: number }>>(aliases);
      expect(response.errors).toBeUndefined();
      expect(response.data?.a0?.result).toBe(0);
      const deepEnough = `{ __type(name: "Query") { name fields { name type { ofType { name } } } } }`;
      expect((await user.request(deepEnough)).errors).toBeUndefined();
    });
  });

  describe('request bodies', () => {
    it('answers a body over MAX_REQUEST_SIZE with HTTP 413 PAYLOAD_TOO_LARGE', async () => {
      const response = await user.request('query($x: String!) { compareVersions(version1: $x, version2: "1.0.0") { result } }', { x: 'x'.repeat(20_000) });
      expect(response.status).toBe(413);
      expect(codesOf(response.errors)).toEqual(['PAYLOAD_TOO_LARGE']);
      expect(response.errors?.[0]?.message).toContain(String(16 * 1024));
    });

    it('answers a chunked body that grows past the limit with 413 too', async () => {
      const chunks = [Buffer.from('{"query":"{ __typename }","variables":{"x":"'), ...Array.from({ length: 40 }, () => Buffer.alloc(1024, 'x')), Buffer.from('"}}')];
      const { status, body } = await rawPost(server.graphqlUrl, { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, chunks);
      expect(status).toBe(413);
      expect(JSON.parse(body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('closes a WebSocket whose message is over the limit with 1009', async () => {
      const client = await server.ws('user');
      await expect(wsRequest(client, `{ __typename } # ${'x'.repeat(20_000)}`)).rejects.toThrow(/1009/);
    });

    it('refuses a batched (array) request with BAD_USER_INPUT', async () => {
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as GraphQLResponse<unknown>;
      expect(codesOf(body.errors)).toEqual(['BAD_USER_INPUT']);
      expect(body.errors?.[0]?.message).toMatch(/one operation per request/);
    });

    it.each([
      ['a body that is not JSON', 'application/json', '{"query": '],
      ['a body that is not JSON at all', 'text/plain', '{ __typename }'],
      ['a parse error', 'application/json', JSON.stringify({ query: '{ versions { nodes { id } ' })],
      ['an unknown field', 'application/json', JSON.stringify({ query: '{ versionz { nodes { id } } }' })],
      ['an unknown argument', 'application/json', JSON.stringify({ query: '{ version(uuid: "x") { id } }' })],
      ['a variable of the wrong type', 'application/json', JSON.stringify({ query: 'query($id: ID!) { version(id: $id) { id } }', variables: { id: { not: 'an id' } } })],
      ['a missing query', 'application/json', JSON.stringify({ variables: {} })],
      ['a bad enum value', 'application/json', JSON.stringify({ query: 'mutation { createVersion(input: { version: "1.0.0", extensionId: "e", changelog: [{ type: NOPE, description: "x" }] }) { id } }' })],
    ])('answers %s with BAD_USER_INPUT (HTTP 400)', async (_name, contentType, body) => {
      const response = await fetch(server.graphqlUrl, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
      const json = (await response.json()) as GraphQLResponse<unknown>;
      expect(codesOf(json.errors).length).toBeGreaterThan(0);
      expect(new Set(codesOf(json.errors))).toEqual(new Set(['BAD_USER_INPUT']));
      expect(response.status).toBe(400);
    });

    it('answers parse errors and unknown fields over WebSocket with BAD_USER_INPUT', async () => {
      const client = await server.ws('user');
      for (const query of ['{ versions { nodes { id } ', '{ versionz { nodes { id } } }', 'subscription { versionPublished { nope } }']) {
        const outcome = await wsRequest(client, query);
        expect(codesOf(outcome.errors), query).toEqual(['BAD_USER_INPUT']);
      }
    });
  });

  describe('GET /graphql', () => {
    it('runs a query from the URL with a bearer token', async () => {
      const query = encodeURIComponent('query Cmp($a: String!) { compareVersions(version1: $a, version2: "1.0.0") { result newer } }');
      const variables = encodeURIComponent(JSON.stringify({ a: '1.2.0' }));
      const response = await fetch(`${server.graphqlUrl}?query=${query}&variables=${variables}`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: { compareVersions: { result: 1, newer: '1.2.0' } } });
    });

    it('needs the token like POST does', async () => {
      const response = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent('{ __typename }')}`);
      expect(response.status).toBe(401);
      expect(codesOf(((await response.json()) as GraphQLResponse<unknown>).errors)).toEqual(['UNAUTHENTICATED']);
    });

    it('refuses a mutation over GET and runs nothing', async () => {
      const extensionId = uniqueId();
      const admin = await server.token('admin');
      const query = encodeURIComponent(`mutation { createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id } }`);
      const response = await fetch(`${server.graphqlUrl}?query=${query}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(response.status).toBe(405);
      expect(codesOf(((await response.json()) as GraphQLResponse<unknown>).errors)).toEqual(['BAD_USER_INPUT']);
      expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion).toBeNull();
    });
  });

  describe('routes', () => {
    it('answers an unknown path with 404, a wrong method with 405, and a WebSocket on another path with 404', async () => {
      const missing = await fetch(`${server.url}/graphql/extra`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: 'No route for /graphql/extra' });
      expect((await fetch(`${server.url}/`)).status).toBe(404);
      const wrongMethod = await fetch(`${server.url}/healthz`, { method: 'POST' });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
      // The upgrade is refused with HTTP 404: the client never gets a WebSocket (abnormal close 1006).
      expect(await wsCloseOf(`${server.wsUrl.replace('/graphql', '/elsewhere')}`, {})).toMatchObject({ code: 1006 });
    });

    it('gives every response a request id, echoing a sane one the client sent', async () => {
      const response = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-123' } });
      expect(response.headers.get('x-request-id')).toBe('trace-123');
      const other = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
      expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('/metrics', () => {
    it('counts operations by their first root field and errors by code', async () => {
      // Other tests of this file raise the same counters: compare before and after.
      const counts = async () => {
        const operations = await metric(server, 'graphql_operations_total');
        const errors = await metric(server, 'graphql_errors_total');
        const operation = (name: string, type: string) => operations.find((m) => m.labels.operation === name && m.labels.type === type && m.labels.transport === 'http')?.value ?? 0;
        const error = (code: string) => errors.find((m) => m.labels.code === code)?.value ?? 0;
        return { compare: operation('compareVersions', 'query'), create: operation('createVersion', 'mutation'), forbidden: error('FORBIDDEN'), badInput: error('BAD_USER_INPUT') };
      };
      const before = await counts();
      await user.data(CompareVersionsDocument, { version1: '1.0.0', version2: '1.0.1' });
      await user.request(CreateVersionDocument, { input: { version: '1.0.0', extensionId: uniqueId() } }); // FORBIDDEN
      await user.request(CompareVersionsDocument, { version1: 'v1', version2: '1.0.0' }); // BAD_USER_INPUT
      expect(await counts()).toEqual({ compare: before.compare + 2, create: before.create + 1, forbidden: before.forbidden + 1, badInput: before.badInput + 1 });
    });

    it('counts errors of operations run over WebSocket too', async () => {
      const notFound = async () => (await metric(server, 'graphql_errors_total')).find((m) => m.labels.code === 'NOT_FOUND')?.value ?? 0;
      const before = await notFound();
      const outcome = await wsRequest(await server.ws('admin'), DeprecateVersionDocument, { id: '5b1c3e0e-0000-4000-8000-00000000dead', reason: 'gone' });
      expect(codesOf(outcome.errors)).toEqual(['NOT_FOUND']);
      expect(await notFound()).toBe(before + 1);
    });

    it('shows graphql_subscriptions_open rising while a subscription is open and falling when it ends', async () => {
      const open = async () => (await metric(server, 'graphql_subscriptions_open'))[0]?.value ?? Number.NaN;
      const before = await open();
      expect(before).toBeGreaterThanOrEqual(0);
      const client = await server.ws('user');
      const subscription = await subscribe(client, VersionPublishedDocument, { extensionId: uniqueId() });
      await eventually(async () => expect(await open()).toBe(before + 1));
      subscription.close();
      await eventually(async () => expect(await open()).toBe(before));
    });
  });

  it('/healthz answers 200 while the database is reachable', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });
});

describe('production server (NODE_ENV=production)', () => {
  let server: TestServer;
  let user: HttpClient;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ NODE_ENV: 'production' });
    user = await server.client('user');
    token = await server.token('user');
  });
  afterAll(() => server?.close());

  it('refuses introspection over HTTP and WebSocket', async () => {
    for (const query of ['{ __schema { types { name } } }', '{ __type(name: "Version") { name fields { name } } }']) {
      const response = await user.request(query);
      expect(codesOf(response.errors), query).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toMatch(/introspection/i);
      expect(response.data ?? null).toBeNull();
      const outcome = await wsRequest(await server.ws('admin'), query);
      expect(outcome.data ?? null).toBeNull();
      expect(new Set(codesOf(outcome.errors))).toEqual(new Set(['BAD_USER_INPUT']));
      expect(JSON.stringify(outcome.errors)).toMatch(/introspection/i);
    }
  });

  it('does not serve the Apollo landing page to a browser', async () => {
    const asBrowser: Record<string, string>[] = [{ accept: 'text/html' }, { accept: 'text/html', authorization: `Bearer ${token}` }];
    for (const headers of asBrowser) {
      const response = await fetch(server.graphqlUrl, { headers });
      const body = await response.text();
      expect(response.headers.get('content-type') ?? '').not.toMatch(/html/);
      expect(body).not.toMatch(/<html|<!DOCTYPE|apollo|sandbox|embeddable/i);
    }
  });

  it('still answers domain errors with their message and code', async () => {
    const response = await user.request(CompareVersionsDocument, { version1: 'v1.0.0', version2: '1.0.0' });
    expect(codesOf(response.errors)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors?.[0]?.message).toContain('not a valid SemVer');
    expect(JSON.stringify(response.errors)).not.toContain('stacktrace');
  });

  describe('once the database is gone', () => {
    beforeAll(async () => {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await server.app.runtime.database.close();
    });

    it('/healthz answers 503', async () => {
      const response = await fetch(`${server.url}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable' });
    });

    it('masks the internal error over HTTP: INTERNAL_SERVER_ERROR with a request id, no SQL, stack or paths', async () => {
      const admin = await server.client('admin');
      for (const [operation, variables] of [
        ['query($e: ID) { latestVersion(extensionId: $e) { id version } }', { e: 'ext.masked' }],
        ['mutation($e: ID) { createVersion(input: { version: "1.0.0", extensionId: $e, releaseNotes: "n" }) { id } }', { e: 'ext.masked' }],
        ['query($id: ID!) { version(id: $id) { id } }', { id: '5b1c3e0e-0000-4000-8000-000000000001' }],
      ] as const) {
        const response = await admin.request(operation, variables);
        expect(codesOf(response.errors), operation).toEqual(['INTERNAL_SERVER_ERROR']);
        const error = response.errors![0]!;
        expect(error.extensions?.requestId).toEqual(expect.any(String));
        expect(Object.keys(error.extensions ?? {}).sort()).toEqual(['code', 'requestId']);
        assertNothingLeaks(JSON.stringify(response));
      }
    });

    it('masks the internal error over WebSocket too', async () => {
      const outcome = await wsRequest(await server.ws('admin'), 'query($e: ID) { latestVersion(extensionId: $e) { id } }', { e: 'ext.masked' });
      expect(codesOf(outcome.errors)).toEqual(['INTERNAL_SERVER_ERROR']);
      // The request id is what support asks for: the server log keeps the details under it.
      expect(outcome.errors?.[0]?.extensions?.requestId).toEqual(expect.any(String));
      expect(Object.keys(outcome.errors?.[0]?.extensions ?? {}).sort()).toEqual(['code', 'requestId']);
      assertNothingLeaks(JSON.stringify(outcome));
    });
  });
});

function assertNothingLeaks(text: string): void {
  expect(text).not.toMatch(/select|insert|from "|versions"|\$1/i); // SQL
  expect(text).not.toMatch(/\bat .+\(|stacktrace|\.ts:\d+|\.js:\d+/); // stack traces
  expect(text).not.toMatch(/\/work\/|\/tmp\/|node_modules|dfd-test-|127\.0\.0\.1|5432/); // paths, hosts
  expect(text).not.toMatch(/PGlite|postgres|CONNECTION|closed/i); // driver messages
}

describe('development server', () => {
  it('answers introspection over HTTP and WebSocket alike (tools such as codegen rely on it)', async () => {
    const server = await startTestServer();
    try {
      const query = '{ __type(name: "Version") { name } }';
      const overHttp = await (await server.client('user')).request<{ __type: { name: string } }>(query);
      expect(overHttp.data?.__type.name).toBe('Version');
      const overWs = await wsRequest(await server.ws('user'), query);
      expect(overWs.errors ?? []).toEqual([]);
      expect((overWs.data as { __type: { name: string } }).__type.name).toBe('Version');
    } finally {
      await server.close();
    }
  });
});
