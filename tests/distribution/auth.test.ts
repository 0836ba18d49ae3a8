import http from 'node:http';
import type { AddressInfo } from 'node:net';

import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CreateVersionDocument, LatestVersionDocument, VersionByIdDocument } from '../generated/graphql.js';
import { HttpClient, subscribe, wsClient, wsCloseOf, wsRequest } from '../helpers/client.js';
import { startTestServer, TEST_JWT_SECRET, USER_ID, uniqueId, type TestServer } from '../helpers/server.js';

/**
 * Authentication: which tokens are accepted on HTTP and WebSocket, and refusals that do not
 * depend on one field's rule (aliases, fragments). Who may call which root field is the access
 * matrix in access-matrix.test.ts, checked against the written specification tests/spec/access.ts.
 */

const codesOf = (errors: { extensions?: { code?: string } }[] | undefined) => (errors ?? []).map((error) => error.extensions?.code);

let server: TestServer;
let user: HttpClient;

beforeAll(async () => {
  server = await startTestServer();
  user = await server.client('user');
});
afterAll(() => server?.close());

describe('subscriptions', () => {
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
