/** The seed's entry point for rollback automation; the domain lives in `./rollback/`. */
export * from './rollback/service.js';
export { RollbackAutomationSeedApi, createRollbackAutomationSeedApi, rollbackAutomationService } from './rollback/seedApi.js';
