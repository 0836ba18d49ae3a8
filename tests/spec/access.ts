/**
 * Who may call each root field, written out from the public contract's "who" column (and its
 * "Added with…" section), NOT read from src/graphql/permissions.ts: the access tests compare the
 * server with this table, so a rule changed by mistake in the code fails them instead of being
 * mirrored. Change a row here only when the contract changes.
 *
 * - public: anyone, even without a token (no field is public today: every operation needs a caller)
 * - user:   any valid token (role user or admin)
 * - admin:  a token with role admin; a user gets FORBIDDEN
 */
export type Role = 'public' | 'user' | 'admin';
export type RootName = 'Query' | 'Mutation' | 'Subscription';

export const ACCESS_SPEC: Record<RootName, Record<string, Role>> = {
  Query: {
    // Versions: reading is for every authenticated caller (GET /versions… were not admin-only).
    versions: 'user',
    latestVersion: 'user',
    version: 'user',
    compareVersions: 'user',
    changelog: 'user',
    // CDN reads (GET /cdn/files/:id).
    cdnFile: 'user',
    cdnFiles: 'user',
    cdnInvalidation: 'user',
    cdnInvalidations: 'user',
    // Update packages and the update check (POST /updates/check is what clients call).
    updatePackage: 'user',
    updatePackages: 'user',
    checkForUpdates: 'user',
    // Distribution and rollback reads are admin (the contract: "distribution (admin)").
    distribution: 'admin',
    distributions: 'admin',
    adoption: 'admin',
    rollbackPlan: 'admin',
    rollbackPlans: 'admin',
    // The audit trail (the contract: "auditLog(…) (admin)").
    auditLog: 'admin',
    deltaGeneration: 'admin',
  },
  Mutation: {
    createVersion: 'admin',
    deprecateVersion: 'admin',
    uploadCdnFile: 'admin',
    deleteCdnFile: 'admin',
    invalidateCdnCache: 'admin',
    createUpdatePackage: 'admin',
    distributeUpdate: 'admin',
    updateDistributionPercentage: 'admin',
    pauseDistribution: 'admin',
    resumeDistribution: 'admin',
    cancelDistribution: 'admin',
    // Clients report their own install progress: "any authenticated caller".
    reportUpdateStatus: 'user',
    createRollbackPlan: 'admin',
    approveRollbackPlan: 'admin',
    executeRollbackPlan: 'admin',
    cancelRollbackPlan: 'admin',
    retryRollbackPlan: 'admin',
    generateDeltaPackage: 'admin',
  },
  Subscription: {
    versionPublished: 'user',
    versionEvents: 'user',
    // Clients subscribe to their own offers.
    updateAvailable: 'user',
    rollbackPlanStatus: 'admin',
    deltaGenerationProgress: 'admin',
  },
};
