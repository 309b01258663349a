import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/**
 * Writes of the snapshot job into the monitoring schema, and the baselines it reads back. Row
 * sets travel as one jsonb parameter (jsonb_to_recordset): one round trip per table per run,
 * and bigint queryids go as JSON strings so no 64-bit hash loses precision in JavaScript.
 */
export const storeQueries = catalog({
  previousSnapshot: defineQuery({
    name: 'history.previous_snapshot',
    description: "The node's latest successful snapshot: the baseline of pg_stat_statements_info and pg_stat_database deltas.",
    target: 'primary',
    sample: ['primary'],
    sql: `SELECT id, taken_at, pgss_dealloc::text AS pgss_dealloc, pgss_stats_reset,
       blks_hit::float8 AS blks_hit, blks_read::float8 AS blks_read,
       idx_blks_hit::float8 AS idx_blks_hit, idx_blks_read::float8 AS idx_blks_read, server_started_at
  FROM monitoring.snapshots WHERE node = $1 AND ok ORDER BY taken_at DESC LIMIT 1`,
  }),
  lastRelationsAt: defineQuery({
    name: 'history.last_relations_at',
    description: 'When table/index statistics were last captured on a node (they are captured less often).',
    target: 'primary',
    sample: ['primary'],
    sql: `SELECT max(taken_at) AS taken_at FROM monitoring.snapshots WHERE node = $1 AND relations_captured`,
  }),
  statementCounters: defineQuery({
    name: 'history.statement_counters',
    description: 'Last cumulative counters per statement on a node: the baseline of the next statement deltas.',
    target: 'primary',
    sample: ['primary'],
    sql: `SELECT queryid::text AS queryid, calls::float8 AS calls, total_exec_time, rows::float8 AS rows,
       shared_blks_hit::float8 AS shared_blks_hit, shared_blks_read::float8 AS shared_blks_read,
       temp_blks_written::float8 AS temp_blks_written
  FROM monitoring.statement_counters WHERE node = $1`,
  }),
  insertRun: defineQuery({
    name: 'history.insert_run',
    description: 'Starts a snapshot run.',
    target: 'primary',
    sample: ['instance', '2026-01-01T00:00:00Z', null, null, null, null, null, null],
    sql: `INSERT INTO monitoring.snapshot_runs (instance_id, process_started_at, app_cache_hits, app_cache_misses,
       app_cache_hits_delta, app_cache_misses_delta, app_cache_memory_bytes, app_cache_max_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, taken_at`,
  }),
  finishRun: defineQuery({
    name: 'history.finish_run',
    description: 'Records how long a snapshot run took.',
    target: 'primary',
    sample: [0, 0],
    sql: `UPDATE monitoring.snapshot_runs SET duration_ms = $2 WHERE id = $1`,
  }),
  insertSnapshot: defineQuery({
    name: 'history.insert_snapshot',
    description: 'One node of a snapshot run: pg_stat_statements_info, database counters, connections, pool and lag.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.snapshots (run_id, taken_at, node, role, ok, error, pgss_dealloc, pgss_stats_reset,
       pgss_dealloc_delta, pgss_reset_detected, statements_total, statements_stored, blks_hit, blks_read,
       blks_hit_delta, blks_read_delta, idx_blks_hit, idx_blks_read, idx_blks_hit_delta, idx_blks_read_delta,
       xact_commit, xact_rollback, deadlocks, temp_bytes, db_size_bytes, connections_total, connections_active,
       connections_idle_in_tx, connections_app, max_connections, pool_total, pool_idle, pool_waiting, pool_max,
       replica_lag_ms, replica_lag_bytes, relations_captured, server_started_at)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(run_id bigint, taken_at timestamptz, node text, role text, ok boolean,
       error text, pgss_dealloc bigint, pgss_stats_reset timestamptz, pgss_dealloc_delta bigint, pgss_reset_detected boolean,
       statements_total int, statements_stored int, blks_hit bigint, blks_read bigint, blks_hit_delta bigint,
       blks_read_delta bigint, idx_blks_hit bigint, idx_blks_read bigint, idx_blks_hit_delta bigint,
       idx_blks_read_delta bigint, xact_commit bigint, xact_rollback bigint, deadlocks bigint, temp_bytes bigint,
       db_size_bytes bigint, connections_total int, connections_active int, connections_idle_in_tx int,
       connections_app int, max_connections int, pool_total int, pool_idle int, pool_waiting int, pool_max int,
       replica_lag_ms float8, replica_lag_bytes bigint, relations_captured boolean, server_started_at timestamptz)
RETURNING id, node`,
  }),
  upsertStatements: defineQuery({
    name: 'history.upsert_statements',
    description: 'Registers statement texts and catalog names by queryid; refreshes last_seen_at.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.statements AS s (queryid, name, query, first_seen_at, last_seen_at)
SELECT r.queryid, r.name, r.query, r.seen_at, r.seen_at
  FROM jsonb_to_recordset($1::jsonb) AS r(queryid bigint, name text, query text, seen_at timestamptz)
ON CONFLICT (queryid) DO UPDATE SET last_seen_at = greatest(s.last_seen_at, EXCLUDED.last_seen_at),
       name = coalesce(s.name, EXCLUDED.name)`,
  }),
  upsertCounters: defineQuery({
    name: 'history.upsert_statement_counters',
    description: 'Stores the latest cumulative counters per node and statement (next baseline).',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.statement_counters AS c (node, queryid, calls, total_exec_time, rows, shared_blks_hit,
       shared_blks_read, temp_blks_written, updated_at)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(node text, queryid bigint, calls bigint, total_exec_time float8,
       rows bigint, shared_blks_hit bigint, shared_blks_read bigint, temp_blks_written bigint, updated_at timestamptz)
ON CONFLICT (node, queryid) DO UPDATE SET calls = EXCLUDED.calls, total_exec_time = EXCLUDED.total_exec_time,
       rows = EXCLUDED.rows, shared_blks_hit = EXCLUDED.shared_blks_hit, shared_blks_read = EXCLUDED.shared_blks_read,
       temp_blks_written = EXCLUDED.temp_blks_written, updated_at = EXCLUDED.updated_at`,
  }),
  clearCounters: defineQuery({
    name: 'history.clear_statement_counters',
    description: "Forgets a node's statement baselines after a full pg_stat_statements reset (they no longer apply).",
    target: 'primary',
    sample: ['none'],
    sql: `DELETE FROM monitoring.statement_counters WHERE node = $1`,
  }),
  insertStatementStats: defineQuery({
    name: 'history.insert_statement_stats',
    description: 'Statement statistics of one node snapshot: cumulative values, deltas and how each delta was obtained.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.statement_stats (snapshot_id, queryid, calls, total_exec_time, mean_exec_time, rows,
       shared_blks_hit, shared_blks_read, temp_blks_written, delta_kind, calls_delta, total_exec_time_delta, rows_delta,
       shared_blks_hit_delta, shared_blks_read_delta, temp_blks_written_delta)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(snapshot_id bigint, queryid bigint, calls bigint,
       total_exec_time float8, mean_exec_time float8, rows bigint, shared_blks_hit bigint, shared_blks_read bigint,
       temp_blks_written bigint, delta_kind text, calls_delta bigint, total_exec_time_delta float8, rows_delta bigint,
       shared_blks_hit_delta bigint, shared_blks_read_delta bigint, temp_blks_written_delta bigint)`,
  }),
  insertTableStats: defineQuery({
    name: 'history.insert_table_stats',
    description: 'Table statistics of one node snapshot.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.table_stats (snapshot_id, schema_name, table_name, parent_table, seq_scan, seq_tup_read,
       idx_scan, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup, last_autovacuum, table_bytes, index_bytes, total_bytes)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(snapshot_id bigint, schema_name text, table_name text,
       parent_table text, seq_scan bigint, seq_tup_read bigint, idx_scan bigint, n_tup_ins bigint, n_tup_upd bigint,
       n_tup_del bigint, n_live_tup bigint, n_dead_tup bigint, last_autovacuum timestamptz, table_bytes bigint,
       index_bytes bigint, total_bytes bigint)`,
  }),
  insertIndexStats: defineQuery({
    name: 'history.insert_index_stats',
    description: 'Index statistics of one node snapshot.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.index_stats (snapshot_id, schema_name, table_name, index_name, parent_index, idx_scan,
       size_bytes, is_unique, is_primary, method, key_columns, predicate, definition)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(snapshot_id bigint, schema_name text, table_name text,
       index_name text, parent_index text, idx_scan bigint, size_bytes bigint, is_unique boolean, is_primary boolean,
       method text, key_columns text, predicate text, definition text)`,
  }),
  insertPartitionStats: defineQuery({
    name: 'history.insert_partition_stats',
    description: 'Partition sizes and ranges of one (primary) snapshot.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.partition_stats (snapshot_id, parent_table, partition_name, range_from, range_to,
       total_bytes, rows_estimate)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(snapshot_id bigint, parent_table text, partition_name text,
       range_from timestamptz, range_to timestamptz, total_bytes bigint, rows_estimate bigint)`,
  }),
  insertLatencyStats: defineQuery({
    name: 'history.insert_latency_stats',
    description: 'Latency histogram deltas (per catalog query and per HTTP route) of the snapshotting process.',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.latency_stats (run_id, kind, label, bucket_le, counts_delta, count_delta, sum_delta)
SELECT r.run_id, r.kind, r.label, ARRAY(SELECT jsonb_array_elements_text(r.bucket_le)::float8),
       ARRAY(SELECT jsonb_array_elements_text(r.counts_delta)::bigint), r.count_delta, r.sum_delta
  FROM jsonb_to_recordset($1::jsonb) AS r(run_id bigint, kind text, label text, bucket_le jsonb, counts_delta jsonb,
       count_delta bigint, sum_delta float8)`,
  }),
  upsertAlerts: defineQuery({
    name: 'history.upsert_alerts',
    description: 'Records alerts seen in Alertmanager (one row per alert firing episode).',
    target: 'primary',
    sample: ['[]'],
    sql: `INSERT INTO monitoring.alerts AS a (fingerprint, starts_at, alertname, severity, summary, labels, last_seen_at, ends_at)
SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(fingerprint text, starts_at timestamptz, alertname text,
       severity text, summary text, labels jsonb, last_seen_at timestamptz, ends_at timestamptz)
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, ends_at = EXCLUDED.ends_at,
       summary = EXCLUDED.summary`,
  }),
  deleteOldRuns: defineQuery({
    name: 'history.delete_old_runs',
    description: 'Retention: deletes the oldest $2 snapshot runs (and by cascade all their rows) taken before the cutoff; called until a batch comes back short.',
    target: 'primary',
    sample: ['2000-01-01T00:00:00Z', 5],
    sql: `WITH gone AS (
  DELETE FROM monitoring.snapshot_runs WHERE id IN (
    SELECT r.id FROM monitoring.snapshot_runs r WHERE r.taken_at < $1 ORDER BY r.taken_at LIMIT $2)
  RETURNING 1)
SELECT count(*)::int AS deleted FROM gone`,
  }),
  deleteOldCounters: defineQuery({
    name: 'history.delete_old_counters',
    description: 'Retention: forgets baselines of statements not seen since the cutoff.',
    target: 'primary',
    sample: ['2000-01-01T00:00:00Z'],
    sql: `DELETE FROM monitoring.statement_counters WHERE updated_at < $1`,
  }),
  deleteOldAlerts: defineQuery({
    name: 'history.delete_old_alerts',
    description: 'Retention: deletes alert episodes that started and were last seen before the cutoff (one still firing after 70 days is kept).',
    target: 'primary',
    sample: ['2000-01-01T00:00:00Z'],
    sql: `DELETE FROM monitoring.alerts WHERE starts_at < $1 AND last_seen_at < $1`,
  }),
});
