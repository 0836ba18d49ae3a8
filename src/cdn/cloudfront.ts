import crypto from 'node:crypto';

import { CloudFrontClient, CreateInvalidationCommand, type CloudFrontClientConfig } from '@aws-sdk/client-cloudfront';

import type { Config } from '../config.js';
import { ProviderError, type InvalidationResult } from './provider.js';
import { inBatches, invalidationPathProblem, isRetryableFailure, networkErrorCode, parseRetryAfter, redactSecrets } from './remote.js';
import { S3BackedProvider, S3Provider, s3OptionsFromConfig, type S3ProviderOptions } from './s3.js';

/** CloudFront's documented ceilings per invalidation request. */
export const CLOUDFRONT_MAX_PATHS_PER_REQUEST = 3000;
export const CLOUDFRONT_MAX_WILDCARDS_PER_REQUEST = 15;

export interface CloudFrontProviderOptions {
  /** Where the bytes live: the S3 provider (or its options) behind the distribution. */
  storage: S3Provider | S3ProviderOptions;
  /** CLOUDFRONT_DISTRIBUTION_ID. */
  distributionId: string;
  /** CloudFront API endpoint override (CLOUDFRONT_ENDPOINT; tests). Default: AWS's global endpoint. */
  endpoint?: string;
  /** Explicit credentials. Default: the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY…). */
  credentials?: CloudFrontClientConfig['credentials'];
  /**
   * Attempts per CreateInvalidation call (default 1). The CDN service retries invalidations
   * with backoff and records each attempt, so the SDK does not retry behind its back.
   */
  maxAttempts?: number;
  /** Paths per request (default and maximum 3,000). */
  maxPathsPerRequest?: number;
  /** Wildcard (`*`) paths per request (default and maximum 15, CloudFront's in-progress limit). */
  maxWildcardsPerRequest?: number;
  /** Milliseconds a request may take before it fails as retryable (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * S3 storage behind a CloudFront distribution. Uploads, reads and deletes go to the bucket
 * (see S3Provider); `invalidate` creates CloudFront invalidations for the given URL paths,
 * de-duplicated and split into as many CreateInvalidation requests as CloudFront's limits
 * need, each with a fresh CallerReference. Resolves the invalidation Id (ids joined with `,`
 * when there were several requests).
 *
 * Failures: 429, 5xx, `TooManyInvalidationsInProgress` and `Throttling` (CloudFront answers
 * those with 400) and network errors are retryable ProviderErrors carrying `retryAfterMs` when
 * CloudFront sent Retry-After; anything else (403 AccessDenied, 404 NoSuchDistribution, bad
 * paths) is not. When a later batch fails, the earlier ones have been created; retrying the
 * whole call invalidates them again, which is harmless.
 */
export class CloudFrontProvider extends S3BackedProvider {
  readonly name = 'cloudfront' as const;
  readonly distributionId: string;
  private readonly client: CloudFrontClient;
  private readonly maxPaths: number;
  private readonly maxWildcards: number;

  constructor(options: CloudFrontProviderOptions) {
    super(options.storage instanceof S3Provider ? options.storage : new S3Provider(options.storage));
    this.distributionId = options.distributionId;
    this.maxPaths = clamp(options.maxPathsPerRequest ?? CLOUDFRONT_MAX_PATHS_PER_REQUEST, 1, CLOUDFRONT_MAX_PATHS_PER_REQUEST);
    this.maxWildcards = clamp(options.maxWildcardsPerRequest ?? CLOUDFRONT_MAX_WILDCARDS_PER_REQUEST, 1, CLOUDFRONT_MAX_WILDCARDS_PER_REQUEST);
    this.client = new CloudFrontClient({
      // CloudFront is a global service signed for us-east-1.
      region: 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? 1,
      requestHandler: { connectionTimeout: 10_000, requestTimeout: options.requestTimeoutMs ?? 30_000 },
    });
  }

  /** The provider CDN_PROVIDER=cloudfront selects, from the parsed configuration. */
  static fromConfig(config: Config, overrides: Partial<CloudFrontProviderOptions> = {}): CloudFrontProvider {
    if (!config.cloudfront.distributionId) throw new ProviderError('CLOUDFRONT_DISTRIBUTION_ID is required when CDN_PROVIDER=cloudfront', { retryable: false });
    return new CloudFrontProvider({
      storage: s3OptionsFromConfig(config),
      distributionId: config.cloudfront.distributionId,
      ...(config.cloudfront.endpoint ? { endpoint: config.cloudfront.endpoint } : {}),
      ...overrides,
    });
  }

  async invalidate(paths: readonly string[]): Promise<InvalidationResult> {
    const unique = [...new Set(paths)];
    for (const path of unique) {
      const problem = invalidationPathProblem(path);
      if (problem) throw new ProviderError(`CloudFront invalidation refused: ${problem}`, { retryable: false, status: 400 });
    }
    if (unique.length === 0) return { reference: null };

    const references: string[] = [];
    const batches = this.batches(unique);
    for (const [index, batch] of batches.entries()) {
      try {
        const output = await this.client.send(
          new CreateInvalidationCommand({
            DistributionId: this.distributionId,
            InvalidationBatch: {
              // Unique per request: CloudFront treats a repeated reference as the same request.
              CallerReference: `dev-forge-${Date.now()}-${crypto.randomUUID()}`,
              Paths: { Quantity: batch.length, Items: batch },
            },
          }),
        );
        const id = output.Invalidation?.Id;
        if (!id) throw new ProviderError(`CloudFront accepted an invalidation on distribution ${this.distributionId} but returned no Id`, { retryable: true, status: 201 });
        references.push(id);
      } catch (error) {
        const progress = batches.length > 1 ? ` (request ${index + 1} of ${batches.length}${references.length ? `; created before it: ${references.join(', ')}` : ''})` : '';
        throw await this.failure(batch.length, error, progress);
      }
    }
    return { reference: references.join(','), references };
  }

  override async close(): Promise<void> {
    this.client.destroy();
    await super.close();
  }

  /** Splits paths into requests of at most `maxPaths` paths, `maxWildcards` of them wildcards. */
  private batches(paths: string[]): string[][] {
    const wildcards = paths.filter((path) => path.includes('*'));
    const exact = paths.filter((path) => !path.includes('*'));
    const batches = inBatches(wildcards, this.maxWildcards);
    // Fill the wildcard batches up with exact paths before opening new ones.
    let next = 0;
    for (const batch of batches) {
      const room = this.maxPaths - batch.length;
      batch.push(...exact.slice(next, next + room));
      next += room;
    }
    batches.push(...inBatches(exact.slice(next), this.maxPaths));
    return batches;
  }

  private async failure(pathCount: number, error: unknown, progress: string): Promise<ProviderError> {
    if (error instanceof ProviderError) return error;
    const withResponse = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number; headers?: Record<string, string> } };
    const status = withResponse.$metadata?.httpStatusCode ?? withResponse.$response?.statusCode;
    const name = withResponse.name ?? 'Error';
    const network = networkErrorCode(error);
    const detail = network
      ? `cannot reach the CloudFront API (${network})`
      : name === 'CredentialsProviderError'
        ? 'no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
        : `${name}${status !== undefined ? ` (HTTP ${status})` : ''}${withResponse.message && withResponse.message !== name ? `: ${withResponse.message}` : ''}`;
    let secrets: string[] = [];
    try {
      const credentials = await this.client.config.credentials();
      secrets = [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken ?? ''];
    } catch {
      // No credentials resolved: nothing to redact.
    }
    const retryable = THROTTLING_CODES.has(name) || isRetryableFailure(status, error);
    const retryAfterMs = parseRetryAfter(withResponse.$response?.headers?.['retry-after']);
    return new ProviderError(redactSecrets(`CloudFront invalidation of ${pathCount} path(s) on distribution ${this.distributionId} failed: ${detail}${progress}`, secrets), {
      retryable,
      ...(status !== undefined ? { status } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      cause: { name, status, code: network },
    });
  }
}

/** CloudFront's "try again later" error codes, which it sends with HTTP 400. */
const THROTTLING_CODES = new Set(['TooManyInvalidationsInProgress', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded']);

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}
