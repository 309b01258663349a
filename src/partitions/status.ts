import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { qname } from './archive.sql.ts';
import { listPartitions, listPendingDetaches } from './inventory.ts';
import { listLedger, type LedgerState } from './ledger.ts';
import { EXACT_COUNT_SQL, JOB_SCHEDULE_SQL, RUNS_LAST_SQL, RUNS_LAST_SUCCESS_SQL } from './ledger.sql.ts';
import { compareMonths, monthOf, monthsBetween, PARTITIONED_TABLES, type MonthRef, type PartitionedTable } from './naming.ts';
import { monthKey, monthsAhead, retentionMonthsFor } from './policy.ts';

/** Name under which src/jobs registers partition maintenance (scheduled_jobs.name). */
export const MAINTENANCE_JOB_NAME = 'partitions.maintain';

export interface PartitionRowStatus {
  readonly name: string;
  readonly month: string | null;
  readonly rows: number;
  readonly rowsExact: boolean;
  readonly totalBytes: number;
  readonly pendingDetach: boolean;
}

export interface TableStatus {
  readonly table: PartitionedTable;
  /** Consecutive months after the current one that exist; -1 when the current month is missing. */
  readonly monthsAhead: number;
  readonly oldest: string | null;
  readonly oldestAgeMonths: number | null;
  readonly newest: string | null;
  readonly retentionMonths: number;
  readonly partitions: readonly PartitionRowStatus[];
}

export interface ArchivedMonth {
  readonly partition: string;
  readonly parent: string;
  readonly month: string;
  readonly state: LedgerState;
  readonly mode: string | null;
  readonly rows: number | null;
  readonly comments: number | null;
  readonly location: string | null;
  readonly retainUntil: string | null;
  readonly lastError: string | null;
}

export interface PartitionHealth {
  readonly tables: ReadonlyArray<{ readonly table: PartitionedTable; readonly monthsAhead: number; readonly oldestAgeMonths: number | null }>;
  readonly lastSuccessAt: Date | null;
}

export interface PartitionStatus extends PartitionHealth {
  readonly now: string;
  readonly premakeMonths: number;
  readonly archiveMode: string;
  readonly tables: readonly TableStatus[];
  readonly pendingDetaches: ReadonlyArray<{ parent: string; name: string }>;
  readonly unmanaged: readonly string[];
  readonly ledger: readonly ArchivedMonth[];
  readonly lastRun: { id: string; startedAt: Date; finishedAt: Date | null; instance: string; trigger: string; status: string; error: string | null; actions: number } | null;
  readonly nextRun: { at: Date | null; basis: string };
}

/** The cheap part, for metrics on every scrape: catalog only plus one indexed read. */
export async function partitionHealth(client: pg.ClientBase, now: Date): Promise<PartitionHealth> {
  const parts = await listPartitions(client);
  const current = monthOf(now);
  const tables = PARTITIONED_TABLES.map((table) => {
    const months: MonthRef[] = [];
    for (const p of parts) if (p.parent === table && p.month && !p.pendingDetach) months.push(p.month);
    const oldest = months.reduce<MonthRef | null>((a, m) => (a === null || compareMonths(m, a) < 0 ? m : a), null);
    return { table, monthsAhead: monthsAhead(new Set(months.map(monthKey)), now), oldestAgeMonths: oldest ? monthsBetween(oldest, current) : null };
  });
  const last = (await client.query<{ at: Date | null }>(RUNS_LAST_SUCCESS_SQL)).rows[0]?.at ?? null;
  return { tables, lastSuccessAt: last };
}

export async function partitionStatus(client: pg.ClientBase, config: Config, now: Date, opts: { exact?: boolean } = {}): Promise<PartitionStatus> {
  const health = await partitionHealth(client, now);
  const parts = await listPartitions(client);
  const tables: TableStatus[] = [];
  for (const h of health.tables) {
    const mine = parts.filter((p) => p.parent === h.table && p.month);
    const rows: PartitionRowStatus[] = [];
    for (const p of mine) {
      let n = p.estimatedRows;
      if (opts.exact) n = Number((await client.query<{ n: string }>(EXACT_COUNT_SQL(qname('public', p.name)))).rows[0]?.n ?? 0);
      rows.push({ name: p.name, month: p.month ? monthKey(p.month) : null, rows: n, rowsExact: opts.exact === true, totalBytes: p.totalBytes, pendingDetach: p.pendingDetach });
    }
    rows.sort((a, b) => (a.month ?? '').localeCompare(b.month ?? ''));
    tables.push({
      ...h,
      oldest: rows[0]?.name ?? null,
      newest: rows[rows.length - 1]?.name ?? null,
      retentionMonths: retentionMonthsFor(config, h.table),
      partitions: rows,
    });
  }
  const ledger = (await listLedger(client)).map((r): ArchivedMonth => ({
    partition: r.partition_name, parent: r.parent, month: r.month.slice(0, 7), state: r.state, mode: r.archive_mode,
    rows: r.row_count === null ? null : Number(r.row_count), comments: r.comment_count === null ? null : Number(r.comment_count),
    location: r.archive_path ?? (r.archive_schema ? `${r.archive_schema}.${r.partition_name}` : null),
    retainUntil: r.retain_until?.toISOString() ?? null, lastError: r.last_error,
  }));
  const last = (await client.query<{ id: string; started_at: Date; finished_at: Date | null; instance_id: string; trigger: string; status: string; error: string | null; action_count: number }>(RUNS_LAST_SQL)).rows[0];
  const job = (await client.query<{ last_started_at: Date | null; interval_ms: string }>(JOB_SCHEDULE_SQL, [MAINTENANCE_JOB_NAME])).rows[0];
  const nextRun = job?.last_started_at
    ? { at: new Date(job.last_started_at.getTime() + Number(job.interval_ms)), basis: 'scheduler: last start + interval' }
    : { at: null, basis: 'no scheduled run yet: starts when an app instance with jobs enabled becomes leader' };
  return {
    now: now.toISOString(),
    premakeMonths: config.partitions.premakeMonths,
    archiveMode: config.partitions.archiveMode,
    tables,
    lastSuccessAt: health.lastSuccessAt,
    pendingDetaches: await listPendingDetaches(client),
    unmanaged: parts.filter((p) => !p.month).map((p) => p.name),
    ledger,
    lastRun: last ? { id: last.id, startedAt: last.started_at, finishedAt: last.finished_at, instance: last.instance_id, trigger: last.trigger, status: last.status, error: last.error, actions: last.action_count } : null,
    nextRun,
  };
}
