import { defineQuery } from '../../catalog/types.ts';
import { catalog } from '../../catalog/registry.ts';

/**
 * Reads behind the admin dashboard (/admin/api/dashboard). Live statement statistics come from
 * pg_stat_statements on each node (cumulative since its last reset); history comes from the
 * monitoring schema. $1 is always the window start.
 */
export const dashboardQueries = catalog({
  liveStatements: defineQuery({
    name: 'dashboard.live_statements',
    description: "A node's slowest statements by mean time right now (pg_stat_statements, this database, ≥ 5 calls).",
    target: 'replica',
    sample: [],
    sql: `SELECT queryid::text AS queryid, min(query) AS query, sum(calls)::float8 AS calls,
       sum(total_exec_time)::float8 AS total_ms, (sum(total_exec_time) / nullif(sum(calls), 0))::float8 AS mean_ms,
       max(max_exec_time)::float8 AS max_ms
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
 GROUP BY queryid HAVING sum(calls) >= 5
 ORDER BY mean_ms DESC NULLS LAST LIMIT 10`,
  }),
  nodeSeries: defineQuery({
    name: 'dashboard.node_series',
    description: 'Per snapshot and node since $1: replica lag, connections and buffer reads/hits (the history charts).',
    target: 'replica',
    sample: ['2026-01-01T00:00:00Z'],
    sql: `SELECT taken_at, node, ok, replica_lag_ms, connections_total, blks_hit_delta::float8 AS blks_hit, blks_read_delta::float8 AS blks_read
  FROM monitoring.snapshots WHERE taken_at >= $1 ORDER BY taken_at, node`,
  }),
  statementSeries: defineQuery({
    name: 'dashboard.statement_series',
    description: 'Statement time and calls per snapshot run since $1 (all nodes).',
    target: 'replica',
    sample: ['2026-01-01T00:00:00Z'],
    sql: `SELECT sn.run_id, min(sn.taken_at) AS taken_at, sum(st.total_exec_time_delta)::float8 AS total_ms, sum(st.calls_delta)::float8 AS calls
  FROM monitoring.snapshots sn JOIN monitoring.statement_stats st ON st.snapshot_id = sn.id
 WHERE sn.taken_at >= $1 GROUP BY sn.run_id ORDER BY 2`,
  }),
  regressed: defineQuery({
    name: 'dashboard.regressed',
    description: 'Statements whose mean time over the last day is ≥ 2× their mean over the six days before (≥ 10 calls in each).',
    target: 'replica',
    sample: ['2026-01-01T00:00:00Z'],
    sql: `WITH w AS (
  SELECT st.queryid, sn.taken_at >= $1::timestamptz AS recent, sum(st.calls_delta)::float8 AS calls, sum(st.total_exec_time_delta)::float8 AS total_ms
    FROM monitoring.statement_stats st JOIN monitoring.snapshots sn ON sn.id = st.snapshot_id
   WHERE sn.taken_at >= $1::timestamptz - interval '6 days'
   GROUP BY st.queryid, 2)
SELECT r.queryid::text AS queryid, s.name, left(s.query, 300) AS query, b.total_ms / b.calls AS before_ms, r.total_ms / r.calls AS now_ms,
       (r.total_ms / r.calls) / nullif(b.total_ms / b.calls, 0) AS ratio, r.calls
  FROM w r JOIN w b ON b.queryid = r.queryid AND NOT b.recent
  JOIN monitoring.statements s ON s.queryid = r.queryid
 WHERE r.recent AND r.calls >= 10 AND b.calls >= 10 AND b.total_ms > 0 AND (r.total_ms / r.calls) >= 2 * (b.total_ms / b.calls)
 ORDER BY ratio DESC LIMIT 10`,
  }),
  slowestRecent: defineQuery({
    name: 'dashboard.slowest_recent',
    description: 'Slowest statements by mean time since $1 from the history (all nodes).',
    target: 'replica',
    sample: ['2026-01-01T00:00:00Z'],
    sql: `SELECT st.queryid::text AS queryid, s.name, left(s.query, 300) AS query, sum(st.calls_delta)::float8 AS calls,
       sum(st.total_exec_time_delta)::float8 AS total_ms, (sum(st.total_exec_time_delta) / nullif(sum(st.calls_delta), 0))::float8 AS mean_ms
  FROM monitoring.statement_stats st JOIN monitoring.snapshots sn ON sn.id = st.snapshot_id JOIN monitoring.statements s ON s.queryid = st.queryid
 WHERE sn.taken_at >= $1 GROUP BY st.queryid, s.name, s.query ORDER BY mean_ms DESC NULLS LAST LIMIT 10`,
  }),
  lastSnapshot: defineQuery({
    name: 'dashboard.last_snapshot',
    description: 'When the history job last ran, and how many runs are kept.',
    target: 'replica',
    sample: [],
    sql: `SELECT max(taken_at) AS last_at, count(*)::int AS runs FROM monitoring.snapshot_runs`,
  }),
});
