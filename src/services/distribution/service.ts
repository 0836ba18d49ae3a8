import { isUuid } from '../ids.js';
import { Service, type RuntimeSource } from '../runtime.js';
import { selectDistribution, selectPackagesByIds, type DistributionRecord, type UpdatePackageRecord } from './store.js';

export type * from './store.js';

/**
 * Update distribution: packages, distributions (strategies, ramps, schedules, pause/resume),
 * client reports, and (update-check side) the in-memory release state, `checkForUpdates` and
 * `updateAvailable`. The one entry point resolvers and jobs use; each concern lives in its own
 * module beside this file. Methods take one named-argument object.
 */
export class DistributionService extends Service {
  constructor(source?: RuntimeSource) {
    super(source);
  }

  /** The package, or null for an unknown id. */
  async getPackage({ id }: { id: string }): Promise<UpdatePackageRecord | null> {
    return (await this.getPackagesByIds({ ids: [id] }))[0] ?? null;
  }

  /** Batch lookup for DataLoaders: one statement, results in the ids' order (null when unknown). */
  async getPackagesByIds({ ids }: { ids: readonly string[] }): Promise<(UpdatePackageRecord | null)[]> {
    const { db } = await this.runtime();
    const rows = await selectPackagesByIds(db, ids.filter(isUuid));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** The distribution, or null for an unknown id. */
  async getDistribution({ id }: { id: string }): Promise<DistributionRecord | null> {
    if (!isUuid(id)) return null;
    const { db } = await this.runtime();
    return selectDistribution(db, id);
  }
}
