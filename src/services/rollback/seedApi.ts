import { CdnIntegrationService } from '../cdn/service.js';
import type { Page } from '../pagination.js';
import type { RuntimeSource } from '../runtime.js';
import { RollbackAutomationService, type RollbackPlanRecord } from './service.js';

/**
 * The seed's positional call shapes over the named-argument service, for release scripts that
 * import the ready-made instance:
 * `createRollbackPlan(from, to, reason, extensionId, undefined, 'immediate', undefined, adminId)`,
 * `approveRollbackPlan(planId, adminId)`, `executeRollback(planId)`. Each forwards to one
 * service method. `executeRollback` resolves to the plan EXECUTING: the steps run as a durable
 * job on a server instance (a script's own runtime sends jobs but runs none).
 */
export class RollbackAutomationSeedApi {
  constructor(readonly service: RollbackAutomationService) {}

  createRollbackPlan(
    fromVersion: string,
    toVersion: string,
    reason: string,
    extensionId?: string | null,
    productId?: string | null,
    rollbackStrategy?: string | null,
    scheduledAt?: Date | string | null,
    createdBy?: string | null,
  ): Promise<RollbackPlanRecord> {
    return this.service.createPlan({ fromVersion, toVersion, reason, extensionId, productId, rollbackStrategy, scheduledAt, createdBy });
  }

  approveRollbackPlan(planId: string, approvedBy?: string | null): Promise<RollbackPlanRecord> {
    return this.service.approvePlan({ id: planId, approvedBy });
  }

  /** Audited as executeRollbackPlan by a script (the seed's call names no actor). */
  executeRollback(planId: string): Promise<RollbackPlanRecord> {
    return this.service.executePlan({ id: planId });
  }

  cancelRollbackPlan(planId: string, cancelledBy?: string | null): Promise<RollbackPlanRecord> {
    return this.service.cancelPlan({ id: planId, cancelledBy });
  }

  retryRollbackPlan(planId: string): Promise<RollbackPlanRecord> {
    return this.service.retryPlan({ id: planId });
  }

  getRollbackPlan(planId: string): Promise<RollbackPlanRecord | null> {
    return this.service.getPlan({ id: planId });
  }

  async getRollbackPlans(extensionId?: string | null, productId?: string | null, status?: string | null): Promise<RollbackPlanRecord[]> {
    const page: Page<RollbackPlanRecord> = await this.service.listPlans({ extensionId, productId, status, first: 200 });
    return page.nodes;
  }
}

export function createRollbackAutomationSeedApi(source?: RuntimeSource): RollbackAutomationSeedApi {
  return new RollbackAutomationSeedApi(new RollbackAutomationService(source, { cdn: new CdnIntegrationService(source) }));
}

/** Ready instance with the seed's call shapes, over the shared runtime (opened from the environment on first use). */
export const rollbackAutomationService = createRollbackAutomationSeedApi();
