import type { CdnIntegrationService } from '../cdn/service.js';
import type { ServiceRuntime } from '../runtime.js';
import type { JobEngine } from '../../jobs/engine.js';

/** How the distribution modules reach their runtime and the services they build on. */
export interface DistributionScope {
  runtime(): Promise<ServiceRuntime>;
  /** Stores package artifacts. */
  cdn: CdnIntegrationService;
  /** The job engine of the runtime (ramp steps and go-lives are enqueued in the writing transaction). */
  jobs(runtime: ServiceRuntime): Pick<JobEngine, 'send'>;
}
