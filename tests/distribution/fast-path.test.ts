import type { GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildGraphQLSchema } from '../../src/graphql/schema.js';
import { createPackage, createVersions, distribute } from '../helpers/distribution.js';
import { startTestServer, uniqueId, type TestServer } from '../helpers/server.js';
import { checkUntil } from '../helpers/updateCheck.js';

/**
 * The fast path (src/server/fastPath.ts) answers a query text it has seen before with a
 * graphql-jit compiled function instead of Apollo's pipeline. The first request of a text
 * always goes through Apollo, so each test compares Apollo's answer with the fast path's for
 * the same request — they must be the same bytes, status and headers.
 */

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.token('user');
});
afterAll(async () => server?.close());

const IGNORED_HEADERS = new Set(['date', 'x-request-id', 'keep-alive', 'connection']);

async function post(query: string, variables?: Record<string, unknown>, bearer: string | null = token) {
  const response = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const headers = Object.fromEntries([...response.headers].filter(([name]) => !IGNORED_HEADERS.has(name)));
  return { status: response.status, headers, body: await response.text() };
}

/** Sends the same request three times: Apollo (cold), then twice more (compiled from the second on). */
async function apolloThenFast(query: string, variables?: Record<string, unknown>) {
  const before = server.app.fastPath.handled;
  const apollo = await post(query, variables);
  await post(query, variables);
  const fast = await post(query, variables);
  return { apollo, fast, handled: server.app.fastPath.handled - before };
}

const COMPARE = 'query Compare($a: String!, $b: String!) { compareVersions(version1: $a, version2: $b) { result newer difference } }';

describe('GraphQL fast path', () => {
  it('answers a repeated query with the same status, headers and bytes as Apollo', async () => {
    const { apollo, fast, handled } = await apolloThenFast(COMPARE, { a: '1.0.0', b: '1.1.0-rc.1' });
    expect(handled).toBe(2);
    expect(fast).toEqual(apollo);
    expect(JSON.parse(fast.body)).toEqual({ data: { compareVersions: { result: -1, newer: '1.1.0-rc.1', difference: 'PREMINOR' } } });
  });

  it('reports a domain error exactly as Apollo does (BAD_USER_INPUT naming the field)', async () => {
    const { apollo, fast, handled } = await apolloThenFast(COMPARE.replace('Compare', 'CompareBad'), { a: 'v1.0', b: '1.0.0' });
    expect(handled).toBe(2);
    expect(fast).toEqual(apollo);
    const body = JSON.parse(fast.body);
    expect(body.data).toBeNull();
    expect(body.errors[0].extensions).toEqual({ field: 'version1', code: 'BAD_USER_INPUT' });
  });

  it('answers database-backed queries (dates, JSON, nulls) identically', async () => {
    const admin = await server.client('admin');
    const extensionId = uniqueId();
    await admin.data('mutation ($input: CreateVersionInput!) { createVersion(input: $input) { id } }', {
      input: { version: '2.0.0', extensionId, metadata: { a: 1 } },
    });
    const query = 'query Latest($e: ID) { latestVersion(extensionId: $e) { id version prerelease releasedAt metadata changelog { type } isDeprecated } none: latestVersion(extensionId: "nobody.here") { id } }';
    const { apollo, fast, handled } = await apolloThenFast(query, { e: extensionId });
    expect(handled).toBe(2);
    expect(fast).toEqual(apollo);
    expect(JSON.parse(fast.body).data.latestVersion.version).toBe('2.0.0');
  });

  it('leaves variables that do not coerce to Apollo (400 BAD_USER_INPUT, every time)', async () => {
    const { apollo, fast, handled } = await apolloThenFast(COMPARE.replace('Compare', 'CompareCoerce'), { a: 1, b: '1.0.0' });
    expect(handled).toBe(0);
    expect(fast).toEqual(apollo);
    expect(fast.status).toBe(400);
    expect(JSON.parse(fast.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('keeps the limits: a document over the alias limit is refused every time, never compiled', async () => {
    const aliases = Array.from({ length: 21 }, (_, i) => `a${i}: compareVersions(version1: "1.0.0", version2: "1.0.1") { result }`).join(' ');
    const { apollo, fast, handled } = await apolloThenFast(`query TooMany { ${aliases} }`);
    expect(handled).toBe(0);
    expect(fast).toEqual(apollo);
    expect(JSON.parse(fast.body).errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(JSON.parse(fast.body).errors[0].message).toMatch(/Aliases limit of 20 exceeded/);
  });

  it('never answers without a valid token, even for a compiled document', async () => {
    await apolloThenFast(COMPARE, { a: '1.0.0', b: '1.0.0' });
    const anonymous = await post(COMPARE, { a: '1.0.0', b: '1.0.0' }, null);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const forged = await post(COMPARE, { a: '1.0.0', b: '1.0.0' }, `${token.slice(0, -2)}xx`);
    expect(JSON.parse(forged.body).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('stops accepting a cached token once it expires', async () => {
    const shortLived = await server.token('user', undefined, '2s');
    const first = await post(COMPARE, { a: '1.0.0', b: '2.0.0' }, shortLived);
    expect(first.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2600));
    const expired = await post(COMPARE, { a: '1.0.0', b: '2.0.0' }, shortLived);
    expect(JSON.parse(expired.body).errors[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(JSON.parse(expired.body).errors[0].message).toMatch(/expired/);
  });

  it('leaves introspection to Apollo', async () => {
    const { handled } = await apolloThenFast('{ __schema { queryType { name } } }');
    expect(handled).toBe(0);
  });

  it('counts fast-path operations in the same metrics as Apollo', async () => {
    const label = 'changelog';
    const query = `query MetricsProbe { changelog(extensionId: "metrics.probe") }`;
    for (let i = 0; i < 5; i++) await post(query);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain(`graphql_operations_total{operation="${label}",type="query",transport="http"} 5`);
    expect(text).toMatch(new RegExp(`graphql_operation_duration_seconds_count\\{operation="${label}",type="query"\\} 5`));
  });
});

describe('GraphQL fast path and the limits that need the variables', () => {
  it('refuses a list size given by a variable over the cost limit every time, even after cheap requests of the same text', async () => {
    const query = `query Pages($n: Int) { versions(first: $n) { nodes {
      id version major minor patch prerelease build extensionId productId releaseNotes isStable isDeprecated releasedAt releasedBy metadata
      changelog { type description scope breaking } updatePackages { id packageUrl checksum packageSize } } } }`;
    for (let i = 0; i < 3; i++) expect((await post(query, { n: 1 })).status).toBe(200);
    const costly = await post(query, { n: 200 });
    const again = await post(query, { n: 200 });
    expect(again).toEqual(costly);
    expect(costly.status).toBe(400);
    expect(JSON.parse(costly.body).errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(JSON.parse(costly.body).errors[0].message).toMatch(/cost/i);
  });

  it('checks the text of every request’s variables, even when the document’s cost is fixed', async () => {
    for (let i = 0; i < 3; i++) expect((await post(COMPARE, { a: '1.0.0', b: '1.0.1' })).status).toBe(200);
    const bad = await post(COMPARE, { a: '1.0.0\u0000', b: '1.0.1' });
    expect(JSON.parse(bad.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('GraphQL fast path: the update check answered straight from the service', () => {
  let extensionId: string;
  let allFields: string;

  beforeAll(async () => {
    const admin = await server.client('admin');
    extensionId = uniqueId('direct');
    await createVersions(admin, extensionId, '1.0.0', '1.1.0');
    const { pkg } = await createPackage(server, admin, { extensionId, fromVersion: '1.0.0', toVersion: '1.1.0' });
    await distribute(admin, { packageId: pkg.id, strategy: 'IMMEDIATE' as never });
    await checkUntil(await server.client('user'), { currentVersion: '1.0.0', extensionId }, (offer) => offer !== null);
    // Every field UpdateInfo has, so a field added later is compared too.
    const schema = await buildGraphQLSchema();
    allFields = Object.keys((schema.getType('UpdateInfo') as GraphQLObjectType).getFields()).join(' ');
  });

  /** Apollo's answer (cold), then the fast path's; `direct` counts answers given without execution. */
  async function compare(query: string, variables?: Record<string, unknown>) {
    const before = server.app.fastPath.answeredDirectly;
    const { apollo, fast, handled } = await apolloThenFast(query, variables);
    expect(fast).toEqual(apollo);
    return { apollo, fast, handled, direct: server.app.fastPath.answeredDirectly - before };
  }

  it('gives Apollo’s bytes for every field, aliases and __typename, an offer and no offer', async () => {
    const query = `query Direct($v: String!, $e: ID, $c: String) { offer: checkForUpdates(currentVersion: $v, extensionId: $e, clientId: $c) { __typename to: toVersion ${allFields} } }`;
    const offered = await compare(query, { v: '1.0.0', e: extensionId, c: 'installation-1' });
    expect(offered.direct).toBe(2);
    expect(JSON.parse(offered.fast.body).data.offer).toMatchObject({ __typename: 'UpdateInfo', to: '1.1.0', fromVersion: '1.0.0', isDelta: false });
    const none = await compare(query.replace('Direct', 'DirectNone'), { v: '1.1.0', e: extensionId, c: 'installation-1' });
    expect(none.direct).toBe(2);
    expect(JSON.parse(none.fast.body)).toEqual({ data: { offer: null } });
  });

  it('takes literal arguments, variable defaults and schema defaults as graphql-js does', async () => {
    const literal = await compare(`{ checkForUpdates(currentVersion: "1.0.0", extensionId: "${extensionId}", includePrerelease: false) { toVersion mandatory } }`);
    expect(literal.direct).toBe(2);
    expect(JSON.parse(literal.fast.body).data.checkForUpdates.toVersion).toBe('1.1.0');
    const defaulted = await compare('query Defaulted($v: String! = "1.0.0", $e: ID) { checkForUpdates(currentVersion: $v, extensionId: $e) { toVersion } }', { e: extensionId });
    expect(defaulted.direct).toBe(2);
    expect(JSON.parse(defaulted.fast.body).data.checkForUpdates.toVersion).toBe('1.1.0');
  });

  it('leaves errors and coercions to the usual paths, which answer them exactly as before', async () => {
    const query = 'query Checked($v: String!, $e: ID) { checkForUpdates(currentVersion: $v, extensionId: $e) { toVersion } }';
    const badVersion = await compare(query, { v: 'v1.0', e: extensionId });
    expect(badVersion.direct).toBe(0);
    expect(badVersion.handled).toBe(2); // the compiled function reports it
    expect(JSON.parse(badVersion.fast.body).errors[0].extensions).toEqual({ field: 'currentVersion', code: 'BAD_USER_INPUT' });
    // An ID sent as a number is coerced by graphql-js (to "12"), not here.
    const numericId = await compare(query, { v: '1.0.0', e: 12 });
    expect(numericId.direct).toBe(0);
    expect(JSON.parse(numericId.fast.body).data.checkForUpdates).toBeNull();
    const missing = await compare(query, { e: extensionId });
    expect(missing.direct).toBe(0);
    expect(missing.fast.status).toBe(400);
  });
});
