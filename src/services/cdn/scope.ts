import { createCdnProvider } from '../../cdn/index.js';
import type { CdnProvider } from '../../cdn/provider.js';
import { DownloadCounter } from './downloadStats.js';
import type { ServiceRuntime } from '../runtime.js';

/** Per-runtime CDN state: the provider and the download counter are shared by every service instance over one runtime. */
export interface CdnState {
  provider: CdnProvider;
  /** Set by `start` once the server knows its URL (CDN_BASE_URL unset). */
  publicBaseUrl: string | undefined;
  downloads: DownloadCounter;
}

/**
 * How the CDN modules reach their runtime and state. The service implements it, so each module
 * resolves the runtime (opening the shared one) and the state (creating the provider) at the
 * same moment the single service class used to, and no earlier.
 */
export interface CdnScope {
  runtime(): Promise<ServiceRuntime>;
  /** The state over `runtime`, created on first use. */
  state(runtime: ServiceRuntime): CdnState;
  /** The state if it exists already: for synchronous callers, which must not create one. */
  current(): CdnState | undefined;
}

const sharedStates = new WeakMap<ServiceRuntime, CdnState>();

/** The base URL files are served under: set by the server, else CDN_BASE_URL, else `http://localhost:<port>/cdn`. */
export function publicBaseUrl(runtime: ServiceRuntime, state: CdnState): string {
  return state.publicBaseUrl ?? runtime.config.cdnBaseUrl ?? `http://localhost:${runtime.config.port}/cdn`;
}

/** One service instance's CDN state. `provider` (tests, tools) replaces the one CDN_PROVIDER selects and is not shared. */
export class CdnStateHolder {
  private held: CdnState | undefined;
  private heldRuntime: ServiceRuntime | undefined;

  constructor(private readonly provider?: CdnProvider) {}

  get current(): CdnState | undefined {
    return this.held;
  }

  state(runtime: ServiceRuntime): CdnState {
    // The ready instance's runtime can be replaced (scripts closing and reopening the shared one).
    if (!this.held || this.heldRuntime !== runtime) {
      this.held = this.create(runtime);
      this.heldRuntime = runtime;
    }
    return this.held;
  }

  private create(runtime: ServiceRuntime): CdnState {
    if (this.provider) return { provider: this.provider, publicBaseUrl: undefined, downloads: new DownloadCounter() };
    let state = sharedStates.get(runtime);
    if (!state) {
      const created: CdnState = {
        publicBaseUrl: undefined,
        downloads: new DownloadCounter(),
        provider: undefined as unknown as CdnProvider,
      };
      created.provider = createCdnProvider(runtime.config, { publicBaseUrl: () => publicBaseUrl(runtime, created) });
      sharedStates.set(runtime, created);
      state = created;
    }
    return state;
  }
}
