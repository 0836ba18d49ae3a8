import { AuditLogService } from './audit/service.js';
import { CdnIntegrationService } from './cdn/service.js';
import { DeltaService } from './delta/service.js';
import { DistributionService } from './distribution/service.js';
import { RollbackAutomationService } from './rollback/service.js';
import type { RuntimeSource } from './runtime.js';
import { VersionManagementService } from './versions/service.js';

/** The services a server instance works with, all over one runtime. */
export interface Services {
  versions: VersionManagementService;
  cdn: CdnIntegrationService;
  distribution: DistributionService;
  rollback: RollbackAutomationService;
  /** Reads the audit trail (writes go through services/audit/trail.ts `audited`). */
  audit: AuditLogService;
  delta: DeltaService;
}

export function createServices(runtime: RuntimeSource): Services {
  const cdn = new CdnIntegrationService(runtime);
  const distribution = new DistributionService(runtime);
  const rollback = new RollbackAutomationService(runtime, { cdn });
  // Report counts reaching the database feed the health gates (automatic rollback).
  distribution.onReportsFlushed((distributionIds) => rollback.evaluateHealthGates({ distributionIds }));
  const delta = new DeltaService(runtime, { cdn, distribution });
  return {
    versions: new VersionManagementService(runtime),
    cdn,
    distribution,
    rollback,
    audit: new AuditLogService(runtime),
    delta,
  };
}
