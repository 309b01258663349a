import type { AppCacheRow, LatencyBucketRow, LatencyTotalRow, NodeDailyRow, NodeTotalRow } from '../gather.ts';
import type { ConnectionRow, DailyPoint, HitRatioRow, LagRow, LatencyRow, Report } from '../model.ts';
import { histogramQuantile, ratio } from '../stats.ts';
import { THRESHOLDS } from '../thresholds.ts';

const day = (d: Date) => d.toISOString().slice(0, 10);

export function connections(totals: readonly NodeTotalRow[], daily: readonly NodeDailyRow[]): Report['connections'] {
  const nodes: ConnectionRow[] = totals.map((t) => ({
    node: t.node, peakTotal: t.peak_total, peakAt: t.peak_at ? t.peak_at.toISOString() : null, peakActive: t.peak_active,
    peakIdleInTx: t.peak_idle_in_tx, peakApp: t.peak_app, maxConnections: t.max_connections, poolPeak: t.pool_peak,
    poolMax: t.pool_max, poolWaitingPeak: t.pool_waiting_peak,
  }));
  const names = [...new Set(daily.map((d) => d.node))].sort();
  return {
    nodes,
    daily: names.map((node) => ({ node, points: daily.filter((d) => d.node === node && d.peak_connections !== null).map((d) => ({ day: day(d.day), value: d.peak_connections ?? 0 })) })),
  };
}

export function replicaLag(totals: readonly NodeTotalRow[], daily: readonly NodeDailyRow[]): Report['replicaLag'] {
  const replicas = totals.filter((t) => t.role === 'replica');
  const nodes: LagRow[] = replicas.map((t) => ({
    node: t.node, samples: t.lag_samples, unreachable: t.failed_samples, p50Ms: t.lag_p50, p95Ms: t.lag_p95, p99Ms: t.lag_p99,
    maxMs: t.lag_max, maxBytes: t.lag_max_bytes,
  }));
  return {
    nodes,
    daily: replicas.map((r) => ({ node: r.node, points: daily.filter((d) => d.node === r.node && d.lag_p95 !== null).map((d) => ({ day: day(d.day), value: d.lag_p95 ?? 0 })) })),
  };
}

export function hitRatios(totals: readonly NodeTotalRow[]): HitRatioRow[] {
  return totals.map((t) => ({
    node: t.node, bufferHitRatio: ratio(t.blks_hit, t.blks_hit + t.blks_read),
    indexHitRatio: ratio(t.idx_blks_hit, t.idx_blks_hit + t.idx_blks_read), blksRead: t.blks_read,
  }));
}

export function appCache(rows: readonly AppCacheRow[]): { app: Report['cache']['app']; appDaily: DailyPoint[] } {
  const hits = rows.reduce((a, r) => a + r.hits, 0);
  const misses = rows.reduce((a, r) => a + r.misses, 0);
  const mems = rows.map((r) => r.memory_bytes).filter((v): v is number => v !== null);
  const maxes = rows.map((r) => r.max_bytes).filter((v): v is number => v !== null);
  return {
    app: { hits, misses, hitRatio: ratio(hits, hits + misses), peakMemoryBytes: mems.length ? Math.max(...mems) : null, maxMemoryBytes: maxes.length ? Math.max(...maxes) : null },
    appDaily: rows.filter((r) => r.hits + r.misses > 0).map((r) => ({ day: day(r.day), value: r.hits / (r.hits + r.misses) })),
  };
}

/** p50/p95/p99 per catalog query and HTTP route from the month's summed histogram buckets. */
export function latency(buckets: readonly LatencyBucketRow[], totals: readonly LatencyTotalRow[]): LatencyRow[] {
  return totals
    .filter((t) => t.count > 0)
    .map((t) => {
      const mine = buckets.filter((b) => b.kind === t.kind && b.label === t.label).sort((a, b) => a.le - b.le);
      const le = mine.map((b) => b.le);
      const cum = mine.map((b) => b.cnt);
      const q = (p: number) => (t.count >= THRESHOLDS.minLatencyCount ? (histogramQuantile(p, le, cum, t.count) ?? null) : null);
      const ms = (v: number | null) => (v === null ? null : v * 1000);
      return { kind: t.kind, label: t.label, count: t.count, meanMs: t.sum_seconds / t.count * 1000, p50Ms: ms(q(0.5)), p95Ms: ms(q(0.95)), p99Ms: ms(q(0.99)) };
    })
    .sort((a, b) => a.kind.localeCompare(b.kind) || (b.p99Ms ?? -1) - (a.p99Ms ?? -1) || a.label.localeCompare(b.label));
}
