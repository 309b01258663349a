import type pg from 'pg';

/**
 * A deterministic two-month workload history (September and October 2026) written straight
 * into the monitoring schema: one snapshot run per day at 12:00 UTC, three nodes per run.
 * Day g = days since 2026-09-01 (0…60; October is g 30…60). Every figure the report tests
 * check follows from the constants below by hand arithmetic (see test/integration/report.test.ts).
 */
export const MiB = 1024 * 1024;
export const FIXTURE = {
  previous: '2026-09',
  month: '2026-10',
  days: 61,
  /** [queryid, name, node index (0 primary, 1 replica1, 2 replica2), calls/day, ms/day, first g, last g] */
  statements: [
    [1001, 'chat.inbox', 1, 1000, 2000, 0, 60],
    [1001, 'chat.inbox', 2, 1000, 2000, 0, 60],
    [1002, 'feed.global', 1, 500, 1500, 0, 60],
    [1002, 'feed.global', 2, 500, 1500, 0, 60],
    [1003, 'search.profiles', 1, 200, 400, 0, 29],
    [1003, 'search.profiles', 1, 200, 1200, 30, 60],
    [1004, 'profile.get', 0, 300, 300, 0, 29],
    [1004, 'profile.get', 0, 300, 360, 30, 60],
    [1005, 'chat.send_message', 0, 400, 800, 39, 60],
    [1006, null, 0, 10, 50, 30, 60],
    [1007, 'history.node_stats', 0, 1, 5, 0, 60],
  ] as const,
  firstSeen: { 1001: '2026-08-15T00:00:00Z', 1002: '2026-08-15T00:00:00Z', 1003: '2026-08-15T00:00:00Z', 1004: '2026-08-15T00:00:00Z', 1005: '2026-10-10T12:00:00Z', 1006: '2026-10-01T12:00:00Z', 1007: '2026-08-15T00:00:00Z' },
} as const;

export async function loadMonitoringFixture(c: pg.ClientBase): Promise<void> {
  await c.query('BEGIN');
  try {
    await c.query(`
INSERT INTO monitoring.snapshot_runs (id, taken_at, instance_id, process_started_at, app_cache_hits, app_cache_misses,
       app_cache_hits_delta, app_cache_misses_delta, app_cache_memory_bytes, app_cache_max_bytes, duration_ms)
SELECT g + 1, timestamptz '2026-09-01 12:00Z' + g * interval '1 day', 'fixture', '2026-08-01Z', 9000 * (g + 1), 1000 * (g + 1),
       9000, 1000, 100 * ${MiB}, 256 * ${MiB}, 120
  FROM generate_series(0, 60) g`);
    await c.query(`
INSERT INTO monitoring.snapshots (id, run_id, taken_at, node, role, ok, pgss_dealloc, pgss_stats_reset, pgss_dealloc_delta,
       pgss_reset_detected, statements_total, statements_stored, blks_hit_delta, blks_read_delta, idx_blks_hit_delta, idx_blks_read_delta,
       connections_total, connections_active, connections_idle_in_tx, connections_app, max_connections,
       pool_total, pool_idle, pool_waiting, pool_max, replica_lag_ms, replica_lag_bytes, relations_captured)
SELECT g * 3 + n + 1, g + 1, timestamptz '2026-09-01 12:00Z' + g * interval '1 day', node, role, true, 0, '2026-08-01Z', 0,
       (n = 2 AND g = 45), 7, 5,
       CASE n WHEN 0 THEN 990000 ELSE 999000 END, CASE n WHEN 0 THEN 10000 ELSE 1000 END,
       CASE n WHEN 0 THEN 98000 ELSE 99900 END, CASE n WHEN 0 THEN 2000 ELSE 100 END,
       CASE WHEN n = 0 AND g = 49 THEN 120 WHEN n = 0 THEN 40 + g % 7 ELSE 20 + g % 5 END, 5, 1, 30, 400,
       12, 8, CASE WHEN n = 0 AND g = 49 THEN 3 ELSE 0 END, 30,
       CASE n WHEN 0 THEN NULL WHEN 1 THEN (g % 10) * 10 ELSE CASE WHEN g = 44 THEN 5000 ELSE 5 END END,
       CASE n WHEN 0 THEN NULL WHEN 1 THEN (g % 10) * 1000 ELSE CASE WHEN g = 44 THEN 900000 ELSE 500 END END,
       true
  FROM generate_series(0, 60) g,
       (VALUES (0, 'primary', 'primary'), (1, 'replica1', 'replica'), (2, 'replica2', 'replica')) v(n, node, role)`);
    await c.query(`SELECT setval('monitoring.snapshot_runs_id_seq', 1000), setval('monitoring.snapshots_id_seq', 1000)`);

    for (const [id, iso] of Object.entries(FIXTURE.firstSeen)) {
      const s = FIXTURE.statements.find((x) => x[0] === Number(id));
      const name = s?.[1] ?? null;
      const query = name ? `/* ${name} */ SELECT fixture_${id} FROM t WHERE a = $1` : `SELECT pg_sleep($1) /* fixture ${id} */`;
      await c.query(`INSERT INTO monitoring.statements (queryid, name, query, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, '2026-10-31T12:00:00Z')`, [id, name, query, iso]);
    }
    for (const [queryid, , n, calls, ms, from, to] of FIXTURE.statements) {
      await c.query(`
INSERT INTO monitoring.statement_stats (snapshot_id, queryid, calls, total_exec_time, mean_exec_time, rows, shared_blks_hit, shared_blks_read,
       temp_blks_written, delta_kind, calls_delta, total_exec_time_delta, rows_delta, shared_blks_hit_delta, shared_blks_read_delta, temp_blks_written_delta)
SELECT g * 3 + $2::int + 1, $1::bigint, $3::bigint * (g - $5::int + 1), $4::float8 * (g - $5::int + 1), $4::float8 / $3::bigint,
       $3::bigint * (g - $5::int + 1), $3::bigint * 10 * (g - $5::int + 1), $3::bigint / 100 * (g - $5::int + 1), 0,
       CASE WHEN g = $5::int THEN 'new' ELSE 'normal' END, $3::bigint, $4::float8, $3::bigint, $3::bigint * 10, $3::bigint / 100, 0
  FROM generate_series($5::int, $6::int) g`, [queryid, n, calls, ms, from, to]);
    }

    // Tables: [name, parent, live rows (primary), dead rows, table MiB, total MiB, seq scans per day by node]
    await c.query(`
INSERT INTO monitoring.table_stats (snapshot_id, schema_name, table_name, parent_table, seq_scan, seq_tup_read, idx_scan,
       n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup, last_autovacuum, table_bytes, index_bytes, total_bytes)
SELECT g * 3 + n + 1, 'public', t.name, t.parent,
       t.seq[n + 1] * g, t.seq[n + 1] * g * t.rows_per_seq, t.idx_per_day * g, 0, 0, 0,
       CASE WHEN n = 0 THEN t.live + t.live_per_day * g ELSE 0 END, CASE WHEN n = 0 THEN t.dead ELSE 0 END,
       t.vacuumed, (t.table_mib + t.mib_per_day * g * 0.8) * ${MiB}, (t.total_mib - t.table_mib + t.mib_per_day * g * 0.2) * ${MiB},
       (t.total_mib + t.mib_per_day * g) * ${MiB}
  FROM generate_series(0, 60) g, generate_series(0, 2) n,
       (VALUES ('messages_y2026m10', 'messages', 1000000, 50000, 0, 80, 100, 10, ARRAY[0, 5, 0], 1000000, 1000, NULL::timestamptz),
               ('users', NULL, 100000, 0, 20000, 40, 50, 0, ARRAY[0, 0, 0], 0, 500, timestamptz '2026-09-20Z'),
               ('profiles', NULL, 100000, 0, 100, 60, 80, 0, ARRAY[0, 0, 2], 100000, 200, timestamptz '2026-10-30Z'),
               ('chat_rooms', NULL, 50, 0, 0, 1, 1, 0, ARRAY[100, 100, 100], 50, 0, NULL))
       t(name, parent, live, live_per_day, dead, table_mib, total_mib, mib_per_day, seq, rows_per_seq, idx_per_day, vacuumed)`);

    await c.query(`
INSERT INTO monitoring.index_stats (snapshot_id, schema_name, table_name, index_name, parent_index, idx_scan, size_bytes,
       is_unique, is_primary, method, key_columns, predicate, definition)
SELECT g * 3 + n + 1, 'public', i.tbl, i.name, i.parent, i.scans[n + 1] * g, i.mib * ${MiB}, i.uniq, i.pk, 'btree', i.keys, NULL,
       format('CREATE %sINDEX %s ON public.%s USING btree (%s)', CASE WHEN i.uniq THEN 'UNIQUE ' ELSE '' END, i.name, i.tbl, i.keys)
  FROM generate_series(0, 60) g, generate_series(0, 2) n,
       (VALUES ('users', 'users_pkey', NULL, ARRAY[0, 0, 0], 2, true, true, 'id'),
               ('users', 'users_email_lower_key', NULL, ARRAY[100, 0, 0], 3, true, false, 'lower(email)'),
               ('profiles', 'profiles_birthdate_idx', NULL, ARRAY[0, 0, 0], 12, false, false, 'birthdate'),
               ('profiles', 'profiles_state_city_idx', NULL, ARRAY[0, 10, 0], 8, false, false, 'state, city'),
               ('profiles', 'profiles_state_idx', NULL, ARRAY[0, 0, 3], 5, false, false, 'state'),
               ('sessions', 'sessions_expires_at_idx', NULL, ARRAY[0, 0, 0], 1, false, false, 'expires_at'),
               ('messages_y2026m10', 'messages_y2026m10_sender_id_idx', 'messages_sender_id_idx', ARRAY[0, 50, 50], 20, false, false, 'sender_id, created_at'))
       i(tbl, name, parent, scans, mib, uniq, pk, keys)`);

    await c.query(`
INSERT INTO monitoring.partition_stats (snapshot_id, parent_table, partition_name, range_from, range_to, total_bytes, rows_estimate)
SELECT g * 3 + 1, p.parent, p.name, p.lo, p.hi,
       CASE WHEN p.name = 'messages_y2026m10' THEN (100 + 10 * g) * ${MiB} ELSE p.bytes END,
       CASE WHEN p.name = 'messages_y2026m10' THEN 1000000 + 50000 * g ELSE p.rows END
  FROM generate_series(0, 60) g,
       (VALUES ('messages', 'messages_y2026m09', timestamptz '2026-09-01Z', timestamptz '2026-10-01Z', 300 * ${MiB}, 3000000),
               ('messages', 'messages_y2026m10', '2026-10-01Z', '2026-11-01Z', 0, 0),
               ('messages', 'messages_y2026m11', '2026-11-01Z', '2026-12-01Z', 8192, 0),
               ('messages', 'messages_y2026m12', '2026-12-01Z', '2027-01-01Z', 8192, 0),
               ('messages', 'messages_y2027m01', '2027-01-01Z', '2027-02-01Z', 8192, 0),
               ('status_updates', 'status_updates_y2026m10', '2026-10-01Z', '2026-11-01Z', 50 * ${MiB}, 200000),
               ('status_updates', 'status_updates_y2026m11', '2026-11-01Z', '2026-12-01Z', 8192, 0))
       p(parent, name, lo, hi, bytes, rows)`);

    await c.query(`
INSERT INTO monitoring.latency_stats (run_id, kind, label, bucket_le, counts_delta, count_delta, sum_delta)
SELECT g + 1, l.kind, l.label, ARRAY[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], l.counts, 1000, l.sum
  FROM generate_series(0, 60) g,
       (VALUES ('http', 'GET /api/chat/conversations', ARRAY[600, 900, 990, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]::bigint[], 1.2375),
               ('db', 'chat.inbox', ARRAY[900, 990, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]::bigint[], 0.8))
       l(kind, label, counts, sum)`);

    await c.query(`
INSERT INTO monitoring.alerts (fingerprint, starts_at, alertname, severity, summary, labels, last_seen_at, ends_at) VALUES
  ('f-lag', '2026-10-15T12:03:00Z', 'PostgresReplicaLagging', 'warning', 'replica2 lags 5 s', '{"node":"replica2"}', '2026-10-15T12:20:00Z', '2026-10-15T12:20:00Z'),
  ('f-pool', '2026-10-20T12:01:00Z', 'BgcDbPoolSaturated', 'critical', 'primary pool saturated', '{"node":"primary"}', '2026-10-20T12:06:00Z', '2026-10-20T12:06:00Z'),
  ('f-old', '2026-09-03T08:00:00Z', 'RedisDown', 'critical', 'redis down', '{}', '2026-09-03T08:02:00Z', '2026-09-03T08:02:00Z')`);
    await c.query(`INSERT INTO monitoring.reports (month, format, content, generated_by, created_at) VALUES ('2026-09', 'json', '{}', 'scheduler', '2026-10-01T00:05:00Z')`);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

/**
 * A week of recent history ending a minute before `now` (one run every 30 minutes), for the
 * dashboard, whose charts show the day before the last snapshot. feed.following (2002) runs
 * 3 ms on average until the last day and 8 ms in it: a ×2.67 regression for the dashboard.
 */
export async function loadRecentHistory(c: pg.ClientBase, now: Date): Promise<void> {
  const at = now.toISOString();
  await c.query('BEGIN');
  try {
    await c.query(`
INSERT INTO monitoring.snapshot_runs (taken_at, instance_id, process_started_at, app_cache_hits_delta, app_cache_misses_delta, duration_ms)
SELECT $1::timestamptz - k * interval '30 minutes' - interval '1 minute', 'recent-fixture', $1::timestamptz - interval '8 days', 9500, 500, 150
  FROM generate_series(0, 335) k`, [at]);
    await c.query(`
INSERT INTO monitoring.snapshots (run_id, taken_at, node, role, ok, pgss_dealloc, pgss_stats_reset, pgss_dealloc_delta, blks_hit_delta,
       blks_read_delta, connections_total, max_connections, pool_total, pool_max, replica_lag_ms, replica_lag_bytes)
SELECT r.id, r.taken_at, v.node, v.role, true, 0, '2026-08-01Z', 0, 99000, 600,
       round(CASE v.n WHEN 0 THEN 45 + 10 * sin(r.k / 8.0) ELSE 25 + 5 * sin(r.k / 5.0 + v.n) END), 400, 10, 30,
       CASE v.n WHEN 0 THEN NULL WHEN 1 THEN 20 + 15 * sin(r.k / 6.0) ELSE 35 + 25 * abs(sin(r.k / 9.0)) END,
       CASE v.n WHEN 0 THEN NULL ELSE 4096 * (1 + r.k % 7) END
  FROM (SELECT id, taken_at, row_number() OVER (ORDER BY taken_at DESC) - 1 AS k FROM monitoring.snapshot_runs WHERE instance_id = 'recent-fixture') r,
       (VALUES (0, 'primary', 'primary'), (1, 'replica1', 'replica'), (2, 'replica2', 'replica')) v(n, node, role)`);
    await c.query(`
INSERT INTO monitoring.statements (queryid, name, query, first_seen_at, last_seen_at) VALUES
  (2001, 'chat.inbox', '/* chat.inbox */ SELECT … FROM conversations WHERE user_low = $1', $1::timestamptz - interval '30 days', $1),
  (2002, 'feed.following', '/* feed.following */ SELECT … FROM status_updates WHERE author_id = ANY($1)', $1::timestamptz - interval '30 days', $1),
  (2003, 'search.profiles', '/* search.profiles */ SELECT … FROM profiles WHERE metadata @> $1', $1::timestamptz - interval '30 days', $1)
ON CONFLICT (queryid) DO NOTHING`, [at]);
    await c.query(`
INSERT INTO monitoring.statement_stats (snapshot_id, queryid, calls, total_exec_time, mean_exec_time, rows, shared_blks_hit, shared_blks_read,
       temp_blks_written, delta_kind, calls_delta, total_exec_time_delta, rows_delta, shared_blks_hit_delta, shared_blks_read_delta, temp_blks_written_delta)
SELECT s.id, q.id, 1000000, 1000, 1, 0, 0, 0, 0, 'normal', q.calls,
       q.calls * CASE WHEN q.id = 2002 AND s.taken_at > $1::timestamptz - interval '1 day' THEN 8 ELSE q.mean END,
       q.calls, q.calls * 10, 1, 0
  FROM monitoring.snapshots s JOIN monitoring.snapshot_runs r ON r.id = s.run_id AND r.instance_id = 'recent-fixture',
       (VALUES (2001, 'replica1', 500, 2.0), (2001, 'replica2', 500, 2.0), (2002, 'replica1', 100, 3.0), (2003, 'primary', 50, 15.0)) q(id, node, calls, mean)
 WHERE s.node = q.node`, [at]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}
