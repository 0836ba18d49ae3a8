import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  getNamedType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PERMISSIONS, type Access } from '../../src/graphql/permissions.js';
import { buildGraphQLSchema } from '../../src/graphql/schema.js';
import { CreateVersionDocument, LatestVersionDocument, VersionByIdDocument } from '../generated/graphql.js';
import { HttpClient, subscribe, wsClient, wsCloseOf, wsRequest } from '../helpers/client.js';
import { startTestServer, TEST_JWT_SECRET, USER_ID, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * The access matrix for every root field, read from the schema itself: a field added later is
 * covered without touching this file. Anonymous callers are UNAUTHENTICATED, users are
 * FORBIDDEN on admin fields, and everybody allowed is never told otherwise.
 */

type RootName = 'Query' | 'Mutation' | 'Subscription';
interface RootField {
  /** `Query.versions`, for test names. */
  id: string;
  root: RootName;
  name: string;
  access: Access | undefined;
  query: string;
  variables: Record<string, unknown>;
}

/** Values that coerce for each scalar; an unknown scalar fails loudly so it gets one. */
const SCALAR_VALUES: Record<string, () => unknown> = {
  ID: () => crypto.randomUUID(),
  String: () => '1.0.0',
  Int: () => 1,
  Float: () => 1.5,
  Boolean: () => true,
  DateTime: () => new Date(Date.now() + 3_600_000).toISOString(),
  DateTimeISO: () => new Date(Date.now() + 3_600_000).toISOString(),
  JSONObject: () => ({ probe: true }),
  JSON: () => ({ probe: true }),
  SafeInt: () => 1,
  BigInt: () => 1,
  UUID: () => crypto.randomUUID(),
  NonNegativeInt: () => 1,
  PositiveInt: () => 1,
  URL: () => 'https://example.com/probe',
};

/** A value of `type` that passes GraphQL coercion (required fields of inputs, one-item lists). */
function dummyValue(type: GraphQLInputType, path: string, seen: ReadonlySet<string> = new Set()): unknown {
  if (isNonNullType(type)) return dummyValue(type.ofType, path, seen);
  if (isListType(type)) return [dummyValue(type.ofType, `${path}[0]`, seen)];
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const inner = new Set(seen).add(type.name);
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      // Nullable fields too (more coercion exercised), except ones that would recurse.
      if (!isNonNullType(field.type) && inner.has(getNamedType(field.type).name)) continue;
      value[field.name] = dummyValue(field.type, `${path}.${field.name}`, inner);
    }
    return value;
  }
  if (isScalarType(type)) {
    const make = SCALAR_VALUES[type.name];
    if (!make) throw new Error(`no dummy value for scalar ${type.name} (at ${path}): add one to SCALAR_VALUES in ${import.meta.url}`);
    return make();
  }
  throw new Error(`unexpected input type at ${path}`);
}

function operationFor(root: RootName, field: GraphQLField<unknown, unknown>): Pick<RootField, 'query' | 'variables'> {
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  const args: string[] = [];
  for (const arg of field.args) {
    variables[arg.name] = dummyValue(arg.type, `${root}.${field.name}(${arg.name})`);
    definitions.push(`$${arg.name}: ${String(arg.type)}`);
    args.push(`${arg.name}: $${arg.name}`);
  }
  const selection = isCompositeType(getNamedType(field.type)) ? ' { __typename }' : '';
  const query =
    `${root.toLowerCase()} Probe_${field.name}${definitions.length ? `(${definitions.join(', ')})` : ''} ` +
    `{ ${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection} }`;
  return { query, variables };
}

const schema = await buildGraphQLSchema();
const rootFields: RootField[] = (
  [
    ['Query', schema.getQueryType()],
    ['Mutation', schema.getMutationType()],
    ['Subscription', schema.getSubscriptionType()],
  ] as [RootName, GraphQLObjectType | null | undefined][]
).flatMap(([root, type]) =>
  Object.values(type?.getFields() ?? {}).map((field) => ({ id: `${root}.${field.name}`, root, name: field.name, access: PERMISSIONS[root][field.name], ...operationFor(root, field) })),
);
const httpFields = rootFields.filter((field) => field.root !== 'Subscription');
const subscriptionFields = rootFields.filter((field) => field.root === 'Subscription');
const label = (field: RootField) => `${field.root}.${field.name} (${field.access ?? 'no rule'})`;

const DENIED = ['UNAUTHENTICATED', 'FORBIDDEN'];
const codesOf = (errors: { extensions?: { code?: string } }[] | undefined) => (errors ?? []).map((error) => error.extensions?.code);

let server: TestServer;
let anonymous: HttpClient;
let user: HttpClient;
let admin: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  anonymous = await server.client(null);
  user = await server.client('user');
  admin = await server.client('admin');
});
afterAll(() => server?.close());

describe('the schema walk', () => {
  it('finds the contract root fields (so an empty walk cannot pass silently)', () => {
    const names = rootFields.map((field) => `${field.root}.${field.name}`);
    for (const name of ['Query.versions', 'Query.version', 'Mutation.createVersion', 'Mutation.deprecateVersion', 'Subscription.versionPublished']) {
      expect(names).toContain(name);
    }
  });
});

describe.each(httpFields)('$id over HTTP', (field) => {
  it('is UNAUTHENTICATED (HTTP 401) without a token', async () => {
    const response = await anonymous.request(field.query, field.variables);
    expect(response.status).toBe(401);
    expect(codesOf(response.errors)).toEqual(['UNAUTHENTICATED']);
    expect(response.data ?? null).toBeNull();
  });

  it(`answers the user as its rule says: ${field.access === 'user' ? 'allowed' : 'FORBIDDEN'}`, async () => {
    const response = await user.request<Record<string, unknown>>(field.query, field.variables);
    if (field.access === 'user') {
      expect(codesOf(response.errors).filter((code) => DENIED.includes(code!)), label(field)).toEqual([]);
    } else {
      expect(codesOf(response.errors), label(field)).toEqual(['FORBIDDEN']);
      expect(response.data?.[field.name] ?? null).toBeNull();
    }
  });

  it('lets an admin through', async () => {
    const response = await admin.request(field.query, field.variables);
    expect(codesOf(response.errors).filter((code) => DENIED.includes(code!)), label(field)).toEqual([]);
  });
});

describe.each(httpFields)('$id over WebSocket', (field) => {
  it(`answers the user as its rule says: ${field.access === 'user' ? 'allowed' : 'FORBIDDEN'}; lets an admin through`, async () => {
    const [asUser, asAdmin] = await Promise.all([
      server.ws('user').then((client) => wsRequest(client, field.query, field.variables)),
      server.ws('admin').then((client) => wsRequest(client, field.query, field.variables)),
    ]);
    if (field.access === 'user') expect(codesOf(asUser.errors).filter((code) => DENIED.includes(code!)), label(field)).toEqual([]);
    else expect(codesOf(asUser.errors), label(field)).toEqual(['FORBIDDEN']);
    expect(codesOf(asAdmin.errors).filter((code) => DENIED.includes(code!)), label(field)).toEqual([]);
  });
});

describe('subscriptions', () => {
  it.each(subscriptionFields)('$id: the rule decides at subscribe time (user), admin always subscribes', async (field) => {
    for (const role of ['user', 'admin'] as const) {
      const client = await server.ws(role);
      const subscription = await subscribe(client, field.query, field.variables);
      // A query on the same socket round-trips after the subscribe message was handled.
      expect((await wsRequest(client, '{ __typename }')).data).toEqual({ __typename: 'Query' });
      if (role === 'user' && field.access !== 'user') {
        expect(codesOf(subscription.errors.flat() as never), label(field)).toEqual(['FORBIDDEN']);
      } else {
        expect(await subscription.quietFor(200)).toBe(true);
        expect(subscription.errors, `${role} on ${label(field)}`).toEqual([]);
      }
      subscription.close();
    }
  });

  it('refuses an admin mutation sent over WebSocket by a user, also behind an alias or a fragment, and runs nothing', async () => {
    const client = await server.ws('user');
    const extensionId = uniqueId();
    const mutations = [
      `mutation { createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id } }`,
      `mutation { innocent: createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id } }`,
      `mutation { ...F } fragment F on Mutation { createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id } }`,
      `mutation { ... on Mutation { createVersion(input: { version: "1.0.0", extensionId: "${extensionId}" }) { id } } }`,
    ];
    for (const mutation of mutations) {
      const outcome = await wsRequest(client, mutation);
      expect(codesOf(outcome.errors), mutation).toEqual(['FORBIDDEN']);
      expect(outcome.errors?.[0]?.message).toMatch(/admin/);
    }
    expect((await user.data(LatestVersionDocument, { extensionId })).latestVersion).toBeNull();
  });

  it('closes a WebSocket without a token with 4401', async () => {
    const closed = await wsCloseOf(server.wsUrl, {});
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/^UNAUTHENTICATED/);
  });

  it('closes a WebSocket with a bad token with 4401', async () => {
    const forged = await new jose.SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(USER_ID)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-that-is-long-enough-0123456789'));
    for (const authorization of [`Bearer ${forged}`, 'Bearer not.a.jwt', 'Token abc', 'Bearer', 42]) {
      const closed = await wsCloseOf(server.wsUrl, { authorization });
      expect(closed.code, String(authorization)).toBe(4401);
    }
  });

  it('closes the socket with 4401 when the token expires while connected', async () => {
    const token = await new jose.SignJWT({ role: 'user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(USER_ID)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const client = wsClient(server.wsUrl, token, resolve);
      void subscribe(client, 'subscription { versionPublished { id } }');
    });
    expect(await closed).toMatchObject({ code: 4401, reason: 'UNAUTHENTICATED: token expired' });
  });
});

describe('tokens', () => {
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);
  const sign = (claims: jose.JWTPayload, key: Uint8Array = secret, header: jose.JWTHeaderParameters = { alg: 'HS256', typ: 'JWT' }) =>
    new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
  const now = () => Math.floor(Date.now() / 1000);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  const cases: [string, () => Promise<string>][] = [
    ['an expired token', async () => `Bearer ${await sign({ sub: USER_ID, role: 'admin', exp: now() - 60, iat: now() - 3600 })}`],
    ['a token not valid yet (nbf)', async () => `Bearer ${await sign({ sub: USER_ID, role: 'admin', nbf: now() + 3600, exp: now() + 7200 })}`],
    ['a bad signature', async () => `Bearer ${await sign({ sub: USER_ID, role: 'admin', exp: now() + 600 }, new TextEncoder().encode('x'.repeat(48)))}`],
    ['a tampered payload', async () => {
      const [header, , signature] = (await sign({ sub: USER_ID, role: 'user', exp: now() + 600 })).split('.');
      return `Bearer ${header}.${b64({ sub: USER_ID, role: 'admin', exp: now() + 600 })}.${signature}`;
    }],
    ['alg: none', async () => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: USER_ID, role: 'admin', exp: now() + 600 })}.`],
    ['role "superuser"', async () => `Bearer ${await sign({ sub: USER_ID, role: 'superuser', exp: now() + 600 })}`],
    ['no role', async () => `Bearer ${await sign({ sub: USER_ID, exp: now() + 600 })}`],
    ['sub not a UUID', async () => `Bearer ${await sign({ sub: 'alice', role: 'admin', exp: now() + 600 })}`],
    ['no sub', async () => `Bearer ${await sign({ role: 'admin', exp: now() + 600 })}`],
    ['a malformed header "Token x"', async () => 'Token x'],
    ['a malformed header "Bearer"', async () => 'Bearer'],
    ['a malformed header "Bearer a b"', async () => 'Bearer a b'],
    ['a token that is not a JWT', async () => 'Bearer abc.def.ghi'],
  ];

  it.each(cases)('%s is UNAUTHENTICATED (HTTP 401) with a reason', async (_name, authorization) => {
    const header = await authorization();
    const response = await new HttpClient(server.graphqlUrl, undefined).request('{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }', undefined, {
      authorization: header,
    });
    expect(response.status).toBe(401);
    expect(codesOf(response.errors)).toEqual(['UNAUTHENTICATED']);
    expect(response.errors?.[0]?.message).toMatch(/token|Bearer|Authorization/i);
    expect(response.data ?? null).toBeNull();
    expect((await wsCloseOf(server.wsUrl, { authorization: header })).code).toBe(4401);
  });

  it('names the expiry when the token has expired', async () => {
    const token = await sign({ sub: USER_ID, role: 'user', exp: now() - 60 });
    const response = await new HttpClient(server.graphqlUrl, token).request('{ __typename }');
    expect(response.errors?.[0]?.message).toContain('expired');
  });

  it('accepts a valid token with an upper-case UUID and the "bearer" scheme in any case', async () => {
    const token = await sign({ sub: USER_ID.toUpperCase(), role: 'admin', exp: now() + 600 });
    const extensionId = uniqueId();
    const response = await new HttpClient(server.graphqlUrl, undefined).request(
      CreateVersionDocument,
      { input: { version: '1.0.0', extensionId } },
      { authorization: `bearer ${token}` },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?.createVersion.releasedBy).toBe(USER_ID);
  });
});

describe('JWKS (RS256/ES256 from an identity provider)', () => {
  let jwks: http.Server;
  let jwksServer: TestServer;
  let rsaKey: jose.CryptoKey;
  let ecKey: jose.CryptoKey;

  beforeAll(async () => {
    const rsa = await jose.generateKeyPair('RS256');
    const ec = await jose.generateKeyPair('ES256');
    rsaKey = rsa.privateKey;
    ecKey = ec.privateKey;
    const keys = [
      { ...(await jose.exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await jose.exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    // JWT_SECRET stays set (baseEnv): a JWKS deployment must still refuse HS256 tokens signed with it.
    jwksServer = await startTestServer({ JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });
  afterAll(async () => {
    await jwksServer?.close();
    jwks?.closeAllConnections();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  const issue = (key: jose.CryptoKey, alg: string, kid: string, role = 'admin') =>
    new jose.SignJWT({ role }).setProtectedHeader({ alg, kid }).setSubject(USER_ID).setIssuedAt().setExpirationTime('10m').sign(key);

  it('accepts RS256 and ES256 tokens signed by the keys the JWKS publishes, on HTTP and WebSocket', async () => {
    for (const token of [await issue(rsaKey, 'RS256', 'rsa-1'), await issue(ecKey, 'ES256', 'ec-1')]) {
      const client = new HttpClient(jwksServer.graphqlUrl, token);
      const { createVersion } = await client.data(CreateVersionDocument, { input: { version: '1.0.0', extensionId: uniqueId() } });
      expect(createVersion.releasedBy).toBe(USER_ID);
      const ws = wsClient(jwksServer.wsUrl, token);
      const outcome = await wsRequest(ws, VersionByIdDocument, { id: createVersion.id });
      expect(outcome.data?.version?.id).toBe(createVersion.id);
      await ws.dispose();
    }
  });

  it('rejects an HS256 token signed with JWT_SECRET, and one signed by a key the JWKS does not list', async () => {
    const hs256 = await mintHs256();
    const stranger = await issue((await jose.generateKeyPair('RS256')).privateKey, 'RS256', 'rsa-1');
    for (const token of [hs256, stranger]) {
      const response = await new HttpClient(jwksServer.graphqlUrl, token).request('{ __typename }');
      expect(response.status).toBe(401);
      expect(codesOf(response.errors)).toEqual(['UNAUTHENTICATED']);
      expect((await wsCloseOf(jwksServer.wsUrl, { authorization: `Bearer ${token}` })).code).toBe(4401);
    }
  });

  it('still applies the role rule to JWKS tokens', async () => {
    const token = await issue(rsaKey, 'RS256', 'rsa-1', 'user');
    const response = await new HttpClient(jwksServer.graphqlUrl, token).request(CreateVersionDocument, { input: { version: '1.0.0', extensionId: uniqueId() } });
    expect(codesOf(response.errors)).toEqual(['FORBIDDEN']);
  });

  function mintHs256() {
    return new jose.SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(USER_ID)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  }
});
