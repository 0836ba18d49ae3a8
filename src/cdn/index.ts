import type { Config } from '../config.js';
import { CloudflareProvider } from './cloudflare.js';
import { CloudFrontProvider } from './cloudfront.js';
import type { CdnProvider } from './provider.js';
import { S3Provider } from './s3.js';

export { ProviderError, type CdnProvider, type PutInfo, type ByteRange, type InvalidationResult } from './provider.js';

/**
 * The provider CDN_PROVIDER selects, built from the parsed configuration. Performs no I/O:
 * remote credentials and endpoints are first used by the first request. Throws ProviderError
 * when a variable the provider needs is missing (config.ts already refuses that at start-up).
 */
export function createCdnProvider(config: Config): CdnProvider {
  switch (config.cdnProvider) {
    case 'local':
      // Placeholder until the core engineer's src/cdn/local.ts lands; replace with its constructor.
      throw new Error('local provider not wired yet');
    case 's3':
      return S3Provider.fromConfig(config);
    case 'cloudfront':
      return CloudFrontProvider.fromConfig(config);
    case 'cloudflare':
      return CloudflareProvider.fromConfig(config);
  }
}
