import type { Readable } from 'node:stream';

/**
 * Where artifact bytes live and how edge caches are told to forget them. One interface, four
 * implementations selected by CDN_PROVIDER (see `createCdnProvider` in ./index.ts):
 * `local` (content-addressed files under DATA_DIR, served by this server), `s3` (any
 * S3-compatible store), `cloudfront` (s3 + CloudFront invalidations), `cloudflare` (R2 through
 * its S3 API + Cloudflare purge-cache).
 *
 * Keys are relative object keys, never starting with `/`, never containing `..`; the CDN
 * service chooses them: `<fileId>/<fileName>`, one key per uploaded file, so deleting a file
 * removes exactly its URL. Identical bytes are shared below the key (local: content-addressed
 * blobs; see `copy` and the `delete` hint). Every method names the region it acts
 * on; a provider with one origin uses the region name `default`.
 */
export interface CdnProvider {
  readonly name: 'local' | 's3' | 'cloudfront' | 'cloudflare';

  /** Regions uploads are replicated to, in configured order (CDN_REGIONS; `['default']` when unset). */
  readonly regions: readonly string[];

  /**
   * Stores `body` under `key` in one region, streaming (never buffering the whole body).
   * Resolves once the object is durable and readable; rejects with ProviderError otherwise,
   * leaving no partial object behind that `exists` would report.
   */
  put(region: string, key: string, body: Readable, info: PutInfo): Promise<void>;

  /** Opens a stored object for reading (replication from a healthy region, serving). Rejects with ProviderError (status 404) when absent. */
  get(region: string, key: string, range?: ByteRange): Promise<Readable>;

  /** True when the object exists in that region. */
  exists(region: string, key: string): Promise<boolean>;

  /**
   * Removes an object; resolves too when it was already gone. `hint.checksum` (the sha256 the
   * object was put with; the CDN service always passes it) lets a content-addressed store drop
   * the bytes once no other key shares them; stores that do not deduplicate ignore it.
   */
  delete(region: string, key: string, hint?: DeleteHint): Promise<void>;

  /**
   * Optional: stores under `targetKey` the bytes already stored under `sourceKey` in the same
   * region without sending them again (local: a hard link to the same content-addressed blob;
   * S3: a server-side CopyObject). The CDN service uses it when identical bytes are uploaded
   * again; when absent, or when it rejects, the service falls back to `put`.
   */
  copy?(region: string, sourceKey: string, targetKey: string, info: PutInfo): Promise<void>;

  /** The public URL clients download the object from in that region. */
  publicUrl(region: string, key: string): string;

  /**
   * Asks the edge to drop cached copies of these URL paths (each starting with `/`): the path
   * part of `publicUrl`, i.e. `new URL(publicUrl(region, key)).pathname`, including any path in
   * CDN_BASE_URL (CloudFront invalidates it as is; Cloudflare purges CDN_BASE_URL's origin + path).
   * Resolves the provider's reference for the request (CloudFront invalidation id, Cloudflare
   * purge id, null for `local`/`s3`, which have no edge cache). Rejects with ProviderError:
   * `retryable` for 429/5xx/network failures (with `retryAfterMs` when the API said so).
   */
  invalidate(paths: readonly string[]): Promise<InvalidationResult>;

  /** Releases clients/sockets (called at shutdown). */
  close?(): Promise<void>;
}

export interface PutInfo {
  /** Exact byte count of the body. */
  size: number;
  /** sha256 of the body, lowercase hex (stored as object metadata where the store allows). */
  checksum: string;
  contentType: string;
  cacheControl: string;
  /** Upload progress in bytes sent so far (called at most a few times per second). */
  onProgress?(bytesSent: number): void;
}

export interface DeleteHint {
  /** sha256 (lowercase hex) of the object's bytes. */
  checksum: string;
}

/** Inclusive byte range, as HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface InvalidationResult {
  /**
   * Provider's id for the request, null when there is no edge to invalidate. When the paths
   * needed several API requests (CloudFront: 3,000 paths or 15 wildcards each; Cloudflare: 30
   * URLs each), the ids joined with `,`.
   */
  reference: string | null;
  /** Each API request's id, in order, when there was at least one (optional: `local`/`s3` omit it). */
  references?: readonly string[];
}

/** A provider failure with what the caller needs to decide on a retry. Messages never contain credentials. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly options: {
      /** True for 429, 5xx and network failures: trying again later may succeed. */
      retryable: boolean;
      /** HTTP status from the store or API, when there was one. */
      status?: number;
      /** The API's Retry-After, in milliseconds. */
      retryAfterMs?: number;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
  }

  get retryable(): boolean {
    return this.options.retryable;
  }

  get status(): number | undefined {
    return this.options.status;
  }
}
