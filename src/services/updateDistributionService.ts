import { DistributionService, type UpdateInfo } from './distribution/service.js';

export { DistributionService } from './distribution/service.js';
export type * from './distribution/store.js';

/**
 * The seed's entry point: a ready DistributionService over the shared runtime (the server's
 * once it started, else one opened from the environment). Seed call shapes are positional and
 * live on this instance; `checkForUpdates(currentVersion, extensionId, productId?, clientId?,
 * includePrerelease?)` is added by the update-check module.
 */
export class UpdateDistributionService extends DistributionService {
  /**
   * The seed's update check, positional: resolves to the offer (an object with `toVersion`,
   * `packageUrl`, `checksum`, …) or null. Rejects with BAD_USER_INPUT for an invalid version.
   */
  async checkForUpdates(
    currentVersion: string,
    extensionId?: string | null,
    productId?: string | null,
    clientId?: string | null,
    includePrerelease?: boolean | null,
  ): Promise<UpdateInfo | null> {
    return this.checkUpdate({ currentVersion, extensionId, productId, clientId, includePrerelease });
  }
}

export const updateDistributionService = new UpdateDistributionService();
