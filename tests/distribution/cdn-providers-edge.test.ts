import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CloudflareProvider } from '../../src/cdn/cloudflare.js';
import { CloudFrontProvider } from '../../src/cdn/cloudfront.js';
import { createCdnProvider } from '../../src/cdn/index.js';
import { ProviderError } from '../../src/cdn/provider.js';
import { loadConfig } from '../../src/config.js';
import { closedPortUrl } from '../helpers/closedPort.js';
import { startRecorder, type Recorder } from '../helpers/recorder.js';

/**
 * The CloudFront and Cloudflare invalidation APIs cannot be reached from here, so each provider
 * talks to a local HTTP server that records its requests and answers the way the real API
 * documents (CloudFront CreateInvalidation REST/XML 2020-05-31; Cloudflare v4 purge_cache JSON
 * envelope). The assertions are on the wire: paths, auth headers, batching and bodies, and on
 * what the caller gets back for success, throttling, outages and refusals.
 */

let api: Recorder;
beforeAll(async () => {
  api = await startRecorder();
});
afterAll(async () => {
  await api?.close();
});

/** Storage options for the S3 side, which these tests never touch. */
const unusedStorage = { bucket: 'artifacts', publicBaseUrl: 'https://cdn.example.com/files', credentials: { accessKeyId: 'AKIDUNUSED', secretAccessKey: 'unused-secret' } };

describe('CloudFront invalidations (CreateInvalidation at the HTTP boundary)', () => {
  const DISTRIBUTION = 'EDFDVBD6EXAMPLE';
  const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
  const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  const cloudfront = (maxPathsPerRequest?: number) =>
    new CloudFrontProvider({
      storage: unusedStorage,
      distributionId: DISTRIBUTION,
      endpoint: api.url,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      ...(maxPathsPerRequest ? { maxPathsPerRequest } : {}),
    });

  /** The 201 answer CloudFront documents, echoing the batch it was sent. */
  const created = (id: string) => (request: { body: string }) => ({
    status: 201,
    headers: {
      'content-type': 'text/xml',
      location: `https://cloudfront.amazonaws.com/2020-05-31/distribution/${DISTRIBUTION}/invalidation/${id}`,
      'x-amz-request-id': `req-${id}`,
    },
    body: `<?xml version="1.0" encoding="UTF-8"?>
<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <Id>${id}</Id>
  <Status>InProgress</Status>
  <CreateTime>2026-11-26T06:00:00.000Z</CreateTime>
  ${/<InvalidationBatch[\s\S]*<\/InvalidationBatch>/.exec(request.body)?.[0] ?? ''}
</Invalidation>`,
  });

  /** CloudFront's error envelope. */
  const failed = (status: number, code: string, message: string, headers: Record<string, string> = {}) => ({
    status,
    headers: { 'content-type': 'text/xml', ...headers },
    body: `<?xml version="1.0"?>
<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>
  <RequestId>b0e6f7a2-0000-4000-8000-000000000000</RequestId>
</ErrorResponse>`,
  });

  const pathsOf = (body: string) => [...body.matchAll(/<Path>([^<]*)<\/Path>/g)].map((match) => match[1]!);
  const callerReferenceOf = (body: string) => /<CallerReference>([^<]+)<\/CallerReference>/.exec(body)?.[1];

  it('creates one signed invalidation for the paths and resolves its Id', async () => {
    api.answer(created('I2J0I21PCUYOIK'));
    const provider = cloudfront();
    const result = await provider.invalidate(['/files/ab/cd/e3b0/extension.zip', '/files/ab/cd/e3b0/extension.zip', '/files/eu-west/ab/cd/e3b0/extension.zip']);

    expect(result).toEqual({ reference: 'I2J0I21PCUYOIK', references: ['I2J0I21PCUYOIK'] });
    expect(api.requests).toHaveLength(1);
    const [request] = api.requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(`/2020-05-31/distribution/${DISTRIBUTION}/invalidation`);
    // SigV4 for the global CloudFront service, with the access key id only: never the secret.
    expect(request!.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/\\d{8}/us-east-1/cloudfront/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`));
    expect(JSON.stringify(request!.headers)).not.toContain(SECRET_KEY);
    // Duplicates collapse; Quantity matches the items.
    expect(pathsOf(request!.body)).toEqual(['/files/ab/cd/e3b0/extension.zip', '/files/eu-west/ab/cd/e3b0/extension.zip']);
    expect(request!.body).toContain('<Quantity>2</Quantity>');
    await provider.close();
  });

  it('uses a fresh CallerReference for every request, so a repeat is a new invalidation', async () => {
    api.answer(created('IFIRST'), created('ISECOND'));
    const provider = cloudfront();
    await provider.invalidate(['/a.zip']);
    await provider.invalidate(['/a.zip']);
    const references = api.requests.map((request) => callerReferenceOf(request.body));
    for (const reference of references) expect(reference).toMatch(/^dev-forge-\d+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(references).toHaveLength(2);
    expect(references[0]).not.toBe(references[1]);
    await provider.close();
  });

  it('splits paths into requests within CloudFront limits: 3,000 paths and 15 wildcards each', async () => {
    api.answer((_request, index) => created(`IBATCH${index + 1}`)(_request));
    const exact = Array.from({ length: 3001 }, (_, index) => `/files/pkg/${index}.zip`);
    const wildcards = Array.from({ length: 16 }, (_, index) => `/files/dir${index}/*`);
    const provider = cloudfront();
    const result = await provider.invalidate([...exact, ...wildcards]);

    expect(api.requests).toHaveLength(2);
    const batches = api.requests.map((request) => pathsOf(request.body));
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(3000);
      expect(batch.filter((path) => path.includes('*')).length).toBeLessThanOrEqual(15);
    }
    expect(batches.flat().sort()).toEqual([...exact, ...wildcards].sort());
    expect(result).toEqual({ reference: 'IBATCH1,IBATCH2', references: ['IBATCH1', 'IBATCH2'] });
    await provider.close();
  });

  it('TooManyInvalidationsInProgress (HTTP 400) is retryable, with Retry-After when CloudFront sends it', async () => {
    api.answer(failed(400, 'TooManyInvalidationsInProgress', 'Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.', { 'retry-after': '30' }));
    const provider = cloudfront();
    const error = await provider.invalidate(['/files/*']).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, status: 400, options: { retryAfterMs: 30_000 } });
    expect((error as Error).message).toContain('TooManyInvalidationsInProgress');
    expect((error as Error).message).toContain(DISTRIBUTION);
    // The CDN service owns retries (and counts attempts): the SDK made exactly one request.
    expect(api.requests).toHaveLength(1);
    await provider.close();
  });

  it('429 Throttling is retryable with retryAfterMs', async () => {
    api.answer(failed(429, 'Throttling', 'Rate exceeded', { 'retry-after': '2' }));
    const provider = cloudfront();
    await expect(provider.invalidate(['/a.zip'])).rejects.toMatchObject({ retryable: true, status: 429, options: { retryAfterMs: 2000 } });
    expect(api.requests).toHaveLength(1);
    await provider.close();
  });

  it('503 is retryable', async () => {
    api.answer(failed(503, 'ServiceUnavailable', 'CloudFront is temporarily unavailable.'));
    const provider = cloudfront();
    await expect(provider.invalidate(['/a.zip'])).rejects.toMatchObject({ retryable: true, status: 503 });
    await provider.close();
  });

  it('403 AccessDenied is not retryable and surfaces CloudFront\'s message without the secret', async () => {
    const message = `User: arn:aws:iam::123456789012:user/release is not authorized to perform: cloudfront:CreateInvalidation on resource: arn:aws:cloudfront::123456789012:distribution/${DISTRIBUTION}`;
    api.answer(failed(403, 'AccessDenied', message));
    const provider = cloudfront();
    const error = await provider.invalidate(['/a.zip']).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: false, status: 403 });
    expect((error as Error).message).toContain('AccessDenied');
    expect((error as Error).message).toContain('not authorized to perform: cloudfront:CreateInvalidation');
    expect((error as Error).message).not.toContain(SECRET_KEY);
    await provider.close();
  });

  it('a failing second batch names the invalidation already created', async () => {
    api.answer(created('IDONE'), failed(503, 'ServiceUnavailable', 'try later'));
    const provider = cloudfront(2);
    const error = await provider.invalidate(['/a', '/b', '/c']).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: true, status: 503 });
    expect((error as Error).message).toContain('request 2 of 2; created before it: IDONE');
    await provider.close();
  });

  it('refuses paths without a leading "/" or with ".." before calling CloudFront', async () => {
    api.answer(created('INEVER'));
    const provider = cloudfront();
    await expect(provider.invalidate(['files/a.zip'])).rejects.toMatchObject({ retryable: false });
    await expect(provider.invalidate(['/files/../secret'])).rejects.toMatchObject({ retryable: false });
    expect(api.requests).toHaveLength(0);
    expect(await provider.invalidate([])).toEqual({ reference: null });
    expect(api.requests).toHaveLength(0);
    await provider.close();
  });

  it('an unreachable API is a retryable failure', async () => {
    const provider = new CloudFrontProvider({ storage: unusedStorage, distributionId: DISTRIBUTION, endpoint: await closedPortUrl(), credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
    await expect(provider.invalidate(['/a.zip'])).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    await provider.close();
  });

  it('createCdnProvider(CDN_PROVIDER=cloudfront) targets CLOUDFRONT_DISTRIBUTION_ID at CLOUDFRONT_ENDPOINT', async () => {
    api.answer(created('ICONFIG'));
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
    const provider = createCdnProvider(
      loadConfig({ CDN_PROVIDER: 'cloudfront', S3_BUCKET: 'artifacts', CDN_BASE_URL: 'https://d111111abcdef8.cloudfront.net', CLOUDFRONT_DISTRIBUTION_ID: 'ECONFIGURED', CLOUDFRONT_ENDPOINT: api.url }),
    );
    try {
      expect(provider.name).toBe('cloudfront');
      expect(provider.publicUrl('default', 'ab/cd/x.zip')).toBe('https://d111111abcdef8.cloudfront.net/ab/cd/x.zip');
      expect(await provider.invalidate(['/ab/cd/x.zip'])).toMatchObject({ reference: 'ICONFIG' });
      expect(api.requests[0]!.url).toBe('/2020-05-31/distribution/ECONFIGURED/invalidation');
    } finally {
      await provider.close?.();
      for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('Cloudflare purge (purge_cache at the HTTP boundary)', () => {
  const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';
  const TOKEN = 'YQSn-xWAQiiEh9qM58wZNnyQS7FUdoqGIUAbrh7T';
  const BASE = 'https://downloads.example.com/files';

  const cloudflare = () => new CloudflareProvider({ storage: unusedStorage, zoneId: ZONE, apiToken: TOKEN, publicBaseUrl: BASE, apiUrl: `${api.url}/client/v4`, requestTimeoutMs: 2000 });

  const envelope = (status: number, body: object, headers: Record<string, string> = {}) => ({
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const purged = (id: string) => envelope(200, { success: true, errors: [], messages: [], result: { id } });
  const refused = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
    envelope(status, { success: false, errors: [{ code, message }], messages: [], result: null }, headers);

  it('purges the absolute URLs with the API token and resolves the purge id', async () => {
    api.answer(purged('9a7806061c88ada191ed06f989cc3dac'));
    const result = await cloudflare().invalidate(['/files/ab/cd/e3b0/extension.zip', '/files/eu-west/ab/cd/e3b0/extension.zip']);

    expect(result).toEqual({ reference: '9a7806061c88ada191ed06f989cc3dac', references: ['9a7806061c88ada191ed06f989cc3dac'] });
    expect(api.requests).toHaveLength(1);
    const [request] = api.requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(`/client/v4/zones/${ZONE}/purge_cache`);
    expect(request!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({
      files: ['https://downloads.example.com/files/ab/cd/e3b0/extension.zip', 'https://downloads.example.com/files/eu-west/ab/cd/e3b0/extension.zip'],
    });
  });

  it('sends at most 30 URLs per request and resolves every purge id in order', async () => {
    api.answer((_request, index) => purged(`purge-${index + 1}`));
    const paths = Array.from({ length: 65 }, (_, index) => `/files/pkg/${index}.zip`);
    const result = await cloudflare().invalidate(paths);

    const sent = api.requests.map((request) => (JSON.parse(request.body) as { files: string[] }).files);
    expect(sent.map((files) => files.length)).toEqual([30, 30, 5]);
    expect(sent.flat()).toEqual(paths.map((path) => `https://downloads.example.com${path}`));
    expect(result).toEqual({ reference: 'purge-1,purge-2,purge-3', references: ['purge-1', 'purge-2', 'purge-3'] });
  });

  it('429 is retryable and honours Retry-After', async () => {
    api.answer(refused(429, 971, 'Please wait and consider throttling your request speed', { 'retry-after': '7' }));
    const error = await cloudflare().invalidate(['/files/a.zip']).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, status: 429, options: { retryAfterMs: 7000 } });
    expect((error as Error).message).toContain('Please wait and consider throttling your request speed (code 971)');
    expect(api.requests).toHaveLength(1);
  });

  it('5xx is retryable, even when the answer is an HTML gateway page', async () => {
    api.answer({ status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' });
    await expect(cloudflare().invalidate(['/files/a.zip'])).rejects.toMatchObject({ retryable: true, status: 502 });
    api.answer(refused(500, 10001, 'Internal server error'));
    await expect(cloudflare().invalidate(['/files/a.zip'])).rejects.toMatchObject({ retryable: true, status: 500 });
  });

  it('403 (bad token) is not retryable, surfaces Cloudflare\'s message and never the token', async () => {
    api.answer(refused(403, 10000, 'Authentication error'));
    const error = await cloudflare().invalidate(['/files/a.zip']).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: false, status: 403 });
    expect((error as Error).message).toContain('Authentication error (code 10000)');
    expect((error as Error).message).toContain(ZONE);
    expect((error as Error).message).not.toContain(TOKEN);
    expect(JSON.stringify((error as ProviderError).options)).not.toContain(TOKEN);
  });

  it('an answer with success: false is a failure even with HTTP 200', async () => {
    api.answer(envelope(200, { success: false, errors: [{ code: 1012, message: 'Request must contain one of "purge_everything", "files", "tags", "hosts" or "prefixes"' }], messages: [], result: null }));
    await expect(cloudflare().invalidate(['/files/a.zip'])).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('(code 1012)') });
  });

  it('a failing later batch names the purges already done', async () => {
    api.answer(purged('purge-ok'), refused(503, 10001, 'Service unavailable'));
    const paths = Array.from({ length: 31 }, (_, index) => `/files/${index}.zip`);
    const error = await cloudflare().invalidate(paths).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: true, status: 503 });
    expect((error as Error).message).toContain('request 2 of 2; purged before it: purge-ok');
  });

  it('an API that does not answer in time is a retryable failure', async () => {
    api.answer({ status: 200, hang: true });
    const provider = new CloudflareProvider({ storage: unusedStorage, zoneId: ZONE, apiToken: TOKEN, publicBaseUrl: BASE, apiUrl: `${api.url}/client/v4`, requestTimeoutMs: 200 });
    await expect(provider.invalidate(['/files/a.zip'])).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('no answer within 200 ms') });
  });

  it('refuses bad paths before calling Cloudflare', async () => {
    api.answer(purged('never'));
    await expect(cloudflare().invalidate(['files/a.zip'])).rejects.toMatchObject({ retryable: false });
    await expect(cloudflare().invalidate(['/files/a b.zip'])).rejects.toMatchObject({ retryable: false });
    expect(api.requests).toHaveLength(0);
  });

  it('createCdnProvider(CDN_PROVIDER=cloudflare) purges through CLOUDFLARE_API_URL with CDN_API_KEY', async () => {
    api.answer(purged('purge-config'));
    const provider = createCdnProvider(
      loadConfig({
        CDN_PROVIDER: 'cloudflare',
        S3_ENDPOINT: 'https://account.r2.cloudflarestorage.com',
        S3_BUCKET: 'artifacts',
        CDN_BASE_URL: BASE,
        CDN_API_KEY: TOKEN,
        CLOUDFLARE_ZONE_ID: ZONE,
        CLOUDFLARE_API_URL: `${api.url}/client/v4`,
      }),
    );
    try {
      expect(provider.name).toBe('cloudflare');
      const url = provider.publicUrl('default', 'ab/cd/x.zip');
      expect(url).toBe(`${BASE}/ab/cd/x.zip`);
      // The documented way to name a file's cached copy: its public URL's path.
      expect(await provider.invalidate([new URL(url).pathname])).toMatchObject({ reference: 'purge-config' });
      expect(JSON.parse(api.requests[0]!.body)).toEqual({ files: [url] });
      expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    } finally {
      await provider.close?.();
    }
  });
});
