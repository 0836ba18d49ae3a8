import { scriptActor, type Actor } from '../audit/actor.js';
import { audited } from '../audit/trail.js';
import { CdnIntegrationService } from '../cdn/service.js';
import { isUuid } from '../ids.js';
import type { Page } from '../pagination.js';
import { Service, type RuntimeSource, type ServiceRuntime } from '../runtime.js';
import { DistributionLifecycle, type DistributeUpdateArgs, type DistributionFilter } from './distributions.js';
import type { GoLiveJob, RampStepJob } from './jobs.js';
import { DistributionPackages, type CreateUpdatePackageArgs, type PackageFilter } from './packages.js';
import {
  DistributionReports,
  reportCounter,
  type DailyDistributionCounts,
  type DistributionCounts,
  type ReportFlushResult,
  type UpdateReportArgs,
  type VersionAdoptionDay,
} from './reports.js';
import type { EventStream } from '../../events/stream.js';
import { assessHealth } from './healthGate.js';
import { OfferFeed } from './offers.js';
import { ReleaseStates, type ReleaseState } from './releaseState.js';
import type { DistributionScope } from './scope.js';
import { checkUpdate, parseUpdateCheck, type UpdateCheckArgs, type UpdateCheckQuery, type UpdateInfo } from './updateCheck.js';
import {
  selectDistribution,
  selectDistributionsByPackageIds,
  selectPackagesByIds,
  type DistributionRecord,
  type UpdatePackageRecord,
} from './store.js';

export type * from './store.js';
export type { CreateUpdatePackageArgs, PackageFilter } from './packages.js';
export type { DistributeUpdateArgs, DistributionFilter } from './distributions.js';
export type { UpdateCheckArgs, UpdateInfo } from './updateCheck.js';
export type { DailyDistributionCounts, DistributionCounts, ReportFlushResult, UpdateReportArgs, VersionAdoptionDay } from './reports.js';

/** What `Distribution.health` shows. */
export interface DistributionHealthView {
  samples: number;
  failures: number;
  observedFailureRate: number | null;
  wilsonLowerBound: number;
  breached: boolean;
  trippedAt: Date | null;
  note: string | null;
  rollbackPlanId: string | null;
}

export interface DistributionServiceOptions {
  /** Stores package artifacts (default: a CDN service over the same runtime). */
  cdn?: CdnIntegrationService;
}

/**
 * Update distribution: packages (./packages.ts), distributions with their strategies, ramps,
 * schedules and pause/resume (./distributions.ts, advanced by jobs), client reports and counts
 * (./reports.ts); the update-check side adds the in-memory release state, `checkForUpdates` and
 * `updateAvailable`. The one entry point resolvers and job handlers use; methods take one
 * named-argument object.
 */
export class DistributionService extends Service {
  private readonly scope: DistributionScope;
  private readonly packages: DistributionPackages;
  private readonly lifecycle: DistributionLifecycle;
  private readonly reports: DistributionReports;
  /** The runtime last resolved, for synchronous callers (recordOffer on the update check's hot path). */
  private current: ServiceRuntime | undefined;
  /** Update-check side: the in-memory release state and the updateAvailable feed (built on first use). */
  private releases: { states: ReleaseStates; feed: OfferFeed } | undefined;
  private releasesStarting: Promise<{ states: ReleaseStates; feed: OfferFeed }> | undefined;
  /** Told which gated distributions a flush wrote counts for (the rollback domain's health gate). */
  private reportsFlushedListener: ((distributionIds: string[]) => Promise<unknown>) | undefined;

  constructor(source?: RuntimeSource, options: DistributionServiceOptions = {}) {
    super(source);
    this.scope = {
      runtime: async () => (this.current = await this.runtime()),
      cdn: options.cdn ?? new CdnIntegrationService(source),
      jobs: (runtime) => runtime.jobs,
    };
    this.packages = new DistributionPackages(this.scope);
    this.lifecycle = new DistributionLifecycle(this.scope);
    this.reports = new DistributionReports(this.scope);
  }

  // ---------------------------------------------------------------- lifecycle of the instance

  /** Writes the report counts still pending (shutdown, after the job engine stopped its flush task). */
  async close(): Promise<void> {
    this.releases?.feed.close();
    this.releases?.states.close();
    this.releases = undefined;
    const runtime = await this.scope.runtime();
    // Not evaluated here (the job engine has stopped): the health gate sweep of a running instance does it.
    await this.reports.flush().catch((error: unknown) => runtime.log.error({ err: error }, 'final report counts flush failed'));
  }

  // ---------------------------------------------------------------- packages (./packages.ts)

  /** Audited as `createUpdatePackage`; `actor` defaults to a script acting as `createdBy`. */
  async createUpdatePackage(args: CreateUpdatePackageArgs & { actor?: Actor }): Promise<UpdatePackageRecord> {
    const { actor = scriptActor(args.createdBy), ...input } = args;
    const runtime = await this.runtime();
    return audited(runtime, { operation: 'createUpdatePackage', actor, input }, (audit) => this.packages.createPackage(input, audit));
  }

  /**
   * A package created as one step of another audited operation (a delta generation recording
   * its result): no audit entry of its own; the operation's entry and record name it.
   */
  createUpdatePackageAsStep(args: CreateUpdatePackageArgs): Promise<UpdatePackageRecord> {
    return this.packages.createPackage(args);
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

  listUpdatePackages(filter: PackageFilter): Promise<Page<UpdatePackageRecord>> {
    return this.packages.listPackages(filter);
  }

  /** Packages leading to each version (DataLoader batch for `Version.updatePackages`). */
  getPackagesByVersionIds({ versionIds }: { versionIds: readonly string[] }): Promise<UpdatePackageRecord[][]> {
    return this.packages.packagesByVersionIds(versionIds);
  }

  // ---------------------------------------------------------------- distributions (./distributions.ts)

  // Admin changes: each audited under its mutation's name (services/audit/trail.ts). `actor`
  // defaults to a script (acting as `createdBy` where there is one).

  async distributeUpdate(args: DistributeUpdateArgs & { actor?: Actor }): Promise<DistributionRecord> {
    const { actor = scriptActor(args.createdBy), ...input } = args;
    return audited(await this.runtime(), { operation: 'distributeUpdate', actor, input }, (audit) => this.lifecycle.distribute(input, audit));
  }

  async updateDistributionPercentage({ actor = scriptActor(), ...input }: { id: string; percentage: number; actor?: Actor }): Promise<DistributionRecord> {
    return audited(await this.runtime(), { operation: 'updateDistributionPercentage', actor, targetId: input.id, input }, (audit) => this.lifecycle.setPercentage(input, audit));
  }

  async pauseDistribution({ actor = scriptActor(), ...input }: { id: string; actor?: Actor }): Promise<DistributionRecord> {
    return audited(await this.runtime(), { operation: 'pauseDistribution', actor, targetId: input.id, input }, (audit) => this.lifecycle.pause(input, audit));
  }

  async resumeDistribution({ actor = scriptActor(), ...input }: { id: string; actor?: Actor }): Promise<DistributionRecord> {
    return audited(await this.runtime(), { operation: 'resumeDistribution', actor, targetId: input.id, input }, (audit) => this.lifecycle.resume(input, audit));
  }

  async cancelDistribution({ actor = scriptActor(), ...input }: { id: string; reason?: string | null; actor?: Actor }): Promise<DistributionRecord> {
    return audited(await this.runtime(), { operation: 'cancelDistribution', actor, targetId: input.id, input }, (audit) => this.lifecycle.cancel(input, audit));
  }

  /** Stops a distribution for good (a rollback of its release): HALTED is never offered again. */
  haltDistribution(args: { id: string; reason: string }): Promise<DistributionRecord> {
    return this.lifecycle.halt(args);
  }

  /** The distribution, or null for an unknown id. */
  async getDistribution({ id }: { id: string }): Promise<DistributionRecord | null> {
    if (!isUuid(id)) return null;
    const { db } = await this.runtime();
    return selectDistribution(db, id);
  }

  listDistributions(filter: DistributionFilter): Promise<Page<DistributionRecord>> {
    return this.lifecycle.list(filter);
  }

  /** Distributions of each package, newest first (DataLoader batch for `UpdatePackage.distributions`). */
  async getDistributionsByPackageIds({ packageIds }: { packageIds: readonly string[] }): Promise<DistributionRecord[][]> {
    const { db } = await this.runtime();
    const rows = await selectDistributionsByPackageIds(db, { packageIds: packageIds.filter(isUuid) });
    return packageIds.map((id) => rows.filter((row) => row.packageId === id));
  }

  /** Job handler of `distribution.ramp-step` (idempotent; resolves whether the step applied). */
  applyRampStep(job: RampStepJob): Promise<boolean> {
    return this.lifecycle.applyRampStep(job);
  }

  /** Job handler of `distribution.go-live` (idempotent; resolves whether it went live). */
  goLive(job: GoLiveJob): Promise<boolean> {
    return this.lifecycle.goLive(job);
  }

  // ---------------------------------------------------------------- reports (./reports.ts)

  reportUpdateStatus(args: UpdateReportArgs): Promise<boolean> {
    return this.reports.report(args);
  }

  /**
   * Counts one offer of a distribution (the update check calls it for each answer it gives).
   * Synchronous and in memory once the runtime is resolved; before that the count is dropped.
   */
  recordOffer({ distributionId }: { distributionId: string }): void {
    if (this.current) reportCounter(this.current).recordOffer(distributionId);
    else void this.scope.runtime().then((resolved) => reportCounter(resolved).recordOffer(distributionId));
  }

  /**
   * Writes the pending report and offer counts, then hands the gated distributions they touched
   * to the health gate (`onReportsFlushed`). A failed evaluation is logged, never the flush's
   * failure: the counts are in, and the gate's periodic sweep evaluates them again.
   */
  async flushReports(): Promise<ReportFlushResult> {
    const result = await this.reports.flush();
    if (result.gatedDistributionIds.length > 0 && this.reportsFlushedListener) {
      try {
        await this.reportsFlushedListener(result.gatedDistributionIds);
      } catch (error) {
        (await this.scope.runtime()).log.error({ err: error, distributionIds: result.gatedDistributionIds }, 'health gate evaluation after a report flush failed; the sweep retries it');
      }
    }
    return result;
  }

  /** Registers who evaluates health gates after each flush (one listener: createServices wires the rollback service). */
  onReportsFlushed(listener: (distributionIds: string[]) => Promise<unknown>): void {
    this.reportsFlushedListener = listener;
  }

  /** Offer and report totals per distribution, in the ids' order (the rollback health gate reads these). */
  getDistributionCounts({ distributionIds }: { distributionIds: readonly string[] }): Promise<DistributionCounts[]> {
    return this.reports.totals(distributionIds);
  }

  /**
   * A gated distribution's health from its counts (`getDistributionCounts`) and what its gate did;
   * null without a gate. Pure: the counts come from the caller (a per-request loader).
   */
  distributionHealth({ distribution, counts }: { distribution: DistributionRecord; counts: DistributionCounts }): DistributionHealthView | null {
    if (!distribution.healthGate) return null;
    const health = assessHealth(distribution.healthGate, counts);
    return {
      samples: health.samples,
      failures: health.failures,
      observedFailureRate: health.observedRate,
      wilsonLowerBound: health.wilsonLowerBound,
      breached: health.breached,
      trippedAt: distribution.healthTrippedAt,
      note: distribution.healthTripNote,
      rollbackPlanId: distribution.healthRollbackPlanId,
    };
  }

  getDailyDistributionCounts({ distributionIds, days }: { distributionIds: readonly string[]; days: number }): Promise<DailyDistributionCounts[][]> {
    return this.reports.daily(distributionIds, days);
  }

  getAdoption(args: { extensionId?: string | null; productId?: string | null; days?: number | null }): Promise<VersionAdoptionDay[]> {
    return this.reports.adoption(args);
  }

  // ---------------------------------------------------------------- update check (./updateCheck.ts, ./releaseState.ts, ./offers.ts)

  /**
   * The contract's update check: the offer for this client, or null. Answered from the
   * in-memory release state — no SQL at steady state, and synchronously then (a promise only
   * while the owner's state loads). Counts the offer in the distribution's stats. Throws
   * BAD_USER_INPUT for a currentVersion that is not strict SemVer, a bad owner or clientId.
   */
  checkUpdate(args: UpdateCheckArgs): UpdateInfo | null | Promise<UpdateInfo | null> {
    const query = parseUpdateCheck(args);
    if (!this.releases) return this.startReleases().then(() => this.checkUpdate(args));
    const state = this.releases.states.get(query.owner);
    if (state instanceof Promise) return state.then((loaded) => this.offer(loaded, query, args.currentVersion));
    return this.offer(state, query, args.currentVersion);
  }

  /**
   * `updateAvailable`: the current offer first (if any), then each new offer for this client,
   * as other instances' and this one's changes arrive. Validates like `checkUpdate`.
   */
  async updateAvailable(args: UpdateCheckArgs): Promise<EventStream<'RELEASE_CHANGED', UpdateInfo>> {
    const query = parseUpdateCheck(args);
    const { feed } = this.releases ?? (await this.startReleases());
    return feed.subscribe(query, args.currentVersion);
  }

  /** SQL statements the release state ran since start (tests: a steady state runs none). */
  get releaseStateStatements(): number {
    return this.releases?.states.statements ?? 0;
  }

  /** Subscribers of updateAvailable on this instance. */
  get updateSubscribers(): number {
    return this.releases?.feed.size ?? 0;
  }

  private offer(state: ReleaseState, query: UpdateCheckQuery, fromVersion: string): UpdateInfo | null {
    const info = checkUpdate(state, query, fromVersion);
    if (info) this.recordOffer({ distributionId: info.distributionId });
    return info;
  }

  private startReleases(): Promise<{ states: ReleaseStates; feed: OfferFeed }> {
    this.releasesStarting ??= this.scope.runtime().then((runtime) => {
      const states = new ReleaseStates({ db: runtime.db, events: runtime.events, log: runtime.log });
      this.releases ??= { states, feed: new OfferFeed({ states, events: runtime.events, log: runtime.log }) };
      return this.releases;
    });
    return this.releasesStarting;
  }
}
