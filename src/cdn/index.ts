import type { Config } from '../config.js';
import { CloudflareProvider } from './cloudflare.js';
import { CloudFrontProvider } from './cloudfront.js';
import { LocalCdnProvider } from './local.js';
import type { CdnProvider } from './provider.js';
import { S3Provider } from './s3.js';

export { ProviderError, type CdnProvider, type PutInfo, type ByteRange, type InvalidationResult } from './provider.js';

export interface CreateProviderOptions {
  /**
   * Base URL of files served by this server (`local` only), read on every use: CDN_BASE_URL, or
   * `<server url>/cdn` once the server knows its port. Default: CDN_BASE_URL, else
   * `http://localhost:<PORT>/cdn`.
   */
  publicBaseUrl?: () => string;
}

/**
 * The provider CDN_PROVIDER selects, built from the parsed configuration. Performs no I/O:
 * remote credentials and endpoints are first used by the first request. Throws ProviderError
 * when a variable the provider needs is missing (config.ts already refuses that at start-up).
 */
export function createCdnProvider(config: Config, options: CreateProviderOptions = {}): CdnProvider {
  switch (config.cdnProvider) {
    case 'local':
      return LocalCdnProvider.fromConfig(config, options.publicBaseUrl ?? (() => config.cdnBaseUrl ?? `http://localhost:${config.port}/cdn`));
    case 's3':
      return S3Provider.fromConfig(config);
    case 'cloudfront':
      return CloudFrontProvider.fromConfig(config);
    case 'cloudflare':
      return CloudflareProvider.fromConfig(config);
  }
}
