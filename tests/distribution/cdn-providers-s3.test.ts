import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CloudflareProvider } from '../../src/cdn/cloudflare.js';
import { CloudFrontProvider } from '../../src/cdn/cloudfront.js';
import { createCdnProvider } from '../../src/cdn/index.js';
import { ProviderError, type PutInfo } from '../../src/cdn/provider.js';
import { S3Provider, type S3ProviderOptions } from '../../src/cdn/s3.js';
import { loadConfig } from '../../src/config.js';
import { closedPortUrl } from '../helpers/closedPort.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3rver.js';
import { startStallingProxy } from '../helpers/stallingProxy.js';

/**
 * The S3 provider against a real S3-speaking server (@20minutes/s3rver, started here on
 * loopback with its buckets created at start-up, so it checks every SigV4 signature).
 */

const MIB = 1024 * 1024;
const BUCKET = 'artifacts';

let s3: S3Server;
const providers: S3Provider[] = [];

beforeAll(async () => {
  s3 = await startS3Server([BUCKET]);
});

afterEach(async () => {
  await Promise.all(providers.splice(0).map((provider) => provider.close()));
});

afterAll(async () => {
  await s3?.close();
});

function provider(overrides: Partial<S3ProviderOptions> = {}): S3Provider {
  const created = new S3Provider({
    bucket: BUCKET,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    // s3rver serves objects at path-style URLs, so it is also the "CDN" here.
    publicBaseUrl: `${s3.endpoint}/${BUCKET}`,
    credentials: { ...S3RVER_CREDENTIALS },
    // S3's smallest part, so a 12 MiB body goes up as three parts.
    partSize: 5 * MIB,
    // Keep failure tests quick: one retry per request.
    maxAttempts: 2,
    ...overrides,
  });
  providers.push(created);
  return created;
}

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

/** A streaming body in 64 KiB chunks, as a file read would deliver it. */
function streamOf(bytes: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += 64 * 1024) yield bytes.subarray(offset, offset + 64 * 1024);
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function infoFor(bytes: Buffer, extra: Partial<PutInfo> = {}): PutInfo {
  return { size: bytes.length, checksum: sha256(bytes), contentType: 'application/zip', cacheControl: 'public, max-age=31536000, immutable', ...extra };
}

const uniqueKey = (name = 'extension.zip') => `${crypto.randomBytes(1).toString('hex')}/${crypto.randomBytes(1).toString('hex')}/${crypto.randomBytes(16).toString('hex')}/${name}`;

describe('S3 provider against a real S3 server', () => {
  const body = crypto.randomBytes(12 * MIB);

  it('uploads a 12 MiB body as 5 MiB parts and serves the same bytes with their Content-Type, Cache-Control and sha256 at the public URL', async () => {
    const store = provider();
    const key = uniqueKey();
    const progress: number[] = [];
    await store.put('default', key, streamOf(body), infoFor(body, { onProgress: (sent) => progress.push(sent) }));

    // Several reports (one per finished part at most), rising, ending at the full size.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(body.length);

    const url = store.publicUrl('default', key);
    expect(url).toBe(`${s3.endpoint}/${BUCKET}/${key}`);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('x-amz-meta-sha256')).toBe(sha256(body));
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(body));

    expect(sha256(await readAll(await store.get('default', key)))).toBe(sha256(body));
  });

  it('reads a byte range that spans a part boundary', async () => {
    const store = provider();
    const key = uniqueKey();
    await store.put('default', key, streamOf(body), infoFor(body));
    const range = { start: 5 * MIB - 10, end: 5 * MIB + 9 };
    const slice = await readAll(await store.get('default', key, range));
    expect(slice.equals(body.subarray(range.start, range.end + 1))).toBe(true);
  });

  it('stores a small body in one request and keeps a file name with spaces and "+" reachable at its public URL', async () => {
    const store = provider();
    const small = Buffer.from('{"name":"dev-forge-extension","version":"1.2.3"}');
    const key = uniqueKey('my extension+v1.2.3.json');
    await store.put('default', key, streamOf(small), infoFor(small, { contentType: 'application/json' }));
    const response = await fetch(store.publicUrl('default', key));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe(small.toString());
  });

  it('reports existence, deletes, and treats a second delete as done', async () => {
    const store = provider();
    const key = uniqueKey();
    const bytes = crypto.randomBytes(1024);
    expect(await store.exists('default', key)).toBe(false);
    await store.put('default', key, streamOf(bytes), infoFor(bytes));
    expect(await store.exists('default', key)).toBe(true);

    await store.delete('default', key);
    expect(await store.exists('default', key)).toBe(false);
    expect((await fetch(store.publicUrl('default', key))).status).toBe(404);
    await expect(store.delete('default', key)).resolves.toBeUndefined();

    const missing = await store.get('default', key).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ProviderError);
    expect(missing).toMatchObject({ retryable: false, status: 404 });
    expect((missing as Error).message).toContain(key);
  });

  it('keeps one prefix per region when CDN_REGIONS lists several, and refuses an unknown region', async () => {
    const store = provider({ regions: ['us-east', 'eu-west'] });
    const key = uniqueKey();
    const bytes = crypto.randomBytes(2048);
    await store.put('eu-west', key, streamOf(bytes), infoFor(bytes));

    expect(await store.exists('eu-west', key)).toBe(true);
    expect(await store.exists('us-east', key)).toBe(false);
    expect(store.publicUrl('eu-west', key)).toBe(`${s3.endpoint}/${BUCKET}/eu-west/${key}`);
    expect(sha256(Buffer.from(await (await fetch(store.publicUrl('eu-west', key))).arrayBuffer()))).toBe(sha256(bytes));

    await expect(store.exists('ap-south', key)).rejects.toThrow(/unknown region "ap-south"/);
  });

  it('refuses keys that could escape their prefix', async () => {
    const store = provider();
    for (const key of ['/etc/passwd', 'a/../../b', 'a//b', '']) {
      const error = await store.exists('default', key).catch((caught: unknown) => caught);
      expect(error, key).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).retryable).toBe(false);
    }
  });

  it('rejects bytes that do not match the declared sha256 and leaves no object', async () => {
    const store = provider();
    const key = uniqueKey();
    const put = store.put('default', key, streamOf(body), infoFor(body, { checksum: sha256(Buffer.from('something else')) }));
    await expect(put).rejects.toBeInstanceOf(ProviderError);
    await expect(put).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/sha256/) });
    expect(await store.exists('default', key)).toBe(false);
  });

  it('rejects a body shorter than its declared size and leaves no object', async () => {
    const store = provider();
    const key = uniqueKey();
    const put = store.put('default', key, streamOf(body.subarray(0, 6 * MIB)), infoFor(body));
    await expect(put).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/ended after 6291456 of the declared 12582912 bytes/) });
    expect(await store.exists('default', key)).toBe(false);
  });

  it('a body that fails while being read rejects as non-retryable with its own error, and leaves no object', async () => {
    const store = provider();
    const key = uniqueKey();
    const diskError = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const failing = new Readable({
      read() {
        // 6 MiB arrive (one part goes up), then the disk fails.
        this.push(body.subarray(0, 6 * MIB));
        queueMicrotask(() => this.destroy(diskError));
      },
    });
    const error = await store.put('default', key, failing, infoFor(body)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: false, message: expect.stringContaining('reading the body failed: EIO: i/o error, read') });
    expect((error as ProviderError).options.cause).toBe(diskError);
    expect(await store.exists('default', key)).toBe(false);
  });

  it('fails with a non-retryable ProviderError, without the secret, when the signature does not match', async () => {
    const wrongSecret = 'not-the-secret-key-for-this-account-0123';
    const store = provider({ credentials: { accessKeyId: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: wrongSecret } });
    const key = uniqueKey();
    const bytes = crypto.randomBytes(1024);

    const put = await store.put('default', key, streamOf(bytes), infoFor(bytes)).catch((error: unknown) => error);
    expect(put).toBeInstanceOf(ProviderError);
    expect(put).toMatchObject({ retryable: false, status: 403 });
    expect((put as Error).message).toContain(`s3://${BUCKET}/${key}`);
    expect((put as Error).message).toContain('SignatureDoesNotMatch');
    expect((put as Error).message).not.toContain(wrongSecret);

    // A lookup must not mistake "forbidden" for "absent".
    await expect(store.exists('default', key)).rejects.toMatchObject({ retryable: false, status: 403 });
    expect(await provider().exists('default', key)).toBe(false);
  });

  it('copies stored bytes to a new key server-side, with the new Content-Type, and refuses a source whose sha256 differs', async () => {
    const store = provider();
    const bytes = crypto.randomBytes(64 * 1024);
    const source = uniqueKey('first.zip');
    const target = uniqueKey('again.tgz');
    await store.put('default', source, streamOf(bytes), infoFor(bytes));

    await store.copy('default', source, target, infoFor(bytes, { contentType: 'application/gzip' }));
    const response = await fetch(store.publicUrl('default', target));
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('x-amz-meta-sha256')).toBe(sha256(bytes));
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(bytes));

    // The service falls back to put when copy rejects: a mismatch must reject, not copy.
    const other = crypto.randomBytes(64 * 1024);
    const refused = uniqueKey('other.zip');
    await expect(store.copy('default', source, refused, infoFor(other))).rejects.toMatchObject({ retryable: false, status: 409 });
    await expect(store.copy('default', uniqueKey('missing.zip'), refused, infoFor(bytes))).rejects.toMatchObject({ retryable: false, status: 404 });
    expect(await store.exists('default', refused)).toBe(false);
  });

  it('has no edge cache: invalidate resolves a null reference', async () => {
    await expect(provider().invalidate(['/a/b'])).resolves.toEqual({ reference: null });
  });

  it('the cloudfront and cloudflare providers store through the same S3 path', async () => {
    const options = {
      bucket: BUCKET,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      publicBaseUrl: `${s3.endpoint}/${BUCKET}`,
      credentials: { ...S3RVER_CREDENTIALS },
    };
    const cloudfront = new CloudFrontProvider({ storage: options, distributionId: 'EDFDVBD6EXAMPLE' });
    const cloudflare = new CloudflareProvider({ storage: options, zoneId: 'zone', apiToken: 'token-not-used-here', publicBaseUrl: options.publicBaseUrl });
    try {
      for (const edge of [cloudfront, cloudflare]) {
        const key = uniqueKey();
        const bytes = crypto.randomBytes(4096);
        await edge.put('default', key, streamOf(bytes), infoFor(bytes));
        expect(await edge.exists('default', key)).toBe(true);
        expect(sha256(Buffer.from(await (await fetch(edge.publicUrl('default', key))).arrayBuffer()))).toBe(sha256(bytes));
        await edge.delete('default', key);
        expect(await edge.exists('default', key)).toBe(false);
      }
    } finally {
      await Promise.all([cloudfront.close(), cloudflare.close()]);
    }
  });

  it('createCdnProvider(CDN_PROVIDER=s3) signs with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    const store = createCdnProvider(
      loadConfig({ CDN_PROVIDER: 's3', S3_ENDPOINT: s3.endpoint, S3_BUCKET: BUCKET, CDN_BASE_URL: `${s3.endpoint}/${BUCKET}/`, CDN_REGIONS: 'us-east,eu-west' }),
    );
    try {
      expect(store.name).toBe('s3');
      expect(store.regions).toEqual(['us-east', 'eu-west']);
      const key = uniqueKey();
      const bytes = crypto.randomBytes(512);
      await store.put('us-east', key, streamOf(bytes), infoFor(bytes));
      expect(store.publicUrl('us-east', key)).toBe(`${s3.endpoint}/${BUCKET}/us-east/${key}`);
      expect(await store.exists('us-east', key)).toBe(true);
    } finally {
      await store.close?.();
      for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('store fails mid-upload: killing the S3 server rejects put with a retryable ProviderError naming the key, and no object exists after restart', async () => {
    const store = provider();
    const key = uniqueKey();
    const source = new PassThrough();
    let firstPartStored!: () => void;
    const partStored = new Promise<void>((resolve) => (firstPartStored = resolve));
    const put = store
      .put('default', key, source, infoFor(body, { onProgress: (sent) => sent >= 5 * MIB && firstPartStored() }))
      .catch((error: unknown) => error);

    // Half the body: the first 5 MiB part goes up while the rest is still to come.
    source.write(body.subarray(0, 6 * MIB));
    await partStored;
    await s3.kill();
    source.end(body.subarray(6 * MIB));

    const error = await put;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).message).toContain(`s3://${BUCKET}/${key}`);
    expect((error as Error).message).toMatch(/ECONNREFUSED|ECONNRESET|EPIPE/);
    expect(source.destroyed).toBe(true);

    await s3.restart();
    expect(await store.exists('default', key)).toBe(false);
    expect((await fetch(store.publicUrl('default', key))).status).toBe(404);
  });

  it('store dies while a part is in flight: a file-backed upload rejects as retryable (a network failure, not a bad body) and leaves no object', async () => {
    const proxy = await startStallingProxy(s3.port);
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 's3-provider-body-'));
    try {
      // More parts than the upload queue holds, so most of the file is still unread when the store dies.
      const large = crypto.randomBytes(40 * MIB);
      const file = path.join(directory, 'extension.bin');
      await fs.writeFile(file, large);
      const store = provider({ endpoint: proxy.url });
      const key = uniqueKey();
      // 12 MiB reach the store, then parts are cut off in the middle of their requests.
      const cut = proxy.stallAfter(12 * MIB);
      const put = store.put('default', key, createReadStream(file), infoFor(large)).catch((error: unknown) => error);
      await cut;
      await s3.kill();

      const error = await put;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('cannot reach') });
      expect((error as Error).message).toContain(`s3://${BUCKET}/${key}`);

      proxy.disarm();
      await s3.restart();
      expect(await store.exists('default', key)).toBe(false);
    } finally {
      await proxy.close();
      await fs.rm(directory, { recursive: true, force: true });
    }
  });

  it('reports an unreachable store as retryable rather than as a missing object', async () => {
    const store = provider({ endpoint: await closedPortUrl(), maxAttempts: 1 });
    const error = await store.exists('default', 'a/b/c.zip').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
  });
});
