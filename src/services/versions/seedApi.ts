import type { RuntimeSource } from '../runtime.js';
import type { VersionComparisonResult } from './semverOrder.js';
import { VersionManagementService, type ChangelogEntryInput } from './service.js';
import type { VersionRecord } from './store.js';

/**
 * The seed's positional call shapes (`createVersion('1.2.3', extensionId, undefined, changelog)`)
 * over the named-argument service, for release scripts that import the ready-made instance.
 * Nothing here decides anything: each method forwards to one service method.
 */
export class VersionManagementSeedApi {
  constructor(readonly service: VersionManagementService) {}

  createVersion(
    version: string,
    extensionId?: string | null,
    productId?: string | null,
    changelog?: ChangelogEntryInput[] | null,
    releaseNotes?: string | null,
    metadata?: Record<string, unknown> | null,
    releasedBy?: string | null,
  ): Promise<VersionRecord> {
    return this.service.createVersion({ version, extensionId, productId, changelog, releaseNotes, metadata, releasedBy });
  }

  getVersion(id: string): Promise<VersionRecord | null> {
    return this.service.getVersion({ id });
  }

  /** Every matching version, highest first (capped at 200; page with `listVersions` for more). */
  async getVersions(extensionId?: string | null, productId?: string | null, includePrerelease = false): Promise<VersionRecord[]> {
    return (await this.service.listVersions({ extensionId, productId, includePrerelease, first: 200 })).nodes;
  }

  getLatestVersion(extensionId?: string | null, productId?: string | null, includePrerelease = false): Promise<VersionRecord | null> {
    return this.service.getLatestVersion({ extensionId, productId, includePrerelease });
  }

  compareVersions(version1: string, version2: string): VersionComparisonResult {
    return this.service.compareVersions({ version1, version2 });
  }

  deprecateVersion(id: string, reason: string, deprecatedBy?: string | null): Promise<VersionRecord> {
    return this.service.deprecateVersion({ id, reason, deprecatedBy });
  }

  generateChangelog(
    extensionId?: string | null,
    productId?: string | null,
    fromVersion?: string | null,
    toVersion?: string | null,
    includePrerelease = false,
  ): Promise<string> {
    return this.service.generateChangelog({ extensionId, productId, fromVersion, toVersion, includePrerelease });
  }
}

export function createVersionManagementSeedApi(source?: RuntimeSource): VersionManagementSeedApi {
  return new VersionManagementSeedApi(new VersionManagementService(source));
}

/** Ready instance with the seed's call shapes, over the shared runtime (opened from the environment on first use). */
export const versionManagementService = createVersionManagementSeedApi();
