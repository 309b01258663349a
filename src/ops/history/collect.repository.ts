import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/**
 * What the snapshot job reads on each node (src/ops/history/collect.ts runs these on every node by
 * name). They read statistics views only, never the app's tables, so they are cheap. Each is
 * scoped to the app's own database: pg_stat_statements is cluster-wide, and another database on
 * the same cluster (a test, a side-by-side copy) must not leak into this one's history.
 */
export const collectQueries = catalog({
  pgssInfo: defineQuery({
    name: 'history.pgss_info',
    description: 'pg_stat_statements_info of a node: deallocations and the last full reset (reset/eviction detection).',
    target: 'primary',
    sample: [],
    sql: `SELECT dealloc::text AS dealloc, stats_reset FROM pg_stat_statements_info`,
  }),
  statements: defineQuery({
    name: 'history.pgss_statements',
    description: "Cumulative pg_stat_statements counters of this database's top-level statements, one row per queryid.",
    target: 'primary',
    sample: [],
    justify: {
      misestimate: 'pg_stat_statements() is a set-returning C function with a fixed planner row estimate; the row count depends on the workload, and the plan (one aggregate over one function scan) has no alternative the estimate could change.',
    },
    sql: `SELECT queryid::text AS queryid, min(query) AS query,
       sum(calls)::float8 AS calls, sum(total_exec_time)::float8 AS total_exec_time, sum(rows)::float8 AS rows,
       sum(shared_blks_hit)::float8 AS shared_blks_hit, sum(shared_blks_read)::float8 AS shared_blks_read,
       sum(temp_blks_written)::float8 AS temp_blks_written
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND toplevel AND queryid IS NOT NULL
 GROUP BY queryid`,
  }),
  nodeStats: defineQuery({
    name: 'history.node_stats',
    description: 'pg_stat_database counters, index block hits, database size and connection counts of a node.',
    target: 'primary',
    sample: [],
    sql: `SELECT d.blks_hit::float8 AS blks_hit, d.blks_read::float8 AS blks_read,
       (SELECT coalesce(sum(idx_blks_hit), 0) FROM pg_statio_user_indexes)::float8 AS idx_blks_hit,
       (SELECT coalesce(sum(idx_blks_read), 0) FROM pg_statio_user_indexes)::float8 AS idx_blks_read,
       d.xact_commit::float8 AS xact_commit, d.xact_rollback::float8 AS xact_rollback,
       d.deadlocks::float8 AS deadlocks, d.temp_bytes::float8 AS temp_bytes,
       pg_database_size(current_database())::float8 AS db_size_bytes,
       a.total, a.active, a.idle_in_tx, a.app,
       current_setting('max_connections')::int AS max_connections,
       pg_postmaster_start_time() AS server_started_at
  FROM pg_stat_database d,
       LATERAL (SELECT count(*)::int AS total,
                       count(*) FILTER (WHERE state = 'active')::int AS active,
                       count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle_in_tx,
                       count(*) FILTER (WHERE datname = current_database() AND application_name LIKE 'bgc%')::int AS app
                  FROM pg_stat_activity WHERE backend_type = 'client backend') a
 WHERE d.datname = current_database()`,
  }),
  replicaLag: defineQuery({
    name: 'history.replica_lag',
    description: "A replica's replay lag in ms (0 when it has replayed all it received: an idle primary is not lag) and bytes behind the given primary LSN.",
    target: 'replica',
    sample: ['0/0'],
    sql: `SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) END::float8 AS lag_ms,
       CASE WHEN $1::text IS NULL THEN NULL
            ELSE greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0) END::float8 AS lag_bytes`,
  }),
  tableStats: defineQuery({
    name: 'history.table_stats',
    description: 'Per-table scans, tuples, dead tuples and sizes of user tables (partitions included, with their parent).',
    target: 'primary',
    sample: [],
    sql: `SELECT s.schemaname AS schema_name, s.relname AS table_name, p.relname AS parent_table,
       coalesce(s.seq_scan, 0)::float8 AS seq_scan, coalesce(s.seq_tup_read, 0)::float8 AS seq_tup_read,
       coalesce(s.idx_scan, 0)::float8 AS idx_scan, s.n_tup_ins::float8 AS n_tup_ins, s.n_tup_upd::float8 AS n_tup_upd,
       s.n_tup_del::float8 AS n_tup_del, s.n_live_tup::float8 AS n_live_tup, s.n_dead_tup::float8 AS n_dead_tup,
       greatest(s.last_autovacuum, s.last_vacuum) AS last_autovacuum,
       pg_table_size(s.relid)::float8 AS table_bytes, pg_indexes_size(s.relid)::float8 AS index_bytes,
       pg_total_relation_size(s.relid)::float8 AS total_bytes
  FROM pg_stat_user_tables s
  LEFT JOIN pg_inherits i ON i.inhrelid = s.relid
  LEFT JOIN pg_class p ON p.oid = i.inhparent`,
  }),
  indexStats: defineQuery({
    name: 'history.index_stats',
    description: 'Per-index scans, size and definition (key columns, predicate) for unused and duplicate index checks.',
    target: 'primary',
    sample: [],
    sql: `SELECT s.schemaname AS schema_name, s.relname AS table_name, s.indexrelname AS index_name,
       pi.relname AS parent_index, coalesce(s.idx_scan, 0)::float8 AS idx_scan,
       pg_relation_size(s.indexrelid)::float8 AS size_bytes, x.indisunique AS is_unique, x.indisprimary AS is_primary,
       am.amname AS method,
       (SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, x.indnkeyatts) k) AS key_columns,
       pg_get_expr(x.indpred, x.indrelid) AS predicate, pg_get_indexdef(x.indexrelid) AS definition
  FROM pg_stat_user_indexes s
  JOIN pg_index x ON x.indexrelid = s.indexrelid
  JOIN pg_class ic ON ic.oid = s.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_inherits i ON i.inhrelid = s.indexrelid
  LEFT JOIN pg_class pi ON pi.oid = i.inhparent`,
  }),
  partitionStats: defineQuery({
    name: 'history.partition_stats',
    description: 'Size, estimated rows and range of every partition of a partitioned table.',
    target: 'primary',
    sample: [],
    sql: `SELECT p.relname AS parent_table, c.relname AS partition_name,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       pg_total_relation_size(c.oid)::float8 AS total_bytes, greatest(c.reltuples, 0)::float8 AS rows_estimate
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_class p ON p.oid = i.inhparent
 WHERE p.relkind = 'p' AND c.relkind IN ('r', 'p')`,
  }),
});
