import type { DbExecutor } from '../../db/client.js';
import { scriptActor, SYSTEM_ACTORS, type Actor } from '../audit/actor.js';
import { audited, type AuditRecorder } from '../audit/trail.js';
import { DeltaError, generateDeltaOffThread, workerScript, type GeneratedDelta } from '../../delta/index.js';
import type { EventStream } from '../../events/stream.js';
import type { CdnIntegrationService } from '../cdn/service.js';
import type { DistributionService } from '../distribution/service.js';
import { BadInputError, ConflictError, DomainError, ErrorCode, isUniqueViolation } from '../errors.js';
import { isUuid } from '../ids.js';
import { describeOwner, parseOwner, type Owner } from '../owner.js';
import { Service, type RuntimeSource, type ServiceRuntime } from '../runtime.js';
import { parseVersion } from '../versions/semverOrder.js';
import { lockVersionsByPrecedence, selectPackagesByIds, type UpdatePackageRecord } from '../distribution/store.js';
import { deltaFileName, readArtifact, stageDelta } from './artifacts.js';
import { DELTA_GENERATION_QUEUE, DELTA_RETRY_QUEUE, deltaGenerationKey, type DeltaAutoJob, type DeltaGenerationJob, type DeltaRetryJob } from './jobs.js';
import * as store from './store.js';
import type { DeltaGenerationRecord } from './store.js';

export type { DeltaGenerationRecord, DeltaGenerationStatus } from './store.js';

export interface GenerateDeltaPackageArgs {
  fromVersion: string;
  toVersion: string;
  extensionId?: string | null;
  productId?: string | null;
  createdBy?: string | null;
  /** Who asks (audit trail); defaults to a script acting as `createdBy`. */
  actor?: Actor;
}

export interface DeltaServiceOptions {
  cdn: CdnIntegrationService;
  distribution: DistributionService;
}

/** Progress is written (and pushed to subscribers) in steps of at least this many points. */
const PROGRESS_STEP = 5;
/**
 * Largest full package a delta is generated for: generation holds both packages, their
 * uncompressed contents and zstd's tables in memory (several times the package size).
 */
export const MAX_DELTA_PACKAGE_BYTES = 512 * 1024 * 1024;

/**
 * Delta packages built by the server: `requestGeneration` validates and records a PENDING
 * generation with its job in one transaction; the job (`runGenerationJob`) reads both full
 * packages from the CDN, builds a delta that is verified against the target's sha256 before it
 * is kept (src/delta), stores it through the CDN service and records the update package — all
 * reported live through DELTA_GENERATION_CHANGED.
 */
export class DeltaService extends Service {
  constructor(
    source: RuntimeSource | undefined,
    private readonly options: DeltaServiceOptions,
  ) {
    super(source);
  }

  /**
   * Starts (or joins) the generation of the delta from `fromVersion`'s full package to
   * `toVersion`'s. A PENDING or RUNNING generation of the same pair is returned as is, so a
   * pair is never generated twice at once.
   *
   * BAD_USER_INPUT: invalid SemVer or owner, the same version twice, fromVersion above toVersion.
   * NOT_FOUND: a version, or a version's full package. CONFLICT: the delta package exists.
   */
  async requestGeneration({ actor, ...args }: GenerateDeltaPackageArgs): Promise<DeltaGenerationRecord> {
    return audited(await this.runtime(), { operation: 'generateDeltaPackage', actor: actor ?? scriptActor(args.createdBy), input: { ...args } }, (audit) => this.request(args, audit));
  }

  private async request(args: Omit<GenerateDeltaPackageArgs, 'actor'>, audit: AuditRecorder): Promise<DeltaGenerationRecord> {
    const owner = parseOwner(args.extensionId, args.productId);
    const from = parseVersion(args.fromVersion, 'fromVersion');
    const to = parseVersion(args.toVersion, 'toVersion');
    if (from.sortKey === to.sortKey) {
      throw new BadInputError(`fromVersion and toVersion are both ${to.version}: a delta takes clients from one version to another`, { field: 'toVersion' });
    }
    if (from.sortKey > to.sortKey) {
      throw new BadInputError(`fromVersion ${from.version} is above toVersion ${to.version}: a delta takes clients up from their version`, { field: 'fromVersion' });
    }
    const runtime = await this.runtime();
    try {
      return await runtime.db.transaction(async (tx) => {
        const found = await lockVersionsByPrecedence(tx, { owner, sortKeys: [from.sortKey, to.sortKey] });
        const versions = { fromVersion: found.get(from.sortKey), toVersion: found.get(to.sortKey) };
        for (const [field, parsed] of [['fromVersion', from], ['toVersion', to]] as const) {
          if (!versions[field]) {
            throw new DomainError(ErrorCode.NOT_FOUND, `Version ${parsed.version} of ${describeOwner(owner)} (${field}) was not found`, { field });
          }
        }
        const pair = { fromVersionId: versions.fromVersion!.id, toVersionId: versions.toVersion!.id };
        const fulls = await store.selectFullPackages(tx, [pair.fromVersionId, pair.toVersionId]);
        for (const [field, version] of [['fromVersion', versions.fromVersion!], ['toVersion', versions.toVersion!]] as const) {
          if (!fulls.some((row) => row.toVersionId === version.id)) {
            throw new DomainError(
              ErrorCode.NOT_FOUND,
              `Version ${version.version} of ${describeOwner(owner)} has no full package (${field}): a delta is made from both versions' full packages — create it with createUpdatePackage first`,
              { field },
            );
          }
        }
        const existing = await store.selectDeltaPackage(tx, pair);
        if (existing) {
          throw new ConflictError(`A delta package from ${from.version} to ${to.version} of ${describeOwner(owner)} already exists (id ${existing.id})`, { existingId: existing.id });
        }
        const active = await store.selectActiveGeneration(tx, pair);
        if (active) {
          await audit.record(tx, { targetId: active.id, details: { joined: true } });
          return active;
        }
        const attempt = await store.nextAttempt(tx, pair);
        const row = await store.insertGeneration(tx, {
          ...owner,
          fromVersion: versions.fromVersion!.version,
          toVersion: versions.toVersion!.version,
          ...pair,
          attempt,
          createdBy: args.createdBy ?? null,
        });
        const sent = await runtime.jobs.send(DELTA_GENERATION_QUEUE, { generationId: row.id }, { key: deltaGenerationKey({ ...pair, attempt }), tx });
        if (!sent) throw new Error(`delta generation job for ${deltaGenerationKey({ ...pair, attempt })} was already sent`);
        await this.publish(runtime, tx, row);
        await audit.record(tx, { targetId: row.id, details: { attempt } });
        runtime.log.info({ generationId: row.id, fromVersion: row.fromVersion, toVersion: row.toVersion, ...owner }, 'delta generation requested');
        return row;
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Two requests for the same pair at once: the other one's generation is the answer.
      const { db } = runtime;
      const found = await lockVersionsByPrecedence(db, { owner, sortKeys: [from.sortKey, to.sortKey] });
      const active = await store.selectActiveGeneration(db, { fromVersionId: found.get(from.sortKey)!.id, toVersionId: found.get(to.sortKey)!.id });
      if (!active) throw error;
      await audit.record(db, { targetId: active.id, details: { joined: true } });
      return active;
    }
  }

  /**
   * Automatic mode, step 2 (job handler of `delta.auto`, enqueued with the full package by
   * jobs.ts enqueueAutomaticDeltas): deltas to the package from the
   * DELTA_AUTO_BASES most-installed earlier versions (client reports) that have a full package,
   * asked for as the system actor `system:delta-auto`. A pair whose delta exists is skipped; one
   * being generated is joined, so a repeated job starts nothing twice. Throws (the job is
   * retried) when a request failed for another reason, after trying every base.
   */
  async runAutomaticJob({ packageId }: DeltaAutoJob): Promise<DeltaGenerationRecord[]> {
    const runtime = await this.runtime();
    const limit = runtime.config.delta.autoBases;
    const [pkg] = await selectPackagesByIds(runtime.db, [packageId]);
    if (limit === 0 || !pkg || pkg.isDelta || !pkg.toSortKey) return [];
    const owner: Owner = { extensionId: pkg.extensionId, productId: pkg.productId };
    const bases = await store.selectMostInstalledBases(runtime.db, { owner, belowSortKey: pkg.toSortKey, limit });
    const started: DeltaGenerationRecord[] = [];
    const failed: string[] = [];
    for (const base of bases) {
      try {
        started.push(await this.requestGeneration({ ...owner, fromVersion: base.version, toVersion: pkg.toVersion, createdBy: pkg.createdBy, actor: SYSTEM_ACTORS.deltaAuto }));
      } catch (error) {
        if (error instanceof DomainError && (error.code === ErrorCode.CONFLICT || error.code === ErrorCode.NOT_FOUND)) continue;
        runtime.log.error({ err: error, packageId: pkg.id, fromVersion: base.version }, 'automatic delta generation could not be requested');
        failed.push(`${base.version}: ${(error as Error).message}`);
      }
    }
    runtime.log.info({ packageId: pkg.id, toVersion: pkg.toVersion, bases, requested: started.length, failed: failed.length }, 'automatic delta generations requested');
    if (failed.length) throw new Error(`automatic deltas to ${pkg.toVersion} (package ${pkg.id}) could not be requested from ${failed.join('; ')}`);
    return started;
  }

  /** The generation, or null for an unknown id. */
  async getGeneration({ id }: { id: string }): Promise<DeltaGenerationRecord | null> {
    if (!isUuid(id)) return null;
    const { db } = await this.runtime();
    return store.selectGeneration(db, id);
  }

  /** `deltaGenerationProgress`: the generation now, then after every change, until the client leaves. */
  async generationEvents({ id }: { id: string }): Promise<EventStream<'DELTA_GENERATION_CHANGED', DeltaGenerationRecord>> {
    const { events } = await this.runtime();
    return events.stream('DELTA_GENERATION_CHANGED', {
      initial: async () => (await this.getGeneration({ id })) ?? undefined,
      select: ({ generation }) => (generation.id === id ? generation : undefined),
    });
  }

  /**
   * Job handler of `delta.generate`. Claims the generation (PENDING, or RUNNING left by a process
   * that died), and ends it SUCCEEDED with its package or FAILED with an error naming the step
   * that failed; it never throws for a failed generation (a retry would fail the same way). Safe
   * to run twice: a finished generation is left alone, and a delta package recorded by an earlier
   * run is taken as the result.
   */
  async runGenerationJob({ generationId }: DeltaGenerationJob): Promise<void> {
    const runtime = await this.runtime();
    const claimed = await runtime.db.transaction(async (tx) => {
      const row = await store.updateGenerationIf(tx, { id: generationId, from: ['PENDING', 'RUNNING'], set: { status: 'RUNNING', startedAt: new Date(), progress: 0, error: null } });
      if (row) await this.publish(runtime, tx, row);
      return row;
    });
    if (!claimed) return;
    let step = 'reading the full packages';
    const tracker = this.progressTracker(runtime, generationId);
    try {
      const owner: Owner = { extensionId: claimed.extensionId, productId: claimed.productId };
      const [basePackage, targetPackage] = await this.fullPackages(runtime, claimed);
      for (const pkg of [basePackage, targetPackage]) {
        if (pkg.packageSize > MAX_DELTA_PACKAGE_BYTES) throw new LastingFailure(`the full package of ${pkg.toVersion} has ${pkg.packageSize} bytes, above the ${MAX_DELTA_PACKAGE_BYTES}-byte limit for delta generation`);
      }
      const base = await this.read(runtime, basePackage, claimed.fromVersion);
      await tracker.report(5);
      const target = await this.read(runtime, targetPackage, claimed.toVersion);
      await tracker.report(10);
      step = 'generating and verifying the delta';
      const generated: GeneratedDelta = await generateDeltaOffThread(base, target, { onProgress: (percent) => void tracker.report(10 + Math.round(percent * 0.75)) });
      runtime.log.info({ generationId, onWorkerThread: workerScript() !== null, format: generated.formatName, deltaBytes: generated.delta.length, targetBytes: generated.targetSize, candidates: generated.candidates }, 'delta generated');
      await tracker.report(85);
      step = 'storing the delta through the CDN service';
      const recorded = await this.store(runtime, claimed, owner, generated);
      await tracker.flush();
      await runtime.db.transaction(async (tx) => {
        const row = await store.updateGenerationIf(tx, { id: generationId, from: ['RUNNING'], set: { status: 'SUCCEEDED', progress: 100, packageId: recorded.id, finishedAt: new Date() } });
        if (row) await this.publish(runtime, tx, row);
      });
    } catch (error) {
      await tracker.flush();
      const { retries, retryDelayMs } = runtime.config.delta;
      // Retried with the failure marked, in its transaction: a crash cannot lose the retry.
      const retryAt = mayPass(error) && claimed.attempt <= retries ? new Date(Date.now() + retryDelayMs * 4 ** (claimed.attempt - 1)) : null;
      const retryNote = retryAt ? `; asked for again automatically at ${retryAt.toISOString()} (attempt ${claimed.attempt + 1} of ${retries + 1})` : '';
      const message = `${step} failed: ${(error as Error).message}`.slice(0, 1800) + retryNote;
      runtime.log.warn({ generationId, err: error, attempt: claimed.attempt, retryAt }, 'delta generation failed');
      await runtime.db.transaction(async (tx) => {
        const row = await store.updateGenerationIf(tx, { id: generationId, from: ['RUNNING'], set: { status: 'FAILED', error: message, finishedAt: new Date() } });
        if (!row) return;
        if (retryAt) await runtime.jobs.send(DELTA_RETRY_QUEUE, { failedGenerationId: generationId }, { key: generationId, startAfter: retryAt, tx });
        await this.publish(runtime, tx, row);
      });
    }
  }

  /**
   * Job handler of `delta.retry`: asks again, as `system:delta-retry`, for the pair whose
   * generation failed (a new attempt). Nothing when the delta exists by now or a version or full
   * package is gone; a generation of the pair already running is joined.
   */
  async runRetryJob({ failedGenerationId }: DeltaRetryJob): Promise<DeltaGenerationRecord | null> {
    const failed = await this.getGeneration({ id: failedGenerationId });
    if (!failed) return null;
    // Made meanwhile (an admin asked again): nothing to do, and no refused request in the audit trail.
    const { db } = await this.runtime();
    if (await store.selectDeltaPackage(db, { fromVersionId: failed.fromVersionId, toVersionId: failed.toVersionId })) return null;
    try {
      return await this.requestGeneration({
        extensionId: failed.extensionId,
        productId: failed.productId,
        fromVersion: failed.fromVersion,
        toVersion: failed.toVersion,
        createdBy: failed.createdBy,
        actor: SYSTEM_ACTORS.deltaRetry,
      });
    } catch (error) {
      if (error instanceof DomainError && (error.code === ErrorCode.CONFLICT || error.code === ErrorCode.NOT_FOUND)) return null;
      throw error;
    }
  }

  // ---------------------------------------------------------------- internals

  private async fullPackages(runtime: ServiceRuntime, generation: DeltaGenerationRecord): Promise<[UpdatePackageRecord, UpdatePackageRecord]> {
    const rows = await store.selectFullPackages(runtime.db, [generation.fromVersionId, generation.toVersionId]);
    const base = rows.find((row) => row.toVersionId === generation.fromVersionId);
    const target = rows.find((row) => row.toVersionId === generation.toVersionId);
    if (!base) throw new LastingFailure(`version ${generation.fromVersion} has no full package any more`);
    if (!target) throw new LastingFailure(`version ${generation.toVersion} has no full package any more`);
    return [base, target];
  }

  private async read(runtime: ServiceRuntime, pkg: UpdatePackageRecord, version: string): Promise<Buffer> {
    if (!pkg.cdnFileId) throw new LastingFailure(`the full package of ${version} (id ${pkg.id}) has no CDN file`);
    try {
      return await readArtifact({ cdn: this.options.cdn, cdnFileId: pkg.cdnFileId, checksum: pkg.checksum, maxBytes: runtime.config.maxFileSize });
    } catch (error) {
      throw new Error(`the full package of ${version} (id ${pkg.id}): ${(error as Error).message}`);
    }
  }

  /** Stores the delta and records its package; a package recorded by an earlier run of this job is the result too. */
  private async store(runtime: ServiceRuntime, generation: DeltaGenerationRecord, owner: Owner, generated: GeneratedDelta): Promise<UpdatePackageRecord> {
    const fileName = deltaFileName({ owner: owner.extensionId ?? owner.productId ?? 'package', fromVersion: generation.fromVersion, toVersion: generation.toVersion });
    const staged = await stageDelta({ uploadDir: runtime.config.uploadDir, generationId: generation.id, fileName, delta: generated.delta });
    try {
      // One step of the audited generateDeltaPackage request: its entry and the generation record name the package.
      return await this.options.distribution.createUpdatePackageAsStep({
        fromVersion: generation.fromVersion,
        toVersion: generation.toVersion,
        packagePath: staged.relativePath,
        ...owner,
        isDelta: true,
        deltaFromVersion: generation.fromVersion,
        deltaFormat: generated.formatName,
        targetChecksum: generated.targetSha256,
        createdBy: generation.createdBy,
      });
    } catch (error) {
      if (error instanceof DomainError && error.code === ErrorCode.CONFLICT) {
        const existing = await store.selectDeltaPackage(runtime.db, { fromVersionId: generation.fromVersionId, toVersionId: generation.toVersionId });
        if (existing && existing.targetChecksum === generated.targetSha256) return existing;
      }
      throw error;
    } finally {
      await staged.remove();
    }
  }

  /** Writes progress in steps of PROGRESS_STEP points, one write at a time, never backwards. */
  private progressTracker(runtime: ServiceRuntime, id: string) {
    let written = 0;
    let chain: Promise<void> = Promise.resolve();
    return {
      report: (percent: number): Promise<void> => {
        const value = Math.min(99, Math.max(0, Math.floor(percent)));
        if (value < written + PROGRESS_STEP) return chain;
        written = value;
        chain = chain.then(() =>
          runtime.db
            .transaction(async (tx) => {
              const row = await store.updateGenerationIf(tx, { id, from: ['RUNNING'], set: { progress: value } });
              if (row) await this.publish(runtime, tx, row);
            })
            .catch((error: unknown) => runtime.log.warn({ err: error, generationId: id }, 'delta generation progress not written')),
        );
        return chain;
      },
      flush: () => chain,
    };
  }

  private publish(runtime: ServiceRuntime, tx: DbExecutor, generation: DeltaGenerationRecord): Promise<void> {
    return runtime.events.publish('DELTA_GENERATION_CHANGED', { generation }, { tx });
  }
}

/** A generation failure that asking again cannot fix (a limit, a package that is gone). */
class LastingFailure extends Error {}

/**
 * Whether a failure may pass, so the pair is asked for again (DELTA_RETRIES): reading or
 * storing a package (storage down, bytes damaged then repaired, a database blip). Not the
 * delta library's refusals (DeltaError: limits, formats — the same packages fail the same way)
 * nor a LastingFailure.
 */
export function mayPass(error: unknown): boolean {
  return !(error instanceof DeltaError) && !(error instanceof LastingFailure);
}
