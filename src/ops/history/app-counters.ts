import type { Metrics } from '../../metrics/registry.ts';

/**
 * What the snapshot job records from the app's own Prometheus registry: the cache's hit and
 * miss counters and Redis memory (src/metrics/cache.metrics.ts) and the latency histograms, the only source of percentiles
 * (pg_stat_statements keeps means). All values are this process's cumulative counters.
 */
export interface AppCounters {
  readonly cacheHits: number | null;
  readonly cacheMisses: number | null;
  readonly cacheMemoryBytes: number | null;
  readonly cacheMaxBytes: number | null;
  /** `${kind}\u0000${label}` → cumulative histogram. */
  readonly histograms: ReadonlyMap<string, Histogram>;
}

export interface Histogram {
  readonly kind: 'db' | 'http';
  readonly label: string;
  readonly le: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

interface MetricJson {
  name: string;
  type: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/**
 * User-data cache hit ratio from src/cache's bgc_cache_requests_total{cache,tier,result}: every
 * lookup counts once at L1 and an L1 miss counts again at L2, so a lookup was served from cache
 * unless it missed at L2. Stale values (served past their TTL) count as served from cache.
 */
function cacheCounters(metrics: readonly MetricJson[]): { hits: number | null; misses: number | null } {
  const m = metrics.find((x) => x.name === 'bgc_cache_requests_total');
  if (!m) return { hits: null, misses: null };
  let hits = 0;
  let misses = 0;
  for (const v of m.values) {
    if (v.labels.result === 'miss') { if (v.labels.tier === 'l2') misses += v.value; } else hits += v.value;
  }
  return { hits, misses };
}

function gauge(metrics: readonly MetricJson[], name: string): number | null {
  const m = metrics.find((x) => x.name === name);
  const v = m?.values[0]?.value;
  return v === undefined || !Number.isFinite(v) ? null : v;
}

function histogramsOf(metric: MetricJson | undefined, kind: 'db' | 'http', labelOf: (l: Record<string, string | number>) => string, into: Map<string, Histogram>): void {
  if (!metric) return;
  const acc = new Map<string, { buckets: Map<number, number>; count: number; sum: number }>();
  for (const v of metric.values) {
    const label = labelOf(v.labels);
    const e = acc.get(label) ?? { buckets: new Map<number, number>(), count: 0, sum: 0 };
    acc.set(label, e);
    if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
      if (Number.isFinite(le)) e.buckets.set(le, (e.buckets.get(le) ?? 0) + v.value);
    } else if (v.metricName?.endsWith('_count')) e.count += v.value;
    else if (v.metricName?.endsWith('_sum')) e.sum += v.value;
  }
  for (const [label, e] of acc) {
    const le = [...e.buckets.keys()].sort((a, b) => a - b);
    into.set(`${kind}\u0000${label}`, { kind, label, le, counts: le.map((b) => e.buckets.get(b) ?? 0), count: e.count, sum: e.sum });
  }
}

export async function readAppCounters(metrics: Metrics): Promise<AppCounters> {
  const all = (await metrics.registry.getMetricsAsJSON()) as unknown as MetricJson[];
  const histograms = new Map<string, Histogram>();
  const cache = cacheCounters(all);
  histogramsOf(all.find((m) => m.name === 'bgc_db_query_duration_seconds'), 'db', (l) => String(l.query ?? ''), histograms);
  histogramsOf(all.find((m) => m.name === 'bgc_http_request_duration_seconds'), 'http', (l) => `${String(l.method ?? '')} ${String(l.route ?? '')}`.trim(), histograms);
  return {
    cacheHits: cache.hits,
    cacheMisses: cache.misses,
    cacheMemoryBytes: gauge(all, 'bgc_cache_redis_used_memory_bytes'),
    cacheMaxBytes: gauge(all, 'bgc_cache_redis_maxmemory_bytes'),
    histograms,
  };
}

/** Bucket-wise growth between two readings of one histogram; undefined when the process restarted. */
export function histogramDelta(cur: Histogram, prev: Histogram | undefined): { counts: number[]; count: number; sum: number } | undefined {
  if (!prev) return { counts: [...cur.counts], count: cur.count, sum: cur.sum };
  if (cur.count < prev.count || cur.le.length !== prev.le.length) return undefined;
  return { counts: cur.counts.map((c, i) => c - (prev.counts[i] ?? 0)), count: cur.count - prev.count, sum: cur.sum - prev.sum };
}
