import { aliasedTable, and, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Logger } from 'pino';

import type { Database } from '../../db/client.js';
import { distributions, updatePackages, versions } from '../../db/schema.js';
import type { EventBus } from '../../events/eventBus.js';
import type { Owner } from '../owner.js';
import { LIVE_STATUSES } from './store.js';

/**
 * The in-memory release state the update check answers from: per owner (an extension id, a
 * product id, or both, matched like every owner filter: only the ids given narrow), the live
 * distributions (ACTIVE or COMPLETED) with their packages and target versions, and the
 * versions that were withdrawn (deprecated, or the target of a HALTED distribution) — what a
 * rollback offer needs to know.
 *
 * - A miss loads one owner with exactly two SQL statements; concurrent misses of the same
 *   owner share one load. A steady-state update check runs no SQL at all.
 * - Every instance keeps it fresh from events: RELEASE_CHANGED (packages, distributions) and
 *   VERSION_PUBLISHED with action DEPRECATED drop the owners they concern; the next check
 *   reloads. When the LISTEN connection comes back after a drop (events may have been missed),
 *   everything is flushed (`onResync`).
 * - A load racing an invalidation is never cached: each load belongs to the entry it was
 *   started for, and an invalidation replaces that entry, so a load that read the database
 *   before a change committed cannot be stored after the change's event arrived.
 */

/** One live distribution of one package, as the update check needs it. */
export interface LiveRelease {
  distributionId: string;
  packageId: string;
  /** 0–100; COMPLETED distributions read as 100. */
  percentage: number;
  salt: string;
  mandatory: boolean;
  isRollback: boolean;
  /** Target version. */
  toVersion: string;
  toVersionId: string | null;
  toSortKey: string;
  toPrerelease: boolean;
  toDeprecated: boolean;
  /** The delta's base (precedence key and text); null for a full package. */
  isDelta: boolean;
  baseSortKey: string | null;
  deltaFromVersion: string | null;
  deltaFormat: string | null;
  targetChecksum: string | null;
  packageUrl: string;
  packageSize: number;
  checksum: string;
  /** The package's notes, else the target version's. */
  releaseNotes: string | null;
  /**
   * For a full package: the delta packages to the same target that rebuild exactly this
   * package (their targetChecksum is its checksum), by base precedence key. They ride on this
   * distribution — same rollout, mandatory flag and distribution id — so a client on a base is
   * offered its delta without the delta being distributed on its own. Null when there are none.
   */
  deltas: ReadonlyMap<string, LiveRelease> | null;
}

/** A loaded owner: immutable; replaced (never mutated) when something changes. */
export interface ReleaseState {
  key: string;
  owner: Owner;
  /** Increases with every state built by this store: offers compare it to know what is new. */
  generation: number;
  /** Live releases, highest target precedence first; deltas before full packages of the same target. */
  releases: readonly LiveRelease[];
  /** Precedence keys of versions that must not stay installed (deprecated, or halted by a rollback). */
  withdrawn: ReadonlySet<string>;
  /** Memo of answers built from this state (see updateCheck.ts): same answer → same object. */
  memo: Map<string, unknown>;
}

/** `ext\u0000prod` with empty strings for missing ids. */
export function ownerKey(owner: Owner): string {
  return `${owner.extensionId ?? ''}\u0000${owner.productId ?? ''}`;
}

/** Does a change of owner `changed` concern the state of filter `owner`? */
export function concerns(owner: Owner, changed: { extensionId: string | null; productId: string | null }): boolean {
  if (changed.extensionId === null && changed.productId === null) return true; // not tied to an owner: everything
  return (owner.extensionId === null || owner.extensionId === changed.extensionId) && (owner.productId === null || owner.productId === changed.productId);
}

/** One row of the live-releases statement. */
interface ReleaseRow {
  distributionId: string;
  status: string;
  percentage: number | string;
  salt: string;
  mandatory: boolean;
  isRollback: boolean;
  packageId: string;
  isDelta: boolean;
  deltaFromVersion: string | null;
  deltaFormat: string | null;
  targetChecksum: string | null;
  packageUrl: string;
  packageSize: number | string;
  checksum: string;
  releaseNotes: string | null;
  toVersion: string;
  toVersionId: string;
  toSortKey: string;
  toPrerelease: string | null;
  toDeprecated: boolean;
  baseSortKey: string | null;
  /** A delta riding on this full package's distribution (null columns when there is none: left join). */
  ridingDeltaId: string | null;
  ridingDeltaUrl: string | null;
  ridingDeltaSize: number | string | null;
  ridingDeltaChecksum: string | null;
  ridingDeltaFrom: string | null;
  ridingDeltaFormat: string | null;
  ridingDeltaBaseSortKey: string | null;
}

interface Entry {
  owner: Owner;
  state?: ReleaseState;
  loading?: Promise<ReleaseState>;
}

export interface ReleaseStatesOptions {
  db: Database;
  events: EventBus;
  log: Logger;
  /** Most owners kept (least recently loaded dropped first; default 20,000). */
  maxOwners?: number;
}

/** Called after owners were dropped: `affects(owner)` says whether a subscribed owner must re-check. */
export type ReleaseChangeListener = (affects: (owner: Owner) => boolean) => void;

export class ReleaseStates {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<ReleaseChangeListener>();
  private readonly maxOwners: number;
  private generation = 0;
  private readonly unsubscribe: (() => void)[];
  /** SQL statements run by loads since start (tests assert a steady state runs none). */
  statements = 0;

  constructor(private readonly options: ReleaseStatesOptions) {
    this.maxOwners = options.maxOwners ?? 20_000;
    const { events } = options;
    this.unsubscribe = [
      events.on('RELEASE_CHANGED', (change) => this.invalidate(change)),
      events.on('VERSION_PUBLISHED', (event) => {
        if (event.action === 'DEPRECATED') this.invalidate({ extensionId: event.version.extensionId, productId: event.version.productId });
      }),
      events.onResync(() => this.flush()),
    ];
  }

  /** The state of an owner: the cached one synchronously, else a (shared) load. */
  get(owner: Owner): ReleaseState | Promise<ReleaseState> {
    const key = ownerKey(owner);
    let entry = this.entries.get(key);
    if (entry?.state) return entry.state;
    if (entry?.loading) return entry.loading;
    if (!entry) {
      if (this.entries.size >= this.maxOwners) this.entries.delete(this.entries.keys().next().value!);
      entry = { owner };
      this.entries.set(key, entry);
    }
    const mine = entry;
    const loading = this.load(owner, key).then(
      (state) => {
        // Cached only if no invalidation replaced this entry while the statements ran.
        if (this.entries.get(key) === mine) {
          mine.state = state;
          mine.loading = undefined;
        }
        return state;
      },
      (error: unknown) => {
        if (this.entries.get(key) === mine) this.entries.delete(key);
        throw error;
      },
    );
    mine.loading = loading;
    return loading;
  }

  /** Tells `listener` after each invalidation (offers re-check their subscribers). */
  onChange(listener: ReleaseChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops every owner a change concerns. */
  invalidate(change: { extensionId: string | null; productId: string | null }): void {
    for (const [key, entry] of this.entries) {
      if (concerns(entry.owner, change)) this.entries.delete(key);
    }
    this.generation++;
    this.notify((owner) => concerns(owner, change));
  }

  /** Drops everything (after a LISTEN reconnect: events may have been missed). */
  flush(): void {
    this.entries.clear();
    this.generation++;
    this.options.log.info('release state flushed: every owner reloads on its next update check');
    this.notify(() => true);
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.entries.clear();
    this.listeners.clear();
  }

  private notify(affects: (owner: Owner) => boolean): void {
    for (const listener of this.listeners) {
      try {
        listener(affects);
      } catch (error) {
        this.options.log.error({ err: error }, 'release change listener failed');
      }
    }
  }

  /** Two statements: the live releases, and the withdrawn versions of the owner. */
  private async load(owner: Owner, key: string): Promise<ReleaseState> {
    const { db } = this.options;
    const target = aliasedTable(versions, 'target');
    const base = aliasedTable(versions, 'base');
    const riding = aliasedTable(updatePackages, 'riding_delta');
    const ridingBase = aliasedTable(versions, 'riding_delta_base');
    const ownerOf = (columns: { extensionId: PgColumn; productId: PgColumn }): SQL | undefined =>
      and(
        owner.extensionId === null ? undefined : eq(columns.extensionId, owner.extensionId),
        owner.productId === null ? undefined : eq(columns.productId, owner.productId),
      );
    this.statements += 2;
    const [rows, withdrawnRows] = (await Promise.all([
      db
        .select({
          distributionId: distributions.id,
          status: distributions.status,
          percentage: distributions.percentage,
          salt: distributions.salt,
          mandatory: distributions.mandatory,
          isRollback: distributions.isRollback,
          packageId: updatePackages.id,
          isDelta: updatePackages.isDelta,
          deltaFromVersion: updatePackages.deltaFromVersion,
          deltaFormat: updatePackages.deltaFormat,
          targetChecksum: updatePackages.targetChecksum,
          packageUrl: updatePackages.packageUrl,
          packageSize: updatePackages.packageSize,
          checksum: updatePackages.checksum,
          releaseNotes: sql<string | null>`coalesce(${updatePackages.releaseNotes}, ${target.releaseNotes})`,
          toVersion: target.version,
          toVersionId: target.id,
          toSortKey: target.sortKey,
          toPrerelease: target.prerelease,
          toDeprecated: target.isDeprecated,
          baseSortKey: base.sortKey,
          ridingDeltaId: riding.id,
          ridingDeltaUrl: riding.packageUrl,
          ridingDeltaSize: riding.packageSize,
          ridingDeltaChecksum: riding.checksum,
          ridingDeltaFrom: riding.deltaFromVersion,
          ridingDeltaFormat: riding.deltaFormat,
          ridingDeltaBaseSortKey: ridingBase.sortKey,
        })
        .from(distributions)
        .innerJoin(updatePackages, eq(updatePackages.id, distributions.packageId))
        .innerJoin(target, eq(target.id, updatePackages.toVersionId))
        .leftJoin(base, eq(base.id, updatePackages.fromVersionId))
        // One row per delta that rebuilds this full package exactly (same target, its checksum as
        // the delta's target): the deltas riding on the full package's distribution.
        .leftJoin(
          riding,
          and(eq(updatePackages.isDelta, false), eq(riding.isDelta, true), eq(riding.toVersionId, updatePackages.toVersionId), eq(riding.targetChecksum, updatePackages.checksum)),
        )
        .leftJoin(ridingBase, eq(ridingBase.id, riding.fromVersionId))
        .where(and(inArray(distributions.status, [...LIVE_STATUSES]), ownerOf(distributions))),
      db
        .selectDistinct({ sortKey: versions.sortKey })
        .from(versions)
        .where(
          and(
            ownerOf(versions),
            or(
              eq(versions.isDeprecated, true),
              sql`exists (select 1 from ${updatePackages} join ${distributions} on ${distributions.packageId} = ${updatePackages.id}
                          where ${updatePackages.toVersionId} = ${versions.id} and ${distributions.status} = 'HALTED')`,
            ),
          ),
        ),
    ])) as [ReleaseRow[], { sortKey: string }[]];
    const byDistribution = new Map<string, LoadingRelease>();
    for (const row of rows) {
      let release = byDistribution.get(row.distributionId);
      if (!release) byDistribution.set(row.distributionId, (release = toLiveRelease(row)));
      if (row.ridingDeltaId !== null && row.ridingDeltaBaseSortKey !== null) {
        release.deltas ??= new Map();
        release.deltas.set(row.ridingDeltaBaseSortKey, {
          ...release,
          deltas: null,
          packageId: row.ridingDeltaId,
          packageUrl: row.ridingDeltaUrl!,
          packageSize: Number(row.ridingDeltaSize),
          checksum: row.ridingDeltaChecksum!,
          isDelta: true,
          baseSortKey: row.ridingDeltaBaseSortKey,
          deltaFromVersion: row.ridingDeltaFrom,
          deltaFormat: row.ridingDeltaFormat,
          targetChecksum: release.checksum,
        });
      }
    }
    const releases: LiveRelease[] = [...byDistribution.values()];
    // Highest target first; at the same target a delta (preferred where it applies) first.
    releases.sort((a, b) => (a.toSortKey === b.toSortKey ? Number(b.isDelta) - Number(a.isDelta) : a.toSortKey < b.toSortKey ? 1 : -1));
    return {
      key,
      owner,
      generation: ++this.generation,
      releases,
      withdrawn: new Set(withdrawnRows.map((row) => row.sortKey)),
      memo: new Map(),
    };
  }
}

/** A live release as the load builds it (its riding deltas still being added). */
type LoadingRelease = LiveRelease & { deltas: Map<string, LiveRelease> | null };

function toLiveRelease(row: ReleaseRow): LoadingRelease {
  return {
    distributionId: row.distributionId,
    packageId: row.packageId,
    percentage: row.status === 'COMPLETED' ? 100 : Number(row.percentage),
    salt: row.salt,
    mandatory: row.mandatory,
    isRollback: row.isRollback,
    toVersion: row.toVersion,
    toVersionId: row.toVersionId,
    toSortKey: row.toSortKey,
    toPrerelease: row.toPrerelease !== null,
    toDeprecated: row.toDeprecated,
    isDelta: row.isDelta,
    baseSortKey: row.baseSortKey,
    deltaFromVersion: row.deltaFromVersion,
    deltaFormat: row.deltaFormat,
    targetChecksum: row.targetChecksum,
    packageUrl: row.packageUrl,
    packageSize: Number(row.packageSize),
    checksum: row.checksum,
    releaseNotes: row.releaseNotes,
    deltas: null,
  };
}
