import type { Database } from '../../db/database.ts';
import type { ReportMonth } from './month.ts';
import { reportQueries as q } from './report.repository.ts';

/** Row shapes of src/ops/report/report.repository.ts. */
export interface StatementTotal {
  queryid: string; name: string | null; query: string; first_seen_at: Date;
  calls: number; total_ms: number; rows: number; blks_hit: number; blks_read: number; temp_blks_written: number; replica_calls: number;
}
export interface CoverageRow { node: string; snapshots: number; failed: number; resets: number; deallocations: number; first_at: Date; last_at: Date; runs: number }
export interface TableDailyRow { schema_name: string; table_name: string; taken_at: Date; bytes: number; live_rows: number }
export interface LatestTableRow { schema_name: string; table_name: string; parent_table: string | null; live_rows: number; dead_rows: number; table_bytes: number; total_bytes: number; last_autovacuum: Date | null }
export interface TableScanRow { schema_name: string; table_name: string; seq_scans: number; seq_tup_read: number; idx_scans: number }
export interface IndexUsageRow {
  schema_name: string; table_name: string; index_name: string; parent_index: string | null; scans: number; observed_days: number;
  size_bytes: number; is_unique: boolean; is_primary: boolean; method: string; key_columns: string; predicate: string | null; definition: string;
}
export interface PartitionStatRow { parent_table: string; partition_name: string; range_from: Date | null; range_to: Date | null; first_bytes: number; last_bytes: number; rows: number; last_seen: Date }
export interface NodeTotalRow {
  node: string; role: string; blks_hit: number; blks_read: number; idx_blks_hit: number; idx_blks_read: number;
  peak_total: number | null; peak_active: number | null; peak_idle_in_tx: number | null; peak_app: number | null; max_connections: number | null;
  pool_peak: number | null; pool_max: number | null; pool_waiting_peak: number | null; peak_at: Date | null;
  ok_samples: number; failed_samples: number; lag_samples: number;
  lag_p50: number | null; lag_p95: number | null; lag_p99: number | null; lag_max: number | null; lag_max_bytes: number | null;
}
export interface NodeDailyRow { node: string; day: Date; peak_connections: number | null; lag_p95: number | null }
export interface AppCacheRow { day: Date; hits: number; misses: number; memory_bytes: number | null; max_bytes: number | null }
export interface LatencyBucketRow { kind: 'db' | 'http'; label: string; le: number; cnt: number }
export interface LatencyTotalRow { kind: 'db' | 'http'; label: string; count: number; sum_seconds: number }
export interface AlertHistoryRow { alertname: string; severity: string | null; summary: string | null; starts_at: Date; ends_at: Date | null; last_seen_at: Date }
export interface StoredReportRow { month: string; format: string; generated_by: string; created_at: Date }

export interface MonthData {
  readonly runs: { runs: number; first_at: Date | null; last_at: Date | null };
  readonly coverage: CoverageRow[];
  readonly statements: StatementTotal[];
  readonly tableDaily: TableDailyRow[];
  readonly latestTables: LatestTableRow[];
  readonly tableScans: TableScanRow[];
  readonly indexUsage: IndexUsageRow[];
  readonly partitions: PartitionStatRow[];
  readonly nodeTotals: NodeTotalRow[];
  readonly nodeDaily: NodeDailyRow[];
  readonly appCache: AppCacheRow[];
  readonly latencyBuckets: LatencyBucketRow[];
  readonly latencyTotals: LatencyTotalRow[];
  readonly alerts: AlertHistoryRow[];
}

/** Everything the report needs about one month, read in parallel (each read is one statement). */
export async function gatherMonth(db: Database, m: ReportMonth): Promise<MonthData> {
  const p = [m.from.toISOString(), m.to.toISOString()];
  const [runs, coverage, statements, tableDaily, latestTables, tableScans, indexUsage, partitions, nodeTotals, nodeDaily, appCache, latencyBuckets, latencyTotals, alerts] = await Promise.all([
    db.query<MonthData['runs']>(q.runCount, p),
    db.query<CoverageRow>(q.coverage, p),
    db.query<StatementTotal>(q.statementTotals, p),
    db.query<TableDailyRow>(q.tableDaily, p),
    db.query<LatestTableRow>(q.latestTables, p),
    db.query<TableScanRow>(q.tableScans, p),
    db.query<IndexUsageRow>(q.indexUsage, p),
    db.query<PartitionStatRow>(q.partitions, p),
    db.query<NodeTotalRow>(q.nodeTotals, p),
    db.query<NodeDailyRow>(q.nodeDaily, p),
    db.query<AppCacheRow>(q.appCache, p),
    db.query<LatencyBucketRow>(q.latencyBuckets, p),
    db.query<LatencyTotalRow>(q.latencyTotals, p),
    db.query<AlertHistoryRow>(q.alerts, p),
  ]);
  return {
    runs: runs[0] ?? { runs: 0, first_at: null, last_at: null },
    coverage, statements, tableDaily, latestTables, tableScans, indexUsage, partitions, nodeTotals, nodeDaily, appCache, latencyBuckets, latencyTotals, alerts,
  };
}

/** The previous month needs only statement totals (regressions, new queries) and its run count. */
export async function gatherPreviousMonth(db: Database, m: ReportMonth): Promise<{ runs: number; statements: StatementTotal[] }> {
  const p = [m.from.toISOString(), m.to.toISOString()];
  const [runs, statements] = await Promise.all([db.query<MonthData['runs']>(q.runCount, p), db.query<StatementTotal>(q.statementTotals, p)]);
  return { runs: runs[0]?.runs ?? 0, statements };
}

export async function dailyStatementTime(db: Database, m: ReportMonth, queryids: readonly string[]): Promise<Array<{ queryid: string; day: Date; total_ms: number }>> {
  if (queryids.length === 0) return [];
  return db.query(q.statementDaily, [m.from.toISOString(), m.to.toISOString(), `{${queryids.join(',')}}`]);
}

export async function storedReports(db: Database, month: string): Promise<StoredReportRow[]> {
  return db.query<StoredReportRow>(q.storedReports, [month]);
}
