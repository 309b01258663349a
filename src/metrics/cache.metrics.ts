import client from 'prom-client';
import type { Metrics } from './registry.ts';

/**
 * Cache metrics (contract with the monitoring work: names and labels are fixed).
 *  - requests: every cache-aside lookup counts once at L1; an L1 miss counts once more at L2.
 *    `stale` is a value served past its TTL (stale-while-revalidate, or serve-stale on a
 *    database error within the grace period).
 *  - invalidations: keys dropped, by where the drop came from (app after-commit hook,
 *    PostgreSQL NOTIFY, a peer's bus message, or a whole-cache flush).
 *  - Redis memory gauges are refreshed by the cache layer's INFO poll (SC-009).
 */
export const CACHE_NAMES = ['profile', 'session', 'relationship'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];
/** The first pages the page cache answers (src/services/first-pages.ts FirstPageKind). */
export const FIRST_PAGE_KINDS = ['inbox', 'history', 'feed_global', 'feed_following'] as const;
export type InvalidationSource = 'app' | 'db_notify' | 'bus' | 'flush';
/** The page cache's two stores (src/cache/page-cache.ts): the feeds' pages and the chat pages. */
export const FIRST_PAGE_STORES = ['feeds', 'chat'] as const;
export type FirstPageStore = (typeof FIRST_PAGE_STORES)[number];

export class CacheMetrics {
  readonly requests: client.Counter<'cache' | 'tier' | 'result'>;
  readonly invalidations: client.Counter<'cache' | 'source'>;
  readonly l1Bytes: client.Gauge;
  readonly redisUsedMemory: client.Gauge;
  readonly redisMaxMemory: client.Gauge;
  readonly warmupDuration: client.Gauge;
  readonly firstPageReads: client.Counter<'kind' | 'result'>;
  readonly firstPageBytes: client.Gauge<'store'>;
  /** Each first-page store's estimated heap, read when /metrics is scraped (registered by the page cache). */
  readonly firstPageStores = new Map<FirstPageStore, () => number>();
  /**
   * L1 hits not yet added to `requests`: plain numbers on the hot path (most lookups are
   * L1 hits), added when the counter is read. A labelled inc hashes its labels every call.
   */
  readonly #pendingL1Hits: Record<CacheName, number> = { profile: 0, session: 0, relationship: 0 };

  constructor(registry: client.Registry) {
    this.requests = new client.Counter({
      name: 'bgc_cache_requests_total',
      help: 'Cache lookups by cache, tier and result (an L1 miss is counted again at L2)',
      labelNames: ['cache', 'tier', 'result'] as const,
      registers: [registry],
      collect: () => { this.#addPendingL1Hits(); },
    });
    this.invalidations = new client.Counter({
      name: 'bgc_cache_invalidations_total',
      help: 'Cache keys invalidated, by cache and source (app, db_notify, bus, flush)',
      labelNames: ['cache', 'source'] as const,
      registers: [registry],
    });
    this.l1Bytes = new client.Gauge({
      name: 'bgc_cache_l1_bytes',
      help: 'Bytes held by the in-process (L1) cache',
      registers: [registry],
    });
    this.redisUsedMemory = new client.Gauge({
      name: 'bgc_cache_redis_used_memory_bytes',
      help: 'Redis used_memory as last polled by the cache layer',
      registers: [registry],
    });
    this.redisMaxMemory = new client.Gauge({
      name: 'bgc_cache_redis_maxmemory_bytes',
      help: 'Redis maxmemory as last polled by the cache layer (0 = no limit)',
      registers: [registry],
    });
    this.warmupDuration = new client.Gauge({
      name: 'bgc_cache_warmup_duration_seconds',
      help: 'Duration of the last cache warm-up run',
      registers: [registry],
    });
    this.firstPageReads = new client.Counter({
      name: 'bgc_cache_first_page_reads_total',
      help: 'First-page reads (src/cache/page-cache.ts) by kind and result: hit (an entry covered the reader), loaded (this read loaded the entry), too_old (the entry was older than the reader\'s position or its scope\'s last change: read from the database), bypassed (a chat page while Redis could not say its last change: read from the database)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    });
    const stores = this.firstPageStores;
    this.firstPageBytes = new client.Gauge({
      name: 'bgc_cache_first_page_bytes',
      help: 'Heap held by each first-page store (feeds, chat), as estimated from its pages (src/cache/heap-size.ts); bounded by BGC_CACHE_PAGE_MAX_BYTES',
      labelNames: ['store'] as const,
      registers: [registry],
      collect() {
        for (const [store, bytes] of stores) this.set({ store }, bytes());
      },
    });
    // Pre-create every label combination so dashboards see zeros rather than gaps.
    for (const store of FIRST_PAGE_STORES) this.firstPageBytes.set({ store }, 0);
    for (const cache of CACHE_NAMES) {
      for (const tier of ['l1', 'l2'] as const) for (const result of ['hit', 'miss', 'stale'] as const) this.requests.inc({ cache, tier, result }, 0);
      for (const source of ['app', 'db_notify', 'bus', 'flush'] as const) this.invalidations.inc({ cache, source }, 0);
    }
    for (const kind of FIRST_PAGE_KINDS) for (const result of ['hit', 'loaded', 'too_old', 'bypassed'] as const) this.firstPageReads.inc({ kind, result }, 0);
  }

  /** One L1 hit of `cache` (bgc_cache_requests_total{tier="l1",result="hit"}). */
  noteL1Hit(cache: CacheName): void {
    this.#pendingL1Hits[cache]++;
  }

  #addPendingL1Hits(): void {
    for (const cache of CACHE_NAMES) {
      const n = this.#pendingL1Hits[cache];
      if (n === 0) continue;
      this.#pendingL1Hits[cache] = 0;
      this.requests.inc({ cache, tier: 'l1', result: 'hit' }, n);
    }
  }
}

const byMetrics = new WeakMap<Metrics, CacheMetrics>();

/** One CacheMetrics per Metrics registry (registering a name twice would throw). */
export function cacheMetricsFor(metrics: Metrics): CacheMetrics {
  let m = byMetrics.get(metrics);
  if (!m) {
    m = new CacheMetrics(metrics.registry);
    byMetrics.set(metrics, m);
  }
  return m;
}
