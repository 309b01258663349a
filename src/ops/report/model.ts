/**
 * The monthly performance report as data. The JSON format is exactly this object; HTML and
 * Markdown render it. Times are milliseconds, sizes bytes, ratios 0..1, timestamps ISO UTC.
 */
export type SloStatus = 'met' | 'missed' | 'unknown';

export interface SloRow {
  readonly id: string;
  readonly criterion: string;
  readonly target: string;
  readonly status: SloStatus;
  readonly figure: string;
  readonly source: string;
}

export interface QueryRow {
  readonly queryid: string;
  readonly name: string | null;
  readonly query: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly meanMs: number;
  readonly rows: number;
  /** Share of all statement time in the month. */
  readonly share: number;
  /** shared_blks_hit / (hit + read) for this statement. */
  readonly hitRatio: number | null;
  readonly replicaCalls: number;
  readonly tempBlksWritten: number;
}

export interface RegressionRow {
  readonly queryid: string;
  readonly name: string | null;
  readonly query: string;
  readonly previousMeanMs: number;
  readonly meanMs: number;
  readonly ratio: number;
  readonly calls: number;
  readonly previousCalls: number;
}

export interface SeqScanRow {
  readonly table: string;
  readonly seqScans: number;
  readonly seqTupRead: number;
  readonly idxScans: number;
  readonly liveRows: number;
  readonly totalBytes: number;
}

export interface UnusedIndexRow {
  readonly index: string;
  readonly table: string;
  readonly sizeBytes: number;
  readonly definition: string;
  readonly observedDays: number;
}

export interface DuplicateIndexRow {
  readonly index: string;
  readonly coveredBy: string;
  readonly table: string;
  readonly columns: string;
  readonly coveringColumns: string;
  readonly sizeBytes: number;
}

export interface GrowthRow {
  readonly table: string;
  readonly startBytes: number;
  readonly endBytes: number;
  readonly growthBytes: number;
  /** Least-squares slope over the month's daily sizes. */
  readonly bytesPerDay: number;
  readonly forecast30dBytes: number;
  readonly forecast90dBytes: number;
  readonly endRows: number;
  readonly points: ReadonlyArray<{ readonly t: string; readonly bytes: number }>;
}

export interface PartitionRow {
  readonly parent: string;
  readonly partition: string;
  readonly rangeFrom: string | null;
  readonly rangeTo: string | null;
  readonly bytes: number;
  readonly growthBytes: number;
  readonly rows: number;
}

export interface PartitionSummary {
  readonly parent: string;
  readonly partitions: number;
  readonly totalBytes: number;
  /** Whole months of partitions that exist beyond the end of the report month. */
  readonly monthsAhead: number | null;
  readonly newestRangeTo: string | null;
}

export interface BloatRow {
  readonly table: string;
  readonly liveRows: number;
  readonly deadRows: number;
  readonly deadRatio: number;
  readonly tableBytes: number;
  /** table_bytes × dead ratio: the space dead tuples hold (what VACUUM can reuse). */
  readonly estimatedBloatBytes: number;
  readonly lastAutovacuum: string | null;
}

export interface ConnectionRow {
  readonly node: string;
  readonly peakTotal: number | null;
  readonly peakAt: string | null;
  readonly peakActive: number | null;
  readonly peakIdleInTx: number | null;
  readonly peakApp: number | null;
  readonly maxConnections: number | null;
  readonly poolPeak: number | null;
  readonly poolMax: number | null;
  readonly poolWaitingPeak: number | null;
}

export interface LagRow {
  readonly node: string;
  readonly samples: number;
  readonly unreachable: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly maxBytes: number | null;
}

export interface HitRatioRow {
  readonly node: string;
  readonly bufferHitRatio: number | null;
  readonly indexHitRatio: number | null;
  readonly blksRead: number;
}

export interface LatencyRow {
  readonly kind: 'db' | 'http';
  readonly label: string;
  readonly count: number;
  readonly meanMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
}

export interface AlertRow {
  readonly alertname: string;
  readonly severity: string | null;
  readonly startsAt: string;
  readonly endsAt: string | null;
  readonly durationMinutes: number | null;
  readonly summary: string | null;
}

export interface Recommendation {
  readonly severity: 'high' | 'medium' | 'low';
  readonly section: string;
  readonly title: string;
  readonly detail: string;
}

export interface DailyPoint { readonly day: string; readonly value: number }

export interface Report {
  readonly month: string;
  readonly period: { readonly from: string; readonly to: string };
  readonly previousMonth: string;
  readonly generatedAt: string;
  readonly generatedBy: string;
  readonly coverage: {
    readonly runs: number;
    readonly firstSnapshotAt: string | null;
    readonly lastSnapshotAt: string | null;
    readonly expectedRuns: number;
    readonly nodes: ReadonlyArray<{ readonly node: string; readonly snapshots: number; readonly failed: number; readonly resets: number; readonly deallocations: number }>;
    readonly previousMonthRuns: number;
  };
  readonly slo: readonly SloRow[];
  readonly topQueries: readonly QueryRow[];
  readonly totals: { readonly statementTimeMs: number; readonly calls: number; readonly previousStatementTimeMs: number; readonly previousCalls: number };
  readonly dailyStatementTime: ReadonlyArray<{ readonly name: string; readonly points: readonly DailyPoint[] }>;
  readonly regressions: readonly RegressionRow[];
  readonly newQueries: readonly QueryRow[];
  readonly seqScans: readonly SeqScanRow[];
  readonly unusedIndexes: readonly UnusedIndexRow[];
  readonly duplicateIndexes: readonly DuplicateIndexRow[];
  readonly growth: readonly GrowthRow[];
  readonly partitions: { readonly summary: readonly PartitionSummary[]; readonly largest: readonly PartitionRow[] };
  readonly bloat: readonly BloatRow[];
  readonly connections: { readonly nodes: readonly ConnectionRow[]; readonly daily: ReadonlyArray<{ readonly node: string; readonly points: readonly DailyPoint[] }> };
  readonly replicaLag: { readonly nodes: readonly LagRow[]; readonly daily: ReadonlyArray<{ readonly node: string; readonly points: readonly DailyPoint[] }> };
  readonly cache: {
    readonly nodes: readonly HitRatioRow[];
    readonly app: { readonly hits: number; readonly misses: number; readonly hitRatio: number | null; readonly peakMemoryBytes: number | null; readonly maxMemoryBytes: number | null };
    readonly appDaily: readonly DailyPoint[];
  };
  readonly latency: readonly LatencyRow[];
  readonly alerts: {
    readonly source: string;
    readonly reachable: boolean;
    readonly note: string;
    readonly fired: readonly AlertRow[];
    readonly byName: ReadonlyArray<{ readonly alertname: string; readonly count: number; readonly totalMinutes: number }>;
  };
  readonly recommendations: readonly Recommendation[];
}
