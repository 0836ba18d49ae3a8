import { sql, type SQL } from 'drizzle-orm';

import type { Database } from '../../db/client.js';
import { BadInputError } from '../errors.js';
import { isUuid } from '../ids.js';
import { parseOwner, type Owner } from '../owner.js';
import type { ServiceRuntime } from '../runtime.js';
import { utcDay } from '../utcDay.js';
import { parseVersion } from '../versions/semverOrder.js';
import type { DistributionScope } from './scope.js';
import { selectAdoption, selectDailyStats, selectStatsTotals, UPDATE_REPORT_STATUSES, type UpdateReportStatus } from './store.js';

/**
 * Client reports and offers, counted in memory and written in batches (every
 * DISTRIBUTION_REPORT_FLUSH_INTERVAL and at shutdown), like the CDN's download counts: a report
 * never waits on, or adds a statement to, the database. A flush is at most three statements per
 * 500 distinct keys, whatever the traffic. Counts are kept per distribution and UTC day (offered,
 * downloaded, installed, failed, rolled back — the rollback health gate reads them) and per
 * target version and day (adoption). They count reports, not distinct clients.
 */

export interface UpdateReportArgs {
  clientId: string;
  extensionId?: string | null;
  productId?: string | null;
  fromVersion: string;
  toVersion: string;
  status: UpdateReportStatus | string;
  /** Free-form JSON the client adds (error message, platform…), at most 4 KiB; logged (sampled) for failures. */
  details?: Record<string, unknown> | null;
}

export interface DistributionCounts {
  offered: number;
  downloaded: number;
  installed: number;
  failed: number;
  rolledBack: number;
}

export interface DailyDistributionCounts extends DistributionCounts {
  /** UTC day, YYYY-MM-DD. */
  date: string;
}

export interface VersionAdoptionDay {
  version: string;
  versionId: string;
  /** UTC day, YYYY-MM-DD. */
  date: string;
  downloaded: number;
  installed: number;
  failed: number;
  rolledBack: number;
}

export interface ReportFlushResult {
  /** Distinct (owner, versions, day) report keys written. */
  reportRows: number;
  /** Distinct (distribution, day) offer keys written. */
  offerRows: number;
  reports: number;
  offers: number;
  statements: number;
  /**
   * Distributions with an untripped health gate whose report counts this flush changed: the
   * ones to evaluate now that their counts are in the database (found by the writing statement
   * itself, so an ungated flush costs nothing more).
   */
  gatedDistributionIds: string[];
}

export const REPORT_LIMITS = { clientId: 200, detailsBytes: 4096, adoptionDays: 366, failureLogsPerFlush: 20 };
const CLIENT_ID = /^[\x21-\x7e]+$/;
/** Rows per statement: keeps parameter counts far below PostgreSQL's 65,535. */
const ROWS_PER_STATEMENT = 500;

interface PendingReport {
  owner: Owner;
  fromKey: string;
  toKey: string;
  day: string;
  downloaded: number;
  installed: number;
  failed: number;
  rolledBack: number;
}

const COLUMN: Record<UpdateReportStatus, 'downloaded' | 'installed' | 'failed' | 'rolledBack'> = {
  DOWNLOADED: 'downloaded',
  INSTALLED: 'installed',
  FAILED: 'failed',
  ROLLED_BACK: 'rolledBack',
};

/** Per-runtime pending counts: every service instance over one runtime shares them. */
export class ReportCounter {
  private reports = new Map<string, PendingReport>();
  private offers = new Map<string, { distributionId: string; day: string; offered: number }>();
  private flushing: Promise<ReportFlushResult> | undefined;
  failureLogsLeft = REPORT_LIMITS.failureLogsPerFlush;

  recordReport(owner: Owner, fromKey: string, toKey: string, status: UpdateReportStatus, at?: Date): void {
    this.mergeReport({ owner, fromKey, toKey, day: utcDay(at), downloaded: 0, installed: 0, failed: 0, rolledBack: 0, [COLUMN[status]]: 1 });
  }

  recordOffer(distributionId: string, at?: Date): void {
    this.mergeOffer({ distributionId, day: utcDay(at), offered: 1 });
  }

  private mergeOffer(offer: { distributionId: string; day: string; offered: number }): void {
    const key = `${offer.distributionId}|${offer.day}`;
    const entry = this.offers.get(key);
    if (entry) entry.offered += offer.offered;
    else this.offers.set(key, { ...offer });
  }

  get pendingRows(): number {
    return this.reports.size + this.offers.size;
  }

  private mergeReport(report: PendingReport): void {
    const key = `${report.owner.extensionId ?? ''}\u0000${report.owner.productId ?? ''}\u0000${report.fromKey}\u0000${report.toKey}\u0000${report.day}`;
    const entry = this.reports.get(key);
    if (!entry) {
      this.reports.set(key, { ...report });
      return;
    }
    entry.downloaded += report.downloaded;
    entry.installed += report.installed;
    entry.failed += report.failed;
    entry.rolledBack += report.rolledBack;
  }

  /**
   * Writes everything counted so far in one transaction. On failure the counts are put back
   * (nothing is lost) and the error is rethrown. Concurrent calls share one flush.
   */
  flush(db: Database): Promise<ReportFlushResult> {
    this.flushing ??= this.write(db).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(db: Database): Promise<ReportFlushResult> {
    this.failureLogsLeft = REPORT_LIMITS.failureLogsPerFlush;
    const reports = [...this.reports.values()];
    const offers = [...this.offers.values()];
    const result: ReportFlushResult = {
      reportRows: reports.length,
      offerRows: offers.length,
      reports: reports.reduce((n, r) => n + r.downloaded + r.installed + r.failed + r.rolledBack, 0),
      offers: offers.reduce((n, o) => n + o.offered, 0),
      statements: 0,
      gatedDistributionIds: [],
    };
    if (reports.length === 0 && offers.length === 0) return result;
    this.reports = new Map();
    this.offers = new Map();
    try {
      await db.transaction(async (tx) => {
        for (let start = 0; start < reports.length; start += ROWS_PER_STATEMENT) {
          const values = reportValues(reports.slice(start, start + ROWS_PER_STATEMENT));
          const gated = rowsOf<{ distribution_id: string }>(await tx.execute(distributionStatsFromReports(values)));
          for (const row of gated) if (!result.gatedDistributionIds.includes(row.distribution_id)) result.gatedDistributionIds.push(row.distribution_id);
          await tx.execute(adoptionFromReports(values));
          result.statements += 2;
        }
        for (let start = 0; start < offers.length; start += ROWS_PER_STATEMENT) {
          const values = sql.join(
            offers.slice(start, start + ROWS_PER_STATEMENT).map((o) => sql`(${o.distributionId}::uuid, ${o.day}::date, ${o.offered}::bigint)`),
            sql`, `,
          );
          // Joined with distributions: offers of a distribution whose row is gone are dropped, not a foreign-key failure.
          await tx.execute(sql`
            insert into distribution_daily_stats (distribution_id, day, offered)
            select v.id, v.day, v.offered from (values ${values}) as v(id, day, offered) join distributions d on d.id = v.id
            on conflict (distribution_id, day) do update set
              offered = distribution_daily_stats.offered + excluded.offered, updated_at = now()`);
          result.statements += 1;
        }
      });
    } catch (error) {
      for (const r of reports) this.mergeReport(r);
      for (const o of offers) this.mergeOffer(o);
      throw error;
    }
    return result;
  }
}

function reportValues(rows: PendingReport[]): SQL {
  return sql.join(
    rows.map(
      (r) =>
        sql`(${r.owner.extensionId}::text, ${r.owner.productId}::text, ${r.fromKey}::text, ${r.toKey}::text, ${r.day}::date, ${r.downloaded}::bigint, ${r.installed}::bigint, ${r.failed}::bigint, ${r.rolledBack}::bigint)`,
    ),
    sql`, `,
  );
}

const REPORT_COLUMNS = sql.raw('v(ext, prod, from_key, to_key, day, downloaded, installed, failed, rolled_back)');

/** The rows of a raw statement's result: postgres.js returns an array, PGlite an object with `rows`. */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}

/**
 * Attributes each report to the distribution that offered it: a package of the owner leading to
 * `toVersion` — its delta from the client's `fromVersion` first, else the full package — and of
 * that package's distributions the live one, else the newest. Reports no distribution explains
 * are left out here (they still count for adoption). Answers the written distributions that
 * carry a health gate not tripped yet.
 */
function distributionStatsFromReports(values: SQL): SQL {
  return sql`
    with written as (
    insert into distribution_daily_stats (distribution_id, day, downloaded, installed, failed, rolled_back)
    select m.id, v.day, sum(v.downloaded), sum(v.installed), sum(v.failed), sum(v.rolled_back)
    from (values ${values}) as ${REPORT_COLUMNS}
    cross join lateral (
      select d.id
      from update_packages p
      join distributions d on d.package_id = p.id
      left join versions base on base.id = p.from_version_id
      where p.to_sort_key = v.to_key collate "C"
        and p.extension_id is not distinct from v.ext
        and p.product_id is not distinct from v.prod
        and (not p.is_delta or base.sort_key = v.from_key collate "C")
      order by p.is_delta desc, (d.status in ('ACTIVE', 'COMPLETED')) desc, d.created_at desc
      limit 1
    ) m
    group by m.id, v.day
    on conflict (distribution_id, day) do update set
      downloaded = distribution_daily_stats.downloaded + excluded.downloaded,
      installed = distribution_daily_stats.installed + excluded.installed,
      failed = distribution_daily_stats.failed + excluded.failed,
      rolled_back = distribution_daily_stats.rolled_back + excluded.rolled_back,
      updated_at = now()
    returning distribution_id
    )
    select distinct w.distribution_id from written w join distributions d on d.id = w.distribution_id
    where d.health_gate is not null and d.health_tripped_at is null`;
}

/** Counts per target version (reports naming a version the owner does not have are dropped). */
function adoptionFromReports(values: SQL): SQL {
  return sql`
    insert into version_adoption_daily (version_id, day, downloaded, installed, failed, rolled_back)
    select ver.id, v.day, sum(v.downloaded), sum(v.installed), sum(v.failed), sum(v.rolled_back)
    from (values ${values}) as ${REPORT_COLUMNS}
    join versions ver on ver.sort_key = v.to_key collate "C"
      and ver.extension_id is not distinct from v.ext
      and ver.product_id is not distinct from v.prod
    group by ver.id, v.day
    on conflict (version_id, day) do update set
      downloaded = version_adoption_daily.downloaded + excluded.downloaded,
      installed = version_adoption_daily.installed + excluded.installed,
      failed = version_adoption_daily.failed + excluded.failed,
      rolled_back = version_adoption_daily.rolled_back + excluded.rolled_back`;
}

const counters = new WeakMap<ServiceRuntime, ReportCounter>();

/** The counter of a runtime, created on first use. */
export function reportCounter(runtime: ServiceRuntime): ReportCounter {
  let counter = counters.get(runtime);
  if (!counter) {
    counter = new ReportCounter();
    counters.set(runtime, counter);
  }
  return counter;
}

function parseDetails(details: unknown): Record<string, unknown> | null {
  if (details === undefined || details === null) return null;
  if (typeof details !== 'object' || Array.isArray(details)) throw new BadInputError('details must be a JSON object such as {"error": "disk full"}', { field: 'details' });
  if (Buffer.byteLength(JSON.stringify(details)) > REPORT_LIMITS.detailsBytes) {
    throw new BadInputError(`details is larger than ${REPORT_LIMITS.detailsBytes} bytes: send a short error summary`, { field: 'details' });
  }
  return details as Record<string, unknown>;
}

/** Client reports and offer counts; the read side for admins (stats, adoption). */
export class DistributionReports {
  constructor(private readonly scope: DistributionScope) {}

  /**
   * Counts one client report (in memory; written at the next flush). BAD_USER_INPUT for a
   * clientId that is not 1–200 printable ASCII characters, invalid SemVer, `toVersion` not above
   * `fromVersion`, an unknown status, no owner, or details over 4 KiB. Resolves true.
   */
  async report(args: UpdateReportArgs): Promise<boolean> {
    if (typeof args.clientId !== 'string' || args.clientId.length === 0 || args.clientId.length > REPORT_LIMITS.clientId || !CLIENT_ID.test(args.clientId)) {
      throw new BadInputError(`clientId must be 1–${REPORT_LIMITS.clientId} printable ASCII characters without spaces (a stable id of the installation)`, { field: 'clientId' });
    }
    const owner = parseOwner(args.extensionId, args.productId);
    const from = parseVersion(args.fromVersion, 'fromVersion');
    const to = parseVersion(args.toVersion, 'toVersion');
    const status = String(args.status) as UpdateReportStatus;
    if (!(UPDATE_REPORT_STATUSES as readonly string[]).includes(status)) {
      throw new BadInputError(`status ${JSON.stringify(args.status)} is not one of ${UPDATE_REPORT_STATUSES.join(', ')}`, { field: 'status' });
    }
    const details = parseDetails(args.details);
    const runtime = await this.scope.runtime();
    const counter = reportCounter(runtime);
    counter.recordReport(owner, from.sortKey, to.sortKey, status);
    if ((status === 'FAILED' || status === 'ROLLED_BACK') && counter.failureLogsLeft > 0) {
      counter.failureLogsLeft -= 1;
      runtime.log.info({ clientId: args.clientId, ...owner, fromVersion: from.version, toVersion: to.version, status, details }, 'client reported a failed update');
    }
    return true;
  }

  async flush(): Promise<ReportFlushResult> {
    const runtime = await this.scope.runtime();
    return reportCounter(runtime).flush(runtime.db);
  }

  /** Totals per distribution (sums over days), in the ids' order: one statement. */
  async totals(distributionIds: readonly string[]): Promise<DistributionCounts[]> {
    const { db } = await this.scope.runtime();
    const rows = await selectStatsTotals(db, { distributionIds: distributionIds.filter(isUuid) });
    const byId = new Map(rows.map((row) => [row.distributionId, row]));
    return distributionIds.map((id) => byId.get(id) ?? { offered: 0, downloaded: 0, installed: 0, failed: 0, rolledBack: 0 });
  }

  /** The last `days` UTC days (today included) per distribution, oldest first, days without counts left out: one statement. */
  async daily(distributionIds: readonly string[], days: number): Promise<DailyDistributionCounts[][]> {
    const span = parseDays(days);
    const { db } = await this.scope.runtime();
    const rows = await selectDailyStats(db, { distributionIds: distributionIds.filter(isUuid), days: span });
    return distributionIds.map((id) => rows.filter((row) => row.distributionId === id).map(({ distributionId: _, ...day }) => day));
  }

  /** Reports per target version and day over the last `days` UTC days, oldest day first, highest version first within a day. */
  async adoption({ extensionId, productId, days }: { extensionId?: string | null; productId?: string | null; days?: number | null }): Promise<VersionAdoptionDay[]> {
    const owner = parseOwner(extensionId, productId);
    const span = parseDays(days ?? 30);
    const { db } = await this.scope.runtime();
    return selectAdoption(db, { owner, days: span });
  }
}

function parseDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > REPORT_LIMITS.adoptionDays) {
    throw new BadInputError(`days must be a whole number from 1 to ${REPORT_LIMITS.adoptionDays}`, { field: 'days' });
  }
  return days;
}
