import { CdnIntegrationService } from './cdn/service.js';
import { DistributionService } from './distribution/service.js';
import type { RuntimeSource } from './runtime.js';
import { VersionManagementService } from './versions/service.js';

/** The services a server instance works with, all over one runtime. */
export interface Services {
  versions: VersionManagementService;
  cdn: CdnIntegrationService;
  distribution: DistributionService;
}

export function createServices(runtime: RuntimeSource): Services {
  return {
    versions: new VersionManagementService(runtime),
    cdn: new CdnIntegrationService(runtime),
    distribution: new DistributionService(runtime),
  };
}
