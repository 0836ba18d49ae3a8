/**
 * The audited operations and the kind of object each one changes: one line per admin mutation.
 * The name is the API's (the GraphQL mutation), whatever the entry point — a script calling
 * `rollbackAutomationService.executeRollback(id)` records `executeRollbackPlan`.
 *
 * Adding an admin mutation? Add it here, call `audited` in its service method (trail.ts), and
 * add a row to the table in tests/distribution/audit-log.test.ts; that test fails for any admin
 * mutation in PERMISSIONS that is missing here or leaves no SUCCEEDED entry.
 */
export const AUDIT_TARGET_TYPES = ['Version', 'CdnFile', 'CdnInvalidation', 'UpdatePackage', 'Distribution', 'RollbackPlan', 'DeltaGeneration'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

export const AUDITED_OPERATIONS = {
  createVersion: 'Version',
  deprecateVersion: 'Version',
  uploadCdnFile: 'CdnFile',
  deleteCdnFile: 'CdnFile',
  invalidateCdnCache: 'CdnInvalidation',
  createUpdatePackage: 'UpdatePackage',
  distributeUpdate: 'Distribution',
  updateDistributionPercentage: 'Distribution',
  pauseDistribution: 'Distribution',
  resumeDistribution: 'Distribution',
  cancelDistribution: 'Distribution',
  createRollbackPlan: 'RollbackPlan',
  approveRollbackPlan: 'RollbackPlan',
  executeRollbackPlan: 'RollbackPlan',
  cancelRollbackPlan: 'RollbackPlan',
  retryRollbackPlan: 'RollbackPlan',
  generateDeltaPackage: 'DeltaGeneration',
} as const satisfies Record<string, AuditTargetType>;

export type AuditOperation = keyof typeof AUDITED_OPERATIONS;

export function isAuditOperation(name: string): name is AuditOperation {
  return Object.hasOwn(AUDITED_OPERATIONS, name);
}
