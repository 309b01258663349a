import type { AppDeps } from '../../app/deps.ts';
import { listNodes, nodePoolStats, queryOnNode } from '../../db/node-query.ts';
import { catalogNameOf } from '../history/deltas.ts';
import { readAppCounters } from '../history/app-counters.ts';
import { collectQueries } from '../history/collect.repository.ts';
import { parseRangeBound } from '../history/collect.ts';
import { reportStoreQueries } from '../report/store.repository.ts';
import { dashboardQueries as q } from './dashboard.repository.ts';

/**
 * The admin dashboard's one JSON document (/admin/api/dashboard). Each part is computed on its
 * own and fails on its own: a replica that is down turns its part into `{ error }`, the page
 * shows that, and the rest of the dashboard keeps working.
 */
type Part<T> = T | { readonly error: string };

async function part<T>(fn: () => Promise<T>): Promise<Part<T>> {
  try {
    return await fn();
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

const DAY_MS = 86_400_000;

interface NodeSeriesRow { taken_at: Date; node: string; ok: boolean; replica_lag_ms: number | null; connections_total: number | null; blks_hit: number | null; blks_read: number | null }

async function history(deps: AppDeps) {
  const [last] = await deps.db.query<{ last_at: Date | null; runs: number }>(q.lastSnapshot, []);
  if (!last?.last_at) return { lastSnapshotAt: null, runs: 0, windowFrom: null, nodes: {}, statements: { t: [], totalMs: [], calls: [] }, slowest: [], regressed: [] };
  // The window ends at the last snapshot, not now: a stopped history still shows its last day.
  const from = new Date(last.last_at.getTime() - DAY_MS).toISOString();
  const [series, stmt, slowest, regressed] = await Promise.all([
    deps.db.query<NodeSeriesRow>(q.nodeSeries, [from]),
    deps.db.query<{ taken_at: Date; total_ms: number; calls: number }>(q.statementSeries, [from]),
    deps.db.query<{ queryid: string; name: string | null; query: string; calls: number; total_ms: number; mean_ms: number | null }>(q.slowestRecent, [from]),
    deps.db.query<{ queryid: string; name: string | null; query: string; before_ms: number; now_ms: number; ratio: number; calls: number }>(q.regressed, [from]),
  ]);
  const nodes: Record<string, { t: number[]; lagMs: Array<number | null>; connections: Array<number | null>; hitRatio: Array<number | null> }> = {};
  for (const r of series) {
    const n = (nodes[r.node] ??= { t: [], lagMs: [], connections: [], hitRatio: [] });
    n.t.push(Math.round(r.taken_at.getTime() / 1000));
    n.lagMs.push(r.replica_lag_ms);
    n.connections.push(r.connections_total);
    const total = (r.blks_hit ?? 0) + (r.blks_read ?? 0);
    n.hitRatio.push(r.blks_hit === null || total === 0 ? null : r.blks_hit / total);
  }
  return {
    lastSnapshotAt: last.last_at.toISOString(), runs: last.runs, windowFrom: from, nodes,
    statements: { t: stmt.map((s) => Math.round(s.taken_at.getTime() / 1000)), totalMs: stmt.map((s) => s.total_ms), calls: stmt.map((s) => s.calls) },
    slowest: slowest.map((s) => ({ queryid: s.queryid, name: s.name, query: s.query, calls: s.calls, totalMs: s.total_ms, meanMs: s.mean_ms })),
    regressed: regressed.map((s) => ({ queryid: s.queryid, name: s.name, query: s.query, beforeMs: s.before_ms, nowMs: s.now_ms, ratio: s.ratio, calls: s.calls })),
  };
}

async function liveStatements(deps: AppDeps) {
  const perNode = await Promise.all(listNodes(deps.db).map(async (n) => {
    try {
      const rows = await queryOnNode<{ queryid: string; query: string; calls: number; total_ms: number; mean_ms: number; max_ms: number }>(deps.db, n.name, q.liveStatements, []);
      return rows.map((r) => ({ node: n.name, queryid: r.queryid, name: catalogNameOf(r.query), query: r.query.slice(0, 300), calls: r.calls, totalMs: r.total_ms, meanMs: r.mean_ms, maxMs: r.max_ms }));
    } catch {
      return [];
    }
  }));
  return perNode.flat().sort((a, b) => b.meanMs - a.meanMs).slice(0, 15);
}

async function partitions(deps: AppDeps) {
  const rows = await queryOnNode<{ parent_table: string; partition_name: string; bound: string | null; total_bytes: number; rows_estimate: number }>(deps.db, 'primary', collectQueries.partitionStats, []);
  return rows.map((r) => {
    const range = parseRangeBound(r.bound);
    return { parent: r.parent_table, partition: r.partition_name, rangeFrom: range.from, rangeTo: range.to, bytes: r.total_bytes, rows: r.rows_estimate };
  }).sort((a, b) => a.parent.localeCompare(b.parent) || (a.rangeFrom ?? '').localeCompare(b.rangeFrom ?? ''));
}

async function reports(deps: AppDeps) {
  const rows = await deps.db.query<{ month: string; format: string; generated_by: string; created_at: Date; bytes: number }>(reportStoreQueries.list, []);
  const byMonth = new Map<string, Array<{ format: string; bytes: number; generatedBy: string; createdAt: string }>>();
  for (const r of rows) byMonth.set(r.month, [...(byMonth.get(r.month) ?? []), { format: r.format, bytes: r.bytes, generatedBy: r.generated_by, createdAt: r.created_at.toISOString() }]);
  return [...byMonth.entries()].map(([month, formats]) => ({ month, formats }));
}

export async function dashboardData(deps: AppDeps) {
  const [health, cache, hist, live, parts, reps] = await Promise.all([
    part(() => deps.readiness()),
    part(async () => {
      const c = await readAppCounters(deps.metrics);
      const total = (c.cacheHits ?? 0) + (c.cacheMisses ?? 0);
      return { hits: c.cacheHits, misses: c.cacheMisses, hitRatio: total > 0 ? (c.cacheHits ?? 0) / total : null, memoryBytes: c.cacheMemoryBytes, maxBytes: c.cacheMaxBytes };
    }),
    part(() => history(deps)),
    part(() => liveStatements(deps)),
    part(() => partitions(deps)),
    part(() => reports(deps)),
  ]);
  return {
    generatedAt: new Date().toISOString(),
    env: deps.config.env,
    health,
    pools: listNodes(deps.db).map((n) => nodePoolStats(deps.db, n.name)),
    replicas: deps.db.router.snapshot().map((r) => ({ node: r.node, available: r.available, reachable: r.reachable, lagMs: r.lagMs, lagBytes: r.lagBytes, inFlight: r.inFlight, error: r.lastError ?? null })),
    cache,
    history: hist,
    liveStatements: live,
    partitions: parts,
    reports: reps,
  };
}
