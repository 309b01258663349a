import client from 'prom-client';
import type { Metrics } from './registry.ts';
import type { PartitionHealth } from '../partitions/status.ts';

/**
 * Partition health for the alerts (docs/OPERATIONS.md "Partitions"): months of partitions
 * ahead of the current month (alert below 2: writes will soon need on-demand creation),
 * the oldest partition's age (alert above retention + 1: archiving is stuck), the last
 * successful maintenance run and failed runs.
 *
 * The gauges are read on scrape from a snapshot of the catalog (at most one query every
 * `cacheMs`, cheap: pg_inherits and one indexed row), so every instance reports them,
 * not only the leader. The counter counts failed runs of this process.
 */
export class PartitionMetrics {
  readonly monthsAhead: client.Gauge<'table'>;
  readonly oldestAgeMonths: client.Gauge<'table'>;
  readonly lastSuccess: client.Gauge;
  readonly failures: client.Counter;
  #cached: { at: number; value: Promise<PartitionHealth | null> } | null = null;
  #snapshot: (() => Promise<PartitionHealth>) | null = null;
  #cacheMs = 30_000;

  constructor(registry: client.Registry) {
    const read = (): Promise<PartitionHealth | null> => {
      const snapshot = this.#snapshot;
      if (!snapshot) return Promise.resolve(null);
      const now = Date.now();
      if (!this.#cached || now - this.#cached.at > this.#cacheMs) {
        // A failed read keeps the gauges' previous values rather than failing the scrape.
        this.#cached = { at: now, value: snapshot().catch(() => null) };
      }
      return this.#cached.value;
    };
    this.monthsAhead = new client.Gauge({
      name: 'bgc_partitions_months_ahead',
      help: 'Consecutive monthly partitions that exist after the current month (-1: the current month is missing)',
      labelNames: ['table'] as const,
      registers: [registry],
      async collect() {
        const h = await read();
        for (const t of h?.tables ?? []) this.set({ table: t.table }, t.monthsAhead);
      },
    });
    this.oldestAgeMonths = new client.Gauge({
      name: 'bgc_partitions_oldest_age_months',
      help: 'Age in months of the oldest attached partition (compare with the retention)',
      labelNames: ['table'] as const,
      registers: [registry],
      async collect() {
        const h = await read();
        for (const t of h?.tables ?? []) if (t.oldestAgeMonths !== null) this.set({ table: t.table }, t.oldestAgeMonths);
      },
    });
    this.lastSuccess = new client.Gauge({
      name: 'bgc_partition_maintenance_last_success_timestamp_seconds',
      help: 'Unix time of the last partition maintenance run that finished without failures (any instance)',
      registers: [registry],
      async collect() {
        const h = await read();
        if (h?.lastSuccessAt) this.set(h.lastSuccessAt.getTime() / 1000);
      },
    });
    this.failures = new client.Counter({
      name: 'bgc_partition_maintenance_failures_total',
      help: 'Partition maintenance runs of this process that failed (an action failed or the run threw)',
      registers: [registry],
    });
  }

  /** Where the gauges read from (the runtime passes a catalog snapshot on the primary). */
  setSource(snapshot: () => Promise<PartitionHealth>, cacheMs = 30_000): void {
    this.#snapshot = snapshot;
    this.#cacheMs = cacheMs;
    this.#cached = null;
  }

  /** Forget the cached snapshot (after a run changed the partitions). */
  invalidate(): void {
    this.#cached = null;
  }
}

const byMetrics = new WeakMap<Metrics, PartitionMetrics>();

/** One PartitionMetrics per Metrics registry (registering a name twice would throw). */
export function partitionMetricsFor(metrics: Metrics): PartitionMetrics {
  let m = byMetrics.get(metrics);
  if (!m) {
    m = new PartitionMetrics(metrics.registry);
    byMetrics.set(metrics, m);
  }
  return m;
}
