import { DistributionService } from './distribution/service.js';

export { DistributionService } from './distribution/service.js';
export type * from './distribution/store.js';

/**
 * The seed's entry point: a ready DistributionService over the shared runtime (the server's
 * once it started, else one opened from the environment). Seed call shapes are positional and
 * live on this instance; `checkForUpdates(currentVersion, extensionId, productId?, clientId?,
 * includePrerelease?)` is added by the update-check module.
 */
export class UpdateDistributionService extends DistributionService {}

export const updateDistributionService = new UpdateDistributionService();
