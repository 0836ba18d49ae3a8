import type { Config } from '../config.js';
import { ProviderError, type InvalidationResult } from './provider.js';
import { inBatches, invalidationPathProblem, isRetryableFailure, networkErrorCode, parseRetryAfter, redactSecrets } from './remote.js';
import { S3BackedProvider, S3Provider, s3OptionsFromConfig, type S3ProviderOptions } from './s3.js';

/** Cloudflare's documented ceiling of URLs per purge-by-URL request (all plans). */
export const CLOUDFLARE_MAX_URLS_PER_REQUEST = 30;
export const CLOUDFLARE_DEFAULT_API_URL = 'https://api.cloudflare.com/client/v4';

export interface CloudflareProviderOptions {
  /** Where the bytes live: R2 through its S3 API (an S3Provider or its options). */
  storage: S3Provider | S3ProviderOptions;
  /** CLOUDFLARE_ZONE_ID: the zone serving CDN_BASE_URL. */
  zoneId: string;
  /** CDN_API_KEY: an API token with the Cache Purge permission. Never logged or put in messages. */
  apiToken: string;
  /** CDN_BASE_URL: purged URLs are its origin + each path. */
  publicBaseUrl: string;
  /** CLOUDFLARE_API_URL (default https://api.cloudflare.com/client/v4). */
  apiUrl?: string;
  /** URLs per purge request (default 30; raise only for plans that allow more). */
  maxUrlsPerRequest?: number;
  /** Milliseconds a purge request may take before it fails as retryable (default 30 s). */
  requestTimeoutMs?: number;
}

/** The envelope every Cloudflare v4 API answer comes in. */
interface CloudflareEnvelope {
  success?: boolean;
  errors?: Array<{ code?: number; message?: string }>;
  messages?: unknown[];
  result?: { id?: string } | null;
}

/**
 * Cloudflare R2 storage (through its S3 API; see S3Provider) served through a Cloudflare zone.
 * `invalidate` purges the absolute URLs `<origin of CDN_BASE_URL><path>` with
 * `POST /zones/{zoneId}/purge_cache {"files": [...]}`, 30 URLs per request, and resolves the
 * purge id (ids joined with `,` when there were several requests).
 *
 * Failures: 429 (with `retryAfterMs` from Retry-After), 5xx and network errors or timeouts are
 * retryable ProviderErrors; 4xx (bad token, wrong zone…) and `success: false` are not, and carry
 * Cloudflare's own error messages. The token never appears in a message.
 */
export class CloudflareProvider extends S3BackedProvider {
  readonly name = 'cloudflare' as const;
  readonly zoneId: string;
  private readonly apiToken: string;
  private readonly apiUrl: string;
  private readonly origin: string;
  private readonly maxUrls: number;
  private readonly timeoutMs: number;

  constructor(options: CloudflareProviderOptions) {
    super(options.storage instanceof S3Provider ? options.storage : new S3Provider({ label: 'R2', ...options.storage }));
    this.zoneId = options.zoneId;
    this.apiToken = options.apiToken;
    this.apiUrl = (options.apiUrl ?? CLOUDFLARE_DEFAULT_API_URL).replace(/\/+$/, '');
    this.origin = new URL(options.publicBaseUrl).origin;
    this.maxUrls = Math.max(1, Math.floor(options.maxUrlsPerRequest ?? CLOUDFLARE_MAX_URLS_PER_REQUEST));
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** The provider CDN_PROVIDER=cloudflare selects, from the parsed configuration. */
  static fromConfig(config: Config, overrides: Partial<CloudflareProviderOptions> = {}): CloudflareProvider {
    if (!config.cloudflare.zoneId) throw new ProviderError('CLOUDFLARE_ZONE_ID is required when CDN_PROVIDER=cloudflare', { retryable: false });
    if (!config.cdnApiKey) throw new ProviderError('CDN_API_KEY is required when CDN_PROVIDER=cloudflare', { retryable: false });
    const storage = s3OptionsFromConfig(config);
    return new CloudflareProvider({
      storage,
      zoneId: config.cloudflare.zoneId,
      apiToken: config.cdnApiKey,
      publicBaseUrl: storage.publicBaseUrl,
      apiUrl: config.cloudflare.apiUrl,
      ...overrides,
    });
  }

  async invalidate(paths: readonly string[]): Promise<InvalidationResult> {
    const unique = [...new Set(paths)];
    for (const path of unique) {
      const problem = invalidationPathProblem(path);
      if (problem) throw new ProviderError(`Cloudflare purge refused: ${problem}`, { retryable: false, status: 400 });
    }
    if (unique.length === 0) return { reference: null };

    const references: string[] = [];
    const batches = inBatches(unique.map((path) => `${this.origin}${path}`), this.maxUrls);
    for (const [index, files] of batches.entries()) {
      const progress = batches.length > 1 ? ` (request ${index + 1} of ${batches.length}${references.length ? `; purged before it: ${references.join(', ')}` : ''})` : '';
      references.push(await this.purge(files, progress));
    }
    return { reference: references.join(','), references };
  }

  /** One purge_cache request; resolves its purge id. */
  private async purge(files: string[], progress: string): Promise<string> {
    const what = `Cloudflare purge of ${files.length} URL(s) in zone ${this.zoneId}`;
    let response: Response;
    try {
      response = await fetch(`${this.apiUrl}/zones/${encodeURIComponent(this.zoneId)}/purge_cache`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.apiToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ files }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const reason = networkErrorCode(error) ?? ((error as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (error as Error).message);
      throw new ProviderError(this.redact(`${what} failed: cannot reach the Cloudflare API (${reason})${progress}`), {
        retryable: true,
        cause: { name: (error as Error).name, code: networkErrorCode(error) },
      });
    }

    const text = await response.text().catch(() => '');
    let envelope: CloudflareEnvelope | undefined;
    try {
      envelope = JSON.parse(text) as CloudflareEnvelope;
    } catch {
      envelope = undefined;
    }
    const status = response.status;
    const id = envelope?.result?.id;
    if (response.ok && envelope?.success === true && typeof id === 'string' && id !== '') return id;

    const retryable = isRetryableFailure(status);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    const told = envelope?.errors?.length
      ? envelope.errors.map((error) => `${error.message ?? 'error'}${error.code !== undefined ? ` (code ${error.code})` : ''}`).join('; ')
      : envelope === undefined
        ? `a non-JSON answer${text ? `: ${text.slice(0, 200)}` : ''}`
        : response.ok
          ? 'an answer without success and a purge id'
          : 'no error details';
    throw new ProviderError(this.redact(`${what} failed: HTTP ${status}: ${told}${progress}`), {
      retryable,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      cause: { status, errors: envelope?.errors },
    });
  }

  private redact(message: string): string {
    return redactSecrets(message, [this.apiToken]);
  }
}
