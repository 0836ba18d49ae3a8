/** The seed's entry point for version management; the domain lives in `./versions/`. */
export * from './versions/service.js';
export { VersionManagementSeedApi, createVersionManagementSeedApi, versionManagementService } from './versions/seedApi.js';
