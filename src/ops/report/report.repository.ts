import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/**
 * Reads of the monthly report over the monitoring schema. Every query takes the period as
 * $1 (from, inclusive) and $2 (to, exclusive). Cumulative counters (scans) are turned into
 * increments with lag() per node and relation, starting one day before the period so the
 * step into the month is counted; a counter that went down (node restart) counts from zero.
 */
const SAMPLE = ['2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z'];
const MONTH_SCAN = 'the report reads one month of the history: a scan of that range is the plan, and the report runs once a month';

export const reportQueries = catalog({
  coverage: defineQuery({
    name: 'report.coverage',
    description: 'Snapshots per node in the period, failed ones, detected resets and deallocations.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT node, count(*)::int AS snapshots, count(*) FILTER (WHERE NOT ok)::int AS failed,
       count(*) FILTER (WHERE pgss_reset_detected)::int AS resets, coalesce(sum(pgss_dealloc_delta), 0)::float8 AS deallocations,
       min(taken_at) AS first_at, max(taken_at) AS last_at, count(DISTINCT run_id)::int AS runs
  FROM monitoring.snapshots WHERE taken_at >= $1 AND taken_at < $2 GROUP BY node ORDER BY node`,
  }),
  runCount: defineQuery({
    name: 'report.run_count',
    description: 'Snapshot runs in the period.',
    target: 'replica',
    sample: SAMPLE,
    sql: `SELECT count(*)::int AS runs, min(taken_at) AS first_at, max(taken_at) AS last_at FROM monitoring.snapshot_runs WHERE taken_at >= $1 AND taken_at < $2`,
  }),
  statementTotals: defineQuery({
    name: 'report.statement_totals',
    description: 'Per statement: calls, time, rows and blocks summed over the period from the stored deltas.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    // Aggregate the month's rows first, then attach the 300-odd statement texts: hashing wide
    // text rows through the join doubled the time on a full month (2.7M rows, top-100 × 3 nodes).
    sql: `WITH agg AS (
  SELECT st.queryid, sum(st.calls_delta)::float8 AS calls, sum(st.total_exec_time_delta)::float8 AS total_ms,
         sum(st.rows_delta)::float8 AS rows, sum(st.shared_blks_hit_delta)::float8 AS blks_hit,
         sum(st.shared_blks_read_delta)::float8 AS blks_read, sum(st.temp_blks_written_delta)::float8 AS temp_blks_written,
         coalesce(sum(st.calls_delta) FILTER (WHERE sn.role = 'replica'), 0)::float8 AS replica_calls
    FROM monitoring.statement_stats st JOIN monitoring.snapshots sn ON sn.id = st.snapshot_id
   WHERE sn.taken_at >= $1 AND sn.taken_at < $2
   GROUP BY st.queryid)
SELECT a.queryid::text AS queryid, s.name, left(s.query, 4000) AS query, s.first_seen_at, a.calls, a.total_ms, a.rows,
       a.blks_hit, a.blks_read, a.temp_blks_written, a.replica_calls
  FROM agg a JOIN monitoring.statements s ON s.queryid = a.queryid`,
  }),
  statementDaily: defineQuery({
    name: 'report.statement_daily',
    description: 'Daily statement time of the given statements (the chart of the top queries).',
    target: 'replica',
    sample: [...SAMPLE, '{}'],
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT st.queryid::text AS queryid, date_trunc('day', sn.taken_at, 'UTC') AS day, sum(st.total_exec_time_delta)::float8 AS total_ms
  FROM monitoring.statement_stats st JOIN monitoring.snapshots sn ON sn.id = st.snapshot_id
 WHERE sn.taken_at >= $1 AND sn.taken_at < $2 AND st.queryid = ANY($3::bigint[])
 GROUP BY 1, 2 ORDER BY 1, 2`,
  }),
  tableDaily: defineQuery({
    name: 'report.table_daily',
    description: "Each table's size (partitions summed into their parent) at the last primary sample of each day.",
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `WITH per_snapshot AS (
  SELECT sn.taken_at, t.schema_name, coalesce(t.parent_table, t.table_name) AS table_name,
         sum(t.total_bytes)::float8 AS bytes, sum(t.n_live_tup)::float8 AS live_rows
    FROM monitoring.table_stats t JOIN monitoring.snapshots sn ON sn.id = t.snapshot_id
   WHERE sn.role = 'primary' AND sn.taken_at >= $1 AND sn.taken_at < $2
   GROUP BY sn.id, sn.taken_at, t.schema_name, coalesce(t.parent_table, t.table_name))
SELECT DISTINCT ON (schema_name, table_name, date_trunc('day', taken_at, 'UTC'))
       schema_name, table_name, taken_at, bytes, live_rows
  FROM per_snapshot ORDER BY schema_name, table_name, date_trunc('day', taken_at, 'UTC'), taken_at DESC`,
  }),
  latestTables: defineQuery({
    name: 'report.latest_tables',
    description: "Each table's (and partition's) last primary sample in the period: rows, dead rows, sizes.",
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT DISTINCT ON (t.schema_name, t.table_name) t.schema_name, t.table_name, t.parent_table,
       t.n_live_tup::float8 AS live_rows, t.n_dead_tup::float8 AS dead_rows, t.table_bytes::float8 AS table_bytes,
       t.total_bytes::float8 AS total_bytes, t.last_autovacuum
  FROM monitoring.table_stats t JOIN monitoring.snapshots sn ON sn.id = t.snapshot_id
 WHERE sn.role = 'primary' AND sn.taken_at >= $1 AND sn.taken_at < $2
 ORDER BY t.schema_name, t.table_name, sn.taken_at DESC`,
  }),
  tableScans: defineQuery({
    name: 'report.table_scans',
    description: 'Sequential and index scans per table in the period, summed over every node.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `WITH s AS (
  SELECT sn.taken_at, t.schema_name, t.table_name, t.seq_scan, t.seq_tup_read, t.idx_scan,
         lag(t.seq_scan) OVER w AS p_seq, lag(t.seq_tup_read) OVER w AS p_tup, lag(t.idx_scan) OVER w AS p_idx
    FROM monitoring.table_stats t JOIN monitoring.snapshots sn ON sn.id = t.snapshot_id
   WHERE sn.taken_at >= $1::timestamptz - interval '1 day' AND sn.taken_at < $2
  WINDOW w AS (PARTITION BY sn.node, sn.server_started_at, t.schema_name, t.table_name ORDER BY sn.taken_at))
SELECT schema_name, table_name,
       sum(CASE WHEN p_seq IS NULL THEN 0 WHEN seq_scan >= p_seq THEN seq_scan - p_seq ELSE seq_scan END)::float8 AS seq_scans,
       sum(CASE WHEN p_tup IS NULL THEN 0 WHEN seq_tup_read >= p_tup THEN seq_tup_read - p_tup ELSE seq_tup_read END)::float8 AS seq_tup_read,
       sum(CASE WHEN p_idx IS NULL THEN 0 WHEN idx_scan >= p_idx THEN idx_scan - p_idx ELSE idx_scan END)::float8 AS idx_scans
  FROM s WHERE taken_at >= $1 GROUP BY schema_name, table_name`,
  }),
  indexUsage: defineQuery({
    name: 'report.index_usage',
    description: 'Index scans in the period summed over every node, how long each index was observed, and its last definition.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `WITH s AS (
  SELECT sn.node, sn.taken_at, i.schema_name, i.index_name, i.idx_scan, lag(i.idx_scan) OVER w AS p_idx
    FROM monitoring.index_stats i JOIN monitoring.snapshots sn ON sn.id = i.snapshot_id
   WHERE sn.taken_at >= $1::timestamptz - interval '1 day' AND sn.taken_at < $2
  WINDOW w AS (PARTITION BY sn.node, sn.server_started_at, i.schema_name, i.index_name ORDER BY sn.taken_at)),
usage AS (
  SELECT schema_name, index_name,
         sum(CASE WHEN p_idx IS NULL THEN 0 WHEN idx_scan >= p_idx THEN idx_scan - p_idx ELSE idx_scan END)::float8 AS scans,
         (EXTRACT(EPOCH FROM max(taken_at) - min(taken_at)) / 86400)::float8 AS observed_days
    FROM s WHERE taken_at >= $1 GROUP BY schema_name, index_name),
latest AS (
  SELECT DISTINCT ON (i.schema_name, i.index_name) i.*
    FROM monitoring.index_stats i JOIN monitoring.snapshots sn ON sn.id = i.snapshot_id
   WHERE sn.role = 'primary' AND sn.taken_at >= $1 AND sn.taken_at < $2
   ORDER BY i.schema_name, i.index_name, sn.taken_at DESC)
SELECT l.schema_name, l.table_name, l.index_name, l.parent_index, u.scans, u.observed_days, l.size_bytes::float8 AS size_bytes,
       l.is_unique, l.is_primary, l.method, l.key_columns, l.predicate, l.definition
  FROM latest l JOIN usage u USING (schema_name, index_name)`,
  }),
  partitions: defineQuery({
    name: 'report.partitions',
    description: "Each partition's range, size at the start and end of the period, and rows (primary samples).",
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT DISTINCT p.parent_table, p.partition_name, p.range_from, p.range_to,
       first_value(p.total_bytes) OVER w::float8 AS first_bytes, last_value(p.total_bytes) OVER w::float8 AS last_bytes,
       last_value(p.rows_estimate) OVER w::float8 AS rows, last_value(sn.taken_at) OVER w AS last_seen
  FROM monitoring.partition_stats p JOIN monitoring.snapshots sn ON sn.id = p.snapshot_id
 WHERE sn.taken_at >= $1 AND sn.taken_at < $2
WINDOW w AS (PARTITION BY p.partition_name ORDER BY sn.taken_at ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`,
  }),
  nodeTotals: defineQuery({
    name: 'report.node_totals',
    description: 'Per node: buffer and index block hits/reads, and connection, pool and lag peaks over the period.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT node, min(role) AS role,
       coalesce(sum(blks_hit_delta), 0)::float8 AS blks_hit, coalesce(sum(blks_read_delta), 0)::float8 AS blks_read,
       coalesce(sum(idx_blks_hit_delta), 0)::float8 AS idx_blks_hit, coalesce(sum(idx_blks_read_delta), 0)::float8 AS idx_blks_read,
       max(connections_total) AS peak_total, max(connections_active) AS peak_active, max(connections_idle_in_tx) AS peak_idle_in_tx,
       max(connections_app) AS peak_app, max(max_connections) AS max_connections, max(pool_total) AS pool_peak,
       max(pool_max) AS pool_max, max(pool_waiting) AS pool_waiting_peak,
       (array_agg(taken_at ORDER BY connections_total DESC NULLS LAST, taken_at))[1] AS peak_at,
       count(*) FILTER (WHERE ok)::int AS ok_samples, count(*) FILTER (WHERE NOT ok)::int AS failed_samples,
       count(replica_lag_ms)::int AS lag_samples,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY replica_lag_ms) AS lag_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY replica_lag_ms) AS lag_p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY replica_lag_ms) AS lag_p99,
       max(replica_lag_ms) AS lag_max, max(replica_lag_bytes)::float8 AS lag_max_bytes
  FROM monitoring.snapshots WHERE taken_at >= $1 AND taken_at < $2 GROUP BY node ORDER BY node`,
  }),
  nodeDaily: defineQuery({
    name: 'report.node_daily',
    description: 'Per node and day: peak connections and the 95th percentile of replica lag.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT node, date_trunc('day', taken_at, 'UTC') AS day, max(connections_total) AS peak_connections,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY replica_lag_ms) AS lag_p95
  FROM monitoring.snapshots WHERE taken_at >= $1 AND taken_at < $2 AND ok GROUP BY 1, 2 ORDER BY 1, 2`,
  }),
  appCache: defineQuery({
    name: 'report.app_cache',
    description: 'App cache hits and misses per day and Redis memory peaks over the period.',
    target: 'replica',
    sample: SAMPLE,
    sql: `SELECT date_trunc('day', taken_at, 'UTC') AS day, coalesce(sum(app_cache_hits_delta), 0)::float8 AS hits,
       coalesce(sum(app_cache_misses_delta), 0)::float8 AS misses, max(app_cache_memory_bytes)::float8 AS memory_bytes,
       max(app_cache_max_bytes)::float8 AS max_bytes
  FROM monitoring.snapshot_runs WHERE taken_at >= $1 AND taken_at < $2 GROUP BY 1 ORDER BY 1`,
  }),
  latencyBuckets: defineQuery({
    name: 'report.latency_buckets',
    description: 'Latency histogram buckets summed over the period, per catalog query and HTTP route.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT l.kind, l.label, u.le, sum(u.cnt)::float8 AS cnt
  FROM monitoring.latency_stats l JOIN monitoring.snapshot_runs r ON r.id = l.run_id,
       LATERAL unnest(l.bucket_le, l.counts_delta) AS u(le, cnt)
 WHERE r.taken_at >= $1 AND r.taken_at < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  }),
  latencyTotals: defineQuery({
    name: 'report.latency_totals',
    description: 'Latency histogram counts and sums over the period, per catalog query and HTTP route.',
    target: 'replica',
    sample: SAMPLE,
    justify: { seq_scan: MONTH_SCAN },
    sql: `SELECT l.kind, l.label, sum(l.count_delta)::float8 AS count, sum(l.sum_delta)::float8 AS sum_seconds
  FROM monitoring.latency_stats l JOIN monitoring.snapshot_runs r ON r.id = l.run_id
 WHERE r.taken_at >= $1 AND r.taken_at < $2 GROUP BY 1, 2`,
  }),
  alerts: defineQuery({
    name: 'report.alerts',
    description: 'Alert episodes active at any time in the period.',
    target: 'replica',
    sample: SAMPLE,
    sql: `SELECT alertname, severity, summary, starts_at, ends_at, last_seen_at
  FROM monitoring.alerts WHERE starts_at < $2 AND coalesce(ends_at, last_seen_at) >= $1 ORDER BY starts_at`,
  }),
  storedReports: defineQuery({
    name: 'report.stored_for_month',
    description: 'Reports stored for one month, with who generated them and when (SC-015 evidence).',
    target: 'replica',
    sample: ['2026-10'],
    sql: `SELECT month, format, generated_by, created_at FROM monitoring.reports WHERE month = $1 ORDER BY format`,
  }),
});
