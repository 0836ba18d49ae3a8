import crypto from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';

import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import type { Config } from '../config.js';
import { ProviderError, type ByteRange, type CdnProvider, type InvalidationResult, type PutInfo } from './provider.js';
import { encodeKeyPath, isRetryableFailure, networkErrorCode, objectKeyProblem, parseRetryAfter, redactSecrets } from './remote.js';

const MIB = 1024 * 1024;

export interface S3ProviderOptions {
  /** Bucket that holds every region's objects (S3_BUCKET). */
  bucket: string;
  /** Public base URL of the objects, no trailing slash (CDN_BASE_URL). */
  publicBaseUrl: string;
  /** Regions (CDN_REGIONS). Default `['default']`: one region, keys stored without a prefix. */
  regions?: readonly string[];
  /** S3 API endpoint (S3_ENDPOINT). Unset: AWS S3 for `signingRegion`. */
  endpoint?: string;
  /** Region requests are signed for (S3_REGION; R2 accepts `auto` or `us-east-1`). Default `us-east-1`. */
  signingRegion?: string;
  /** Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted stores. Default false. */
  forcePathStyle?: boolean;
  /**
   * Explicit credentials. Default: the SDK's default chain (AWS_ACCESS_KEY_ID /
   * AWS_SECRET_ACCESS_KEY, shared config files, instance roles), resolved at the first request;
   * none found fails that request with a non-retryable ProviderError.
   */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Multipart part size in bytes (minimum and default 8 MiB; S3's floor is 5 MiB). Memory held
   * per upload is about `partSize × queueSize`; bodies no larger than one part go up in a single
   * PutObject.
   */
  partSize?: number;
  /** Parts uploaded in parallel per upload (default 4). */
  queueSize?: number;
  /**
   * Attempts per S3 request, including the first (default 3). A failed part is retried by the
   * SDK without restarting the whole upload; the CDN service retries whole operations on top.
   */
  maxAttempts?: number;
  /** Milliseconds a request may wait for the socket to connect (default 10 s). */
  connectionTimeoutMs?: number;
  /** Milliseconds a socket may stay idle mid-request before the request fails (default 120 s). */
  requestTimeoutMs?: number;
  /** Provider name used in messages (`S3`, `R2`…). Default `S3`. */
  label?: string;
}

/**
 * Artifacts in any S3-compatible store (AWS S3, Cloudflare R2, MinIO…), uploaded with streaming
 * multipart uploads and served straight from the store or a CDN in front of it (CDN_BASE_URL).
 *
 * Regions: all regions share one bucket. The region `default` stores keys as they are; every
 * other region stores them under a `<region>/` prefix, so `CDN_REGIONS=us-east,eu-west` gives
 * `us-east/<key>` and `eu-west/<key>` in S3_BUCKET, served at `CDN_BASE_URL/us-east/<key>` and
 * `CDN_BASE_URL/eu-west/<key>` (point each prefix at that region's origin in the CDN, or use
 * bucket replication rules keyed on the prefix).
 *
 * Every object carries Content-Type, Cache-Control and its sha256 as `x-amz-meta-sha256`; the
 * bytes are checked against the declared size and sha256 while they stream, and a mismatch
 * fails the upload before the object is committed. A failed upload leaves no object: S3 commits
 * an object only when the single PutObject or CompleteMultipartUpload succeeds, and the parts of
 * an abandoned multipart upload are aborted (when the store cannot be reached any more, the
 * bucket needs an AbortIncompleteMultipartUpload lifecycle rule to reclaim them).
 *
 * There is no edge cache of its own: `invalidate` resolves `{ reference: null }`.
 */
export class S3Provider implements CdnProvider {
  readonly name: CdnProvider['name'] = 's3';
  readonly regions: readonly string[];
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly publicBaseUrl: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly label: string;
  private readonly endpointLabel: string;

  constructor(options: S3ProviderOptions) {
    this.bucket = options.bucket;
    this.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '');
    this.regions = options.regions && options.regions.length > 0 ? [...options.regions] : ['default'];
    this.partSize = Math.max(options.partSize ?? 8 * MIB, 5 * MIB);
    this.queueSize = Math.max(1, options.queueSize ?? 4);
    this.label = options.label ?? 'S3';
    this.endpointLabel = options.endpoint ?? `AWS S3 (${options.signingRegion ?? 'us-east-1'})`;
    this.client = new S3Client({
      region: options.signingRegion ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? 10_000,
        requestTimeout: options.requestTimeoutMs ?? 120_000,
      },
      // The SDK's default adds CRC32 checksums (aws-chunked trailers on streams) that several
      // S3-compatible stores reject or mis-store; integrity comes from the sha256 check below
      // and from SigV4 signing instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** The provider CDN_PROVIDER=s3 selects, from the parsed configuration. */
  static fromConfig(config: Config, overrides: Partial<S3ProviderOptions> = {}): S3Provider {
    return new S3Provider({ ...s3OptionsFromConfig(config), ...overrides });
  }

  /** The key inside the bucket: `<region>/<key>`, or `<key>` for the region `default`. */
  objectKey(region: string, key: string): string {
    if (!this.regions.includes(region)) {
      throw new ProviderError(`${this.label}: unknown region "${region}" (configured: ${this.regions.join(', ')})`, { retryable: false });
    }
    const problem = objectKeyProblem(key);
    if (problem) throw new ProviderError(`${this.label}: invalid object key ${JSON.stringify(key)}: ${problem}`, { retryable: false });
    return region === 'default' ? key : `${region}/${key}`;
  }

  publicUrl(region: string, key: string): string {
    return `${this.publicBaseUrl}/${encodeKeyPath(this.objectKey(region, key))}`;
  }

  /**
   * Streams `body` to the store. The provider owns `body` from here: it is consumed, and
   * destroyed when the upload fails. Rejects with a non-retryable ProviderError when the body
   * does not match `info.size`/`info.checksum` or itself fails, and with the store's failure
   * (retryable for 429/5xx/network) otherwise; either way no object is left under the key.
   */
  async put(region: string, key: string, body: Readable, info: PutInfo): Promise<void> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(region, key);
      if (!Number.isSafeInteger(info.size) || info.size < 0) throw new ProviderError(`${this.label}: invalid size ${info.size} for ${key}`, { retryable: false });
      if (!/^[0-9a-f]{64}$/.test(info.checksum)) throw new ProviderError(`${this.label}: invalid sha256 ${JSON.stringify(info.checksum)} for ${key}`, { retryable: false });
    } catch (error) {
      body.destroy();
      throw error;
    }

    // Piped by hand, not with pipeline(): when the upload fails and stops reading, Node destroys
    // `verified` with an AbortError, and pipeline() would push that into `body`, making a store
    // outage look like a failing body. Only the body's own errors are the body's fault.
    let sourceError: unknown;
    const verified = new VerifyingStream(info.size, info.checksum);
    // Its failures surface through the upload reading it; this keeps them from being unhandled.
    verified.on('error', () => {});
    body.on('error', (error) => {
      sourceError ??= error;
      verified.destroy(error);
    });
    body.pipe(verified);

    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: objectKey,
        Body: verified,
        ContentLength: info.size,
        ContentType: info.contentType,
        CacheControl: info.cacheControl,
        Metadata: { sha256: info.checksum },
      },
      // S3 allows 10,000 parts: bodies beyond partSize × 10,000 get bigger parts.
      partSize: Math.max(this.partSize, Math.ceil(info.size / 10_000)),
      queueSize: this.queueSize,
      // Aborted below instead, so the upload's own failure (not the abort's) is reported.
      leavePartsOnError: true,
    });
    if (info.onProgress) {
      const onProgress = info.onProgress;
      let reported = -1;
      let reportedAt = 0;
      upload.on('httpUploadProgress', ({ loaded }) => {
        if (loaded === undefined || loaded <= reported) return;
        const now = Date.now();
        if (loaded < info.size && now - reportedAt < 250) return;
        reported = loaded;
        reportedAt = now;
        onProgress(loaded);
      });
    }

    try {
      await upload.done();
    } catch (error) {
      body.destroy();
      verified.destroy();
      const abortProblem = await this.abortMultipartUpload(objectKey, upload.uploadId);
      const where = `s3://${this.bucket}/${objectKey}`;
      if (error instanceof BodyMismatchError) {
        throw new ProviderError(`${this.label} upload of ${where} refused: ${error.message}${abortProblem}`, { retryable: false });
      }
      if (sourceError !== undefined) {
        throw new ProviderError(`${this.label} upload of ${where} failed: reading the body failed: ${(sourceError as Error).message}${abortProblem}`, {
          retryable: false,
          cause: sourceError,
        });
      }
      throw await this.failure('upload of', objectKey, error, abortProblem);
    }
  }

  /**
   * Stores under `targetKey` the bytes already under `sourceKey` in the same region with a
   * server-side CopyObject (nothing is sent again), with `info`'s Content-Type, Cache-Control and
   * sha256. Rejects with a non-retryable ProviderError, so the caller falls back to `put`, when
   * the source is missing, its recorded sha256 is not `info.checksum`, or it is larger than
   * CopyObject's 5 GiB limit.
   */
  async copy(region: string, sourceKey: string, targetKey: string, info: PutInfo): Promise<void> {
    const source = this.objectKey(region, sourceKey);
    const target = this.objectKey(region, targetKey);
    let head;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: source }));
    } catch (error) {
      throw await this.failure('copy source lookup of', source, error);
    }
    if (head.Metadata?.sha256 !== info.checksum || head.ContentLength !== info.size) {
      throw new ProviderError(`${this.label}: s3://${this.bucket}/${source} does not hold the bytes with sha256 ${info.checksum}; not copying it to ${target}`, { retryable: false, status: 409 });
    }
    if (info.size > 5 * 1024 ** 3) {
      throw new ProviderError(`${this.label}: s3://${this.bucket}/${source} is larger than CopyObject's 5 GiB limit; upload it instead`, { retryable: false });
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: target,
          CopySource: `${this.bucket}/${encodeKeyPath(source)}`,
          // Only copy what was checked above, even if the source changed in between.
          ...(head.ETag ? { CopySourceIfMatch: head.ETag } : {}),
          MetadataDirective: 'REPLACE',
          ContentType: info.contentType,
          CacheControl: info.cacheControl,
          Metadata: { sha256: info.checksum },
        }),
      );
    } catch (error) {
      throw await this.failure('copy to', target, error, ` from s3://${this.bucket}/${source}`);
    }
  }

  async get(region: string, key: string, range?: ByteRange): Promise<Readable> {
    const objectKey = this.objectKey(region, key);
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      throw new ProviderError(`${this.label}: invalid byte range ${range.start}-${range.end} for s3://${this.bucket}/${objectKey}`, { retryable: false, status: 416 });
    }
    try {
      const output = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      const body = output.Body;
      if (body === undefined) return Readable.from([]);
      if (body instanceof Readable) return body;
      return Readable.fromWeb((body as { transformToWebStream(): import('node:stream/web').ReadableStream }).transformToWebStream());
    } catch (error) {
      throw await this.failure('read of', objectKey, error);
    }
  }

  async exists(region: string, key: string): Promise<boolean> {
    const objectKey = this.objectKey(region, key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw await this.failure('lookup of', objectKey, error);
    }
  }

  async delete(region: string, key: string): Promise<void> {
    const objectKey = this.objectKey(region, key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      // S3 answers 204 for a missing key; some compatible stores answer 404. Both mean "gone".
      if (statusOf(error) === 404) return;
      throw await this.failure('delete of', objectKey, error);
    }
  }

  /** A bare bucket has no edge cache to invalidate. */
  async invalidate(_paths: readonly string[]): Promise<InvalidationResult> {
    return { reference: null };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Aborts an unfinished multipart upload; returns a note for the error message when that failed. */
  private async abortMultipartUpload(objectKey: string, uploadId: string | undefined): Promise<string> {
    if (!uploadId) return '';
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }));
      return '';
    } catch (error) {
      const reason = networkErrorCode(error) ?? (error as Error).name ?? 'error';
      return ` (its incomplete multipart upload could not be aborted: ${reason}; no object exists, and an AbortIncompleteMultipartUpload lifecycle rule reclaims the parts)`;
    }
  }

  /** Maps an SDK or socket failure to a ProviderError naming the object, never the credentials. */
  private async failure(action: string, objectKey: string, error: unknown, suffix = ''): Promise<ProviderError> {
    if (error instanceof ProviderError) return error;
    const status = statusOf(error);
    const name = (error as { name?: string }).name ?? 'Error';
    const network = networkErrorCode(error);
    const where = `s3://${this.bucket}/${objectKey}`;
    let detail: string;
    if (network) {
      detail = `cannot reach ${this.endpointLabel} (${network})`;
    } else if (name === 'CredentialsProviderError') {
      detail = 'no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another source of the AWS default chain)';
    } else if (status === undefined) {
      detail = `${name}: ${(error as Error).message}`;
    } else {
      const hint = ERROR_HINTS[name] ?? (status === 403 ? 'access denied: check the credentials and the bucket policy' : undefined);
      const message = (error as Error).message;
      const told = message && message !== 'UnknownError' && message !== name ? `: ${message}` : '';
      detail = `${name === 'Unknown' || name === 'UnknownError' ? 'error' : name} (HTTP ${status})${told}${hint ? ` (${hint})` : ''}`;
    }
    let secrets: string[] = [];
    try {
      const credentials = await this.client.config.credentials();
      secrets = [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken ?? ''];
    } catch {
      // No credentials resolved: nothing to redact.
    }
    const retryAfterMs = parseRetryAfter((error as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['retry-after']);
    return new ProviderError(redactSecrets(`${this.label} ${action} ${where} failed: ${detail}${suffix}`, secrets), {
      retryable: isRetryableFailure(status, error),
      ...(status !== undefined ? { status } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      // A summary rather than the SDK error: that one carries the raw HTTP response.
      cause: { name, status, code: network, requestId: (error as { $metadata?: { requestId?: string } }).$metadata?.requestId },
    });
  }
}

/** What the usual S3 error codes mean for whoever reads the log. */
const ERROR_HINTS: Record<string, string> = {
  SignatureDoesNotMatch: 'the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY',
  InvalidAccessKeyId: 'the store does not know this access key: check AWS_ACCESS_KEY_ID',
  NoSuchBucket: 'the bucket does not exist: check S3_BUCKET',
  AccessDenied: 'access denied: check the credentials and the bucket policy',
  InvalidRange: 'the range lies outside the object',
};

function statusOf(error: unknown): number | undefined {
  const withMetadata = error as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } };
  return withMetadata?.$metadata?.httpStatusCode ?? withMetadata?.$response?.statusCode;
}

/** S3 provider options from the parsed configuration (shared by the cloudfront and cloudflare providers). */
export function s3OptionsFromConfig(config: Config): S3ProviderOptions {
  if (!config.s3.bucket) throw new ProviderError('S3_BUCKET is required for this CDN provider', { retryable: false });
  if (!config.cdnBaseUrl) throw new ProviderError('CDN_BASE_URL is required for this CDN provider', { retryable: false });
  return {
    bucket: config.s3.bucket,
    publicBaseUrl: config.cdnBaseUrl,
    regions: config.cdnRegions,
    ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
    signingRegion: config.s3.region,
    forcePathStyle: config.s3.forcePathStyle,
  };
}

/** The body did not match the size or sha256 the caller declared. */
class BodyMismatchError extends Error {
  override name = 'BodyMismatchError';
}

/**
 * Passes bytes through while counting and hashing them; fails as soon as the body runs past
 * the declared size, and at the end when the size or sha256 differ, so the upload never
 * reaches its commit with bytes other than the ones promised.
 */
class VerifyingStream extends Transform {
  private readonly hash = crypto.createHash('sha256');
  private seen = 0;

  constructor(
    private readonly expectedSize: number,
    private readonly expectedChecksum: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expectedSize) {
      callback(new BodyMismatchError(`the body is longer than the declared ${this.expectedSize} bytes`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.seen !== this.expectedSize) {
      callback(new BodyMismatchError(`the body ended after ${this.seen} of the declared ${this.expectedSize} bytes`));
      return;
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedChecksum) {
      callback(new BodyMismatchError(`the body's sha256 is ${actual}, not the declared ${this.expectedChecksum}`));
      return;
    }
    callback();
  }
}

/**
 * Base of the providers that keep bytes in an S3-compatible store and put an edge cache in
 * front of it (cloudfront, cloudflare): storage calls go to the S3 provider unchanged; the
 * subclass supplies `invalidate`.
 */
export abstract class S3BackedProvider implements CdnProvider {
  abstract readonly name: CdnProvider['name'];
  readonly regions: readonly string[];

  constructor(readonly storage: S3Provider) {
    this.regions = storage.regions;
  }

  put(region: string, key: string, body: Readable, info: PutInfo): Promise<void> {
    return this.storage.put(region, key, body, info);
  }

  get(region: string, key: string, range?: ByteRange): Promise<Readable> {
    return this.storage.get(region, key, range);
  }

  exists(region: string, key: string): Promise<boolean> {
    return this.storage.exists(region, key);
  }

  copy(region: string, sourceKey: string, targetKey: string, info: PutInfo): Promise<void> {
    return this.storage.copy(region, sourceKey, targetKey, info);
  }

  delete(region: string, key: string): Promise<void> {
    return this.storage.delete(region, key);
  }

  publicUrl(region: string, key: string): string {
    return this.storage.publicUrl(region, key);
  }

  abstract invalidate(paths: readonly string[]): Promise<InvalidationResult>;

  async close(): Promise<void> {
    await this.storage.close();
  }
}
