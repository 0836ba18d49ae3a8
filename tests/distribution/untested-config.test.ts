import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CloudFrontProvider } from '../../src/cdn/cloudfront.js';
import { S3Provider } from '../../src/cdn/s3.js';
import { loadConfig } from '../../src/config.js';
import { UploadCdnFileDocument } from '../generated/graphql.js';
import { download, putInUploads, randomBytes, sha256 } from '../helpers/cdnFiles.js';
import { HttpClient, wsCloseOf } from '../helpers/client.js';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { runServerExpectingExit, startTestServer, TEST_JWT_SECRET, USER_ID, type TestServer } from '../helpers/server.js';

/**
 * Issue 11.3: configuration users rely on that no other test touched — the token issuer and
 * audience, the S3 addressing style and signing region, a CloudFront provider without its
 * distribution, and a local CDN_BASE_URL with a path of its own.
 */

const codesOf = (errors: { extensions?: { code?: string } }[] | undefined) => (errors ?? []).map((error) => error.extensions?.code);
const now = () => Math.floor(Date.now() / 1000);
const COMPARE = '{ compareVersions(version1: "1.0.0", version2: "1.0.1") { result } }';

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  const ISSUER = 'https://id.example.com/';
  const AUDIENCE = 'dev-forge-distribution';
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });
  afterAll(() => server?.close());

  const sign = (claims: jose.JWTPayload) =>
    new jose.SignJWT({ sub: USER_ID, role: 'user', iat: now(), exp: now() + 600, ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));

  it('accepts a token with the configured issuer and audience (also when aud is a list holding it)', async () => {
    for (const aud of [AUDIENCE, ['another-api', AUDIENCE]]) {
      const response = await new HttpClient(server.graphqlUrl, await sign({ iss: ISSUER, aud })).request(COMPARE);
      expect(response.errors, JSON.stringify(aud)).toBeUndefined();
      expect(response.data).toEqual({ compareVersions: { result: -1 } });
    }
  });

  it.each([
    ['another issuer', { iss: 'https://evil.example.com/', aud: AUDIENCE }, 'iss'],
    ['no issuer', { aud: AUDIENCE }, 'iss'],
    ['another audience', { iss: ISSUER, aud: 'another-api' }, 'aud'],
    ['no audience', { iss: ISSUER }, 'aud'],
  ])('refuses a token with %s: 401 UNAUTHENTICATED naming the claim, and WebSocket close 4401', async (_name, claims, claim) => {
    const token = await sign(claims);
    const response = await new HttpClient(server.graphqlUrl, token).request(COMPARE);
    expect(response.status).toBe(401);
    expect(codesOf(response.errors)).toEqual(['UNAUTHENTICATED']);
    expect(response.errors?.[0]?.message).toBe(`Invalid bearer token: claim "${claim}" is not valid`);
    expect(response.data ?? null).toBeNull();
    expect((await wsCloseOf(server.wsUrl, { authorization: `Bearer ${token}` })).code).toBe(4401);
  });

  it('a server without them accepts tokens whatever their iss and aud', async () => {
    const plain = await startTestServer();
    try {
      const response = await new HttpClient(plain.graphqlUrl, await sign({ iss: 'anyone', aud: 'anything' })).request(COMPARE);
      expect(response.errors).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

describe('S3_FORCE_PATH_STYLE and the S3 region variables', () => {
  let store: Recorder;
  const base = { CDN_PROVIDER: 's3', S3_BUCKET: 'artifacts', CDN_BASE_URL: 'https://cdn.example.com' };

  beforeAll(async () => {
    store = await startRecorder();
  });
  afterAll(() => store?.close());

  /** One HEAD (exists) through a provider built from `env` against the recorder; the requests it made. */
  async function lookUp(env: Record<string, string>) {
    store.answer({ status: 404 });
    const config = loadConfig({ ...base, S3_ENDPOINT: store.url.replace('127.0.0.1', 'localhost'), ...env });
    const provider = S3Provider.fromConfig(config, { credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, maxAttempts: 1 });
    const outcome = await provider.exists('default', 'releases/app.zip').then(
      (found) => ({ found, error: undefined as string | undefined }),
      (error: Error) => ({ found: undefined, error: error.message }),
    );
    return { config, outcome, requests: [...store.requests] };
  }
  const scopeOf = (authorization: string | string[] | undefined) => /Credential=AKIDEXAMPLE\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(String(authorization))?.[1];

  it('with S3_ENDPOINT and no S3_FORCE_PATH_STYLE, asks for endpoint/bucket/key (path style)', async () => {
    const { config, outcome, requests } = await lookUp({});
    expect(config.s3.forcePathStyle).toBe(true);
    expect(outcome).toEqual({ found: false, error: undefined });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'HEAD', url: '/artifacts/releases/app.zip' });
    expect(requests[0]!.headers.host).toBe(new URL(store.url).host.replace('127.0.0.1', 'localhost'));
  });

  it('S3_FORCE_PATH_STYLE=false puts the bucket in the host name, never in the path', async () => {
    const { config, outcome, requests } = await lookUp({ S3_FORCE_PATH_STYLE: 'false' });
    expect(config.s3.forcePathStyle).toBe(false);
    expect(requests.filter((request) => request.url.startsWith('/artifacts'))).toEqual([]);
    if (requests.length === 0) {
      // This machine does not resolve artifacts.localhost: the virtual host could not be reached.
      expect(outcome.error).toMatch(/^S3 lookup of s3:\/\/artifacts\/releases\/app\.zip failed: cannot reach .* \(ENOTFOUND\)$/);
    } else {
      expect(requests[0]).toMatchObject({ method: 'HEAD', url: '/releases/app.zip' });
      expect(requests[0]!.headers.host).toMatch(/^artifacts\.localhost:\d+$/);
    }
  });

  it('without an endpoint (AWS itself) path style is off unless S3_FORCE_PATH_STYLE=true; other values are refused', () => {
    expect(loadConfig(base).s3.forcePathStyle).toBe(false);
    expect(loadConfig({ ...base, S3_FORCE_PATH_STYLE: 'true' }).s3.forcePathStyle).toBe(true);
    expect(() => loadConfig({ ...base, S3_FORCE_PATH_STYLE: 'yes' })).toThrow('S3_FORCE_PATH_STYLE="yes" is invalid: expected true or false');
  });

  it('signs for S3_REGION, else AWS_REGION, else us-east-1', async () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'us-east-1'],
      [{ AWS_REGION: 'ap-south-1' }, 'ap-south-1'],
      [{ S3_REGION: 'eu-central-1', AWS_REGION: 'ap-south-1' }, 'eu-central-1'],
    ];
    for (const [env, region] of cases) {
      const { config, requests } = await lookUp(env);
      expect(config.s3.region, JSON.stringify(env)).toBe(region);
      expect(requests.map((request) => scopeOf(request.headers.authorization)), JSON.stringify(env)).toEqual([region]);
    }
  });
});

describe('CDN_PROVIDER=cloudfront without CLOUDFRONT_DISTRIBUTION_ID', () => {
  const env = { CDN_PROVIDER: 'cloudfront', S3_BUCKET: 'artifacts', CDN_BASE_URL: 'https://d111111abcdef8.cloudfront.net' };

  it('the server refuses to start: exit code 1 and exactly one line naming the variable', { timeout: 30_000 }, async () => {
    const { code, output } = await runServerExpectingExit({ ...env, JWT_SECRET: TEST_JWT_SECRET });
    expect(code).toBe(1);
    expect(output.trim().split('\n')).toEqual(['configuration error: CLOUDFRONT_DISTRIBUTION_ID is required when CDN_PROVIDER=cloudfront']);
  });

  it('the provider built without one refuses too, naming it', () => {
    const config = loadConfig({ ...env, CLOUDFRONT_DISTRIBUTION_ID: 'E2EXAMPLE' });
    expect(() => CloudFrontProvider.fromConfig({ ...config, cloudfront: { ...config.cloudfront, distributionId: undefined } })).toThrow(
      'CLOUDFRONT_DISTRIBUTION_ID is required when CDN_PROVIDER=cloudfront',
    );
  });
});

describe('CDN_BASE_URL with a path of its own on the local provider', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ CDN_BASE_URL: 'https://downloads.example.com/static/files/' });
  });
  afterAll(() => server?.close());

  it('cdnUrl starts with CDN_BASE_URL, and this server serves the file under that path, not under /cdn', async () => {
    const admin = await server.client('admin');
    const bytes = randomBytes(3000);
    const filePath = putInUploads(server, 'custom-base/app.zip', bytes);
    const { uploadCdnFile } = await admin.data(UploadCdnFileDocument, { input: { filePath } });
    expect(uploadCdnFile.cdnUrl.startsWith('https://downloads.example.com/static/files/')).toBe(true);
    const rest = uploadCdnFile.cdnUrl.slice('https://downloads.example.com/static/files/'.length);
    expect(rest).not.toBe('');

    const served = await download(`${server.url}/static/files/${rest}`);
    expect(served.status).toBe(200);
    expect(sha256(served.body)).toBe(sha256(bytes));
    expect((await download(`${server.url}/cdn/${rest}`)).status).toBe(404);
  });
});
