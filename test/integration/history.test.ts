import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { REPLICA_PORTS } from '../helpers/constants.ts';
import { Database } from '../../src/db/database.ts';
import { HistoryRecorder, type SnapshotSummary } from '../../src/ops/history/snapshot.ts';
import { Metrics } from '../../src/metrics/registry.ts';

/**
 * The snapshot job against the real three-node stack, on this file's own database (its
 * pg_stat_statements entries carry this database's oid, so other test files cannot disturb the
 * counts). Resets are simulated through the stored baseline rather than pg_stat_statements_reset(),
 * which is cluster-wide and would disturb every other test file running at the same time.
 */
let tdb: TestDatabase;
let db: Database;
let admin: pg.Client;
let recorder: HistoryRecorder;

const PROBE = `/* histtest.probe */ SELECT count(*) FROM users WHERE username = $1`;

beforeAll(async () => {
  tdb = await createTestDatabase('history');
  const config = tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '4' });
  db = new Database(config, { applicationName: 'bgc-history-test' });
  await db.start();
  admin = await tdb.admin();
  recorder = new HistoryRecorder({ db, config, alertmanager: false });
});
afterAll(async () => {
  await admin?.end();
  await db?.close();
  await tdb?.drop();
});

async function probeOn(client: pg.Client, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await client.query(PROBE, [`nobody${i}`]);
}

async function statRow(snapshotId: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await admin.query(
    `SELECT ss.*, s.name FROM monitoring.statement_stats ss JOIN monitoring.statements s USING (queryid)
      WHERE ss.snapshot_id = $1 AND s.name = 'histtest.probe'`, [snapshotId]);
  return rows[0];
}

function nodeOf(summary: SnapshotSummary, node: string): SnapshotSummary['nodes'][number] {
  const n = summary.nodes.find((x) => x.node === node);
  if (!n) throw new Error(`no ${node} in snapshot`);
  return n;
}

describe('workload history snapshots', () => {
  let first: SnapshotSummary;
  let second: SnapshotSummary;

  it('first snapshot visits every node, keeps only a baseline of statements, and captures relations', async () => {
    await probeOn(admin, 1); // the probe exists before the first snapshot: its later delta is "normal"
    first = await recorder.snapshot();
    expect(first.nodes.map((n) => [n.node, n.ok])).toEqual([['primary', true], ['replica1', true], ['replica2', true]]);
    for (const n of first.nodes) {
      expect(n.firstSnapshot).toBe(true);
      expect(n.statementsStored).toBe(0);
      expect(n.relationsCaptured).toBe(true);
    }
    const { rows: parts } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM monitoring.partition_stats WHERE snapshot_id = $1 AND parent_table = 'messages' AND range_from IS NOT NULL`,
      [nodeOf(first, 'primary').snapshotId]);
    expect(parts[0]?.n).toBeGreaterThanOrEqual(5); // 0002 creates five months per table
    const { rows: idx } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM monitoring.index_stats WHERE snapshot_id = $1 AND index_name = 'users_email_lower_key' AND is_unique`,
      [nodeOf(first, 'replica2').snapshotId]);
    expect(idx[0]?.n).toBe(1);
  });

  it('second snapshot stores exact deltas per node, with cumulative values alongside', async () => {
    await probeOn(admin, 7);
    await tdb.syncReplicas();
    const replica = await connectNode(REPLICA_PORTS[0], tdb.name);
    try { await probeOn(replica, 3); } finally { await replica.end(); }
    second = await recorder.snapshot();

    const primary = await statRow(nodeOf(second, 'primary').snapshotId);
    expect(primary).toMatchObject({ delta_kind: 'normal', calls: '8', calls_delta: '7', rows_delta: '7' });
    expect(Number(primary?.total_exec_time_delta)).toBeGreaterThan(0);
    expect(Number(primary?.total_exec_time_delta)).toBeLessThan(Number(primary?.total_exec_time));

    const r1 = await statRow(nodeOf(second, 'replica1').snapshotId);
    expect(r1).toMatchObject({ delta_kind: 'new', calls: '3', calls_delta: '3' });
    expect(await statRow(nodeOf(second, 'replica2').snapshotId)).toBeUndefined();

    const { rows: snaps } = await admin.query<{ node: string; blks_hit_delta: string | null; replica_lag_ms: number | null; relations_captured: boolean; pgss_reset_detected: boolean; pool_max: number }>(
      `SELECT node, blks_hit_delta, replica_lag_ms, relations_captured, pgss_reset_detected, pool_max FROM monitoring.snapshots WHERE run_id = $1 ORDER BY node`, [second.runId]);
    expect(snaps.map((s) => s.node)).toEqual(['primary', 'replica1', 'replica2']);
    for (const s of snaps) {
      expect(s.blks_hit_delta).not.toBeNull();
      expect(s.relations_captured).toBe(false); // captured hourly, not on every run
      expect(s.pgss_reset_detected).toBe(false);
      expect(s.pool_max).toBe(5);
      if (s.node === 'primary') expect(s.replica_lag_ms).toBeNull(); else expect(s.replica_lag_ms).toBeGreaterThanOrEqual(0);
    }
    const { rows: names } = await admin.query<{ name: string | null; query: string }>(`SELECT name, query FROM monitoring.statements WHERE name = 'histtest.probe'`);
    expect(names).toHaveLength(1);
    expect(names[0]?.query).toContain('username = $1');
  });

  it('detects a full reset (stats_reset changed) and takes the cumulative counts as the delta', async () => {
    // Simulate: the previous primary snapshot saw another stats_reset than the node has now.
    await admin.query(`UPDATE monitoring.snapshots SET pgss_stats_reset = '2000-01-01T00:00:00Z' WHERE id = $1`, [nodeOf(second, 'primary').snapshotId]);
    await probeOn(admin, 2);
    const third = await recorder.snapshot();
    expect(nodeOf(third, 'primary').resetDetected).toBe(true);
    expect(nodeOf(third, 'replica1').resetDetected).toBe(false);
    const row = await statRow(nodeOf(third, 'primary').snapshotId);
    expect(row).toMatchObject({ delta_kind: 'reset', calls: '10', calls_delta: '10' });
    const { rows } = await admin.query<{ pgss_reset_detected: boolean }>(`SELECT pgss_reset_detected FROM monitoring.snapshots WHERE id = $1`, [nodeOf(third, 'primary').snapshotId]);
    expect(rows[0]?.pgss_reset_detected).toBe(true);

    // A per-entry reset: calls went down with no deallocation and stats_reset unchanged.
    await admin.query(`UPDATE monitoring.statement_counters c SET calls = 1000 FROM monitoring.statements s
                        WHERE s.queryid = c.queryid AND s.name = 'histtest.probe' AND c.node = 'primary'`);
    await probeOn(admin, 1);
    const fourth = await recorder.snapshot();
    expect(nodeOf(fourth, 'primary').resetDetected).toBe(true);
    expect(await statRow(nodeOf(fourth, 'primary').snapshotId)).toMatchObject({ delta_kind: 'reset', calls: '11', calls_delta: '11' });

    // Back to normal on the next run.
    await probeOn(admin, 4);
    const fifth = await recorder.snapshot();
    expect(nodeOf(fifth, 'primary').resetDetected).toBe(false);
    expect(await statRow(nodeOf(fifth, 'primary').snapshotId)).toMatchObject({ delta_kind: 'normal', calls: '15', calls_delta: '4' });
  });

  it('a node that is another server since its last snapshot (a failover, a restart) starts a new baseline', async () => {
    const last = await recorder.snapshot();
    // Simulate: the previous primary snapshot was taken on another server, whose counters were
    // far ahead of this one's (a promoted replica's history must not count as this interval's).
    await admin.query(`UPDATE monitoring.snapshots SET server_started_at = '2000-01-01T00:00:00Z', blks_hit = 1 WHERE id = $1`, [nodeOf(last, 'primary').snapshotId]);
    await admin.query(`UPDATE monitoring.statement_counters c SET calls = 1 FROM monitoring.statements s
                        WHERE s.queryid = c.queryid AND s.name = 'histtest.probe' AND c.node = 'primary'`);
    await probeOn(admin, 3);
    const after = await recorder.snapshot();
    expect(nodeOf(after, 'primary')).toMatchObject({ firstSnapshot: true, resetDetected: false, statementsStored: 0 });
    expect(nodeOf(after, 'replica1').firstSnapshot).toBe(false);
    expect(await statRow(nodeOf(after, 'primary').snapshotId)).toBeUndefined();
    const { rows } = await admin.query<{ blks_hit_delta: string | null; server_started_at: Date | null }>(
      `SELECT blks_hit_delta, server_started_at FROM monitoring.snapshots WHERE id = $1`, [nodeOf(after, 'primary').snapshotId]);
    expect(rows[0]?.blks_hit_delta).toBeNull();
    expect(rows[0]?.server_started_at?.getUTCFullYear()).toBeGreaterThan(2000);
    // The next one compares with the new baseline (the old server's counters were cleared).
    await probeOn(admin, 2);
    const next = await recorder.snapshot();
    expect(nodeOf(next, 'primary').firstSnapshot).toBe(false);
    expect(await statRow(nodeOf(next, 'primary').snapshotId)).toMatchObject({ delta_kind: 'normal', calls_delta: '2' });
  });

  it('app counters of a process that starts leading long after it started are a baseline, not one run\'s traffic', async () => {
    const metrics = new Metrics();
    const cfg = tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '4', BGC_HISTORY_INTERVAL_S: '60' });
    const leader = new HistoryRecorder({ db, config: cfg, metrics, alertmanager: false });
    // Weeks of this process's traffic before it led (here: the process is taken to have started
    // two hours ago, beyond an interval and a half of 60 s).
    Object.defineProperty(leader, 'processStartedAt', { value: new Date(Date.now() - 2 * 3_600_000) });
    metrics.httpDuration.observe({ route: '/api/old', method: 'GET', status_class: '2xx' }, 0.004);
    const runs = async (runId: number) => (await admin.query<{ route_rows: number; hits_delta: string | null }>(
      `SELECT (SELECT count(*)::int FROM monitoring.latency_stats WHERE run_id = $1) AS route_rows,
              (SELECT app_cache_hits_delta::text FROM monitoring.snapshot_runs WHERE id = $1) AS hits_delta`, [runId])).rows[0];
    const first = await leader.snapshot();
    expect(await runs(first.runId)).toEqual({ route_rows: 0, hits_delta: null });
    // From then on, each run holds what happened since the previous one.
    metrics.httpDuration.observe({ route: '/api/new', method: 'GET', status_class: '2xx' }, 0.004);
    const second = await leader.snapshot();
    const { rows } = await admin.query<{ label: string; count_delta: string }>(
      `SELECT label, count_delta::text FROM monitoring.latency_stats WHERE run_id = $1 AND kind = 'http'`, [second.runId]);
    expect(rows.map((r) => [r.label.includes('/api/new'), r.count_delta])).toEqual([[true, '1']]);
  });

  it('retention deletes runs older than the configured days with all their rows', async () => {
    const old = await admin.query<{ id: string }>(
      `INSERT INTO monitoring.snapshot_runs (taken_at, instance_id, process_started_at) VALUES (now() - interval '100 days', 'old', now() - interval '101 days') RETURNING id`);
    const runId = old.rows[0]?.id;
    const snap = await admin.query<{ id: string }>(
      `INSERT INTO monitoring.snapshots (run_id, taken_at, node, role, ok) VALUES ($1, now() - interval '100 days', 'primary', 'primary', true) RETURNING id`, [runId]);
    await admin.query(`INSERT INTO monitoring.statement_stats SELECT $1, queryid, 1, 1, 1, 1, 0, 0, 0, 'normal', 1, 1, 1, 0, 0, 0 FROM monitoring.statements LIMIT 1`, [snap.rows[0]?.id]);
    // A backlog deleted a few runs per statement (one statement for all outlived the timeout).
    await admin.query(`INSERT INTO monitoring.snapshot_runs (taken_at, instance_id, process_started_at)
      SELECT now() - interval '90 days' - g * interval '1 hour', 'backlog', now() - interval '101 days' FROM generate_series(1, 11) g`);
    // Alerts: one that fired and ended 90 days ago goes; one firing for 100 days stays.
    await admin.query(`INSERT INTO monitoring.alerts (fingerprint, starts_at, alertname, severity, summary, labels, last_seen_at, ends_at) VALUES
      ('histtest-ended', now() - interval '91 days', 'HistTestEnded', 'warning', 's', '{}', now() - interval '90 days', now() - interval '90 days'),
      ('histtest-firing', now() - interval '100 days', 'HistTestFiring', 'warning', 's', '{}', now(), now() + interval '5 minutes')`);
    const { deletedRuns } = await recorder.cleanup();
    const { rows: alerts } = await admin.query<{ fingerprint: string }>(`SELECT fingerprint FROM monitoring.alerts WHERE fingerprint LIKE 'histtest-%'`);
    expect(alerts.map((a) => a.fingerprint)).toEqual(['histtest-firing']);
    expect(deletedRuns).toBe(12);
    const { rows } = await admin.query<{ runs: number; stats: number }>(
      `SELECT (SELECT count(*)::int FROM monitoring.snapshot_runs) AS runs,
              (SELECT count(*)::int FROM monitoring.statement_stats WHERE snapshot_id = $1) AS stats`, [snap.rows[0]?.id]);
    expect(rows[0]).toEqual({ runs: 10, stats: 0 }); // the recent runs of the tests above
  });
});
