import DataLoader from 'dataloader';
import type { Logger } from 'pino';

import type { Caller } from '../auth/tokens.js';
import type { CdnFileRecord, DailyDownloadStats, RegionDownloadStats } from '../services/cdn/types.js';
import type { DistributionCounts, UpdatePackageRecord } from '../services/distribution/service.js';
import type { Services } from '../services/index.js';
import type { VersionRecord } from '../services/versions/service.js';

/** Per-operation context: who calls, request-scoped loaders, the services. */
export interface GraphQLContext {
  caller: Caller | null;
  requestId: string;
  log: Logger;
  services: Services;
  loaders: Loaders;
}

export interface Loaders {
  version: DataLoader<string, VersionRecord | null>;
  cdnFile: DataLoader<string, CdnFileRecord | null>;
  /** Per-region download totals of a file. */
  cdnRegionStats: DataLoader<string, RegionDownloadStats[]>;
  /** The last 366 UTC days of a file's downloads (resolvers keep the days asked for). */
  cdnDailyStats: DataLoader<string, DailyDownloadStats[]>;
  updatePackage: DataLoader<string, UpdatePackageRecord | null>;
  /** Packages leading to a version (by version id). */
  versionPackages: DataLoader<string, UpdatePackageRecord[]>;
  /** All-time offer and report counts of a distribution. */
  distributionCounts: DataLoader<string, DistributionCounts>;
}

/** Fresh loaders per operation: a cache never outlives the request that filled it. */
export function createLoaders(services: Services): Loaders {
  return {
    version: new DataLoader((ids: readonly string[]) => services.versions.getVersionsByIds({ ids })),
    cdnFile: new DataLoader((ids: readonly string[]) => services.cdn.getFilesByIds(ids)),
    cdnRegionStats: new DataLoader((ids: readonly string[]) => services.cdn.getRegionStats(ids)),
    cdnDailyStats: new DataLoader((ids: readonly string[]) => services.cdn.getDailyStats(ids, 366)),
    updatePackage: new DataLoader((ids: readonly string[]) => services.distribution.getPackagesByIds({ ids })),
    versionPackages: new DataLoader((versionIds: readonly string[]) => services.distribution.getPackagesByVersionIds({ versionIds })),
    distributionCounts: new DataLoader((distributionIds: readonly string[]) => services.distribution.getDistributionCounts({ distributionIds })),
  };
}

/**
 * The request's logger and loaders are built on first use: an update check touches neither,
 * and building seven DataLoaders and a pino child per request was measurable at volume.
 */
export function createContext(services: Services, caller: Caller | null, requestId: string, log: Logger): GraphQLContext {
  let child: Logger | undefined;
  let loaders: Loaders | undefined;
  return {
    caller,
    requestId,
    services,
    get log() {
      return (child ??= log.child({ requestId }));
    },
    get loaders() {
      return (loaders ??= createLoaders(services));
    },
  };
}
