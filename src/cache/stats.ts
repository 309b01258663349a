import { CACHE_NAMES, type CacheName } from '../metrics/cache.metrics.ts';
import type { CacheLayer } from './cache-layer.ts';
import type { MasterChange } from './master-guard.ts';
import type { RedisMemory } from './redis-memory.ts';
import type { WarmReport } from './types.ts';

/**
 * What `GET /admin/api/cache` and `bgc cache stats` report: hit ratios per tier and cache
 * (from bgc_cache_requests_total), memory against limits (L1 bytes vs its bound, Redis
 * used_memory vs maxmemory) and key counts.
 *
 * hitRatio = lookups answered by either tier (fresh or stale) / all lookups. The
 * benchmark reads these counters before and after a run and uses the difference.
 */
export interface TierCounts { hit: number; miss: number; stale: number }

export interface CacheCounters {
  readonly l1: TierCounts;
  readonly l2: TierCounts;
  readonly lookups: number;
  readonly hitRatio: number | null;
  readonly l1HitRatio: number | null;
  readonly loaderCalls: number;
  readonly invalidations: Record<string, number>;
  keys?: { readonly count: number; readonly complete: boolean };
}

export interface CacheStatsReport {
  readonly enabled: true;
  readonly namespace: string;
  readonly instance: string;
  readonly status: { readonly redis: boolean; readonly bus: boolean; readonly listener: boolean | null };
  readonly l1: { readonly bytes: number; readonly maxBytes: number; readonly entries: number; readonly evictions: number; readonly usedRatio: number };
  readonly redis: (RedisMemory & { readonly usedRatio: number | null }) | null;
  readonly caches: Record<CacheName, CacheCounters>;
  readonly lease: { readonly acquired: number; readonly waited: number };
  readonly l2PendingDeletes: number;
  readonly listener: { readonly reconnects: number; readonly received: number; readonly ignored: number } | null;
  readonly l1Flushes: number;
  /** Acknowledged invalidations (session revocations, acked-invalidation.ts): ours, ours not acknowledged by every instance in time, and peers' acknowledged here. */
  readonly acks: { readonly requested: number; readonly timeouts: number; readonly sent: number };
  readonly lastWarm: WarmReport | null;
  /** The Redis master this instance checked (its term: run_id:master_replid), whether reads bypass the cache until it has, and the flushes a change caused (master-guard.ts). */
  readonly master: { readonly term: string | null; readonly checking: boolean; readonly changes: readonly MasterChange[] };
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

export function countersFrom(values: ReadonlyArray<{ labels: Record<string, string | number | undefined>; value: number }>, invalidations: ReadonlyArray<{ labels: Record<string, string | number | undefined>; value: number }>, cache: CacheName, loaderCalls: number): CacheCounters {
  const tier = (t: 'l1' | 'l2'): TierCounts => {
    const get = (result: string) => values.find((v) => v.labels.cache === cache && v.labels.tier === t && v.labels.result === result)?.value ?? 0;
    return { hit: get('hit'), miss: get('miss'), stale: get('stale') };
  };
  const l1 = tier('l1');
  const l2 = tier('l2');
  const lookups = l1.hit + l1.miss + l1.stale;
  const inv: Record<string, number> = {};
  for (const v of invalidations) if (v.labels.cache === cache) inv[String(v.labels.source)] = v.value;
  return {
    l1, l2, lookups,
    hitRatio: ratio(l1.hit + l1.stale + l2.hit + l2.stale, lookups),
    l1HitRatio: ratio(l1.hit + l1.stale, lookups),
    loaderCalls,
    invalidations: inv,
  };
}

/** Counts this namespace's keys of one cache, scanning at most `maxScan` keys. */
export async function countKeys(layer: CacheLayer, cache: CacheName, maxScan = 200_000): Promise<{ count: number; complete: boolean }> {
  if (!layer.health.ready) return { count: 0, complete: false };
  let cursor = '0';
  let count = 0;
  for (let scanned = 0; scanned < maxScan; scanned += 1_000) {
    const [next, keys] = await layer.redis.scan(cursor, 'MATCH', layer.keys.itemPattern(cache), 'COUNT', 1_000);
    count += keys.length;
    cursor = next;
    if (cursor === '0') return { count, complete: true };
  }
  return { count, complete: false };
}

export async function cacheStats(layer: CacheLayer, opts: { keyCounts?: boolean } = {}): Promise<CacheStatsReport> {
  const m = layer.metrics;
  const requests = m ? (await m.requests.get()).values : [];
  const invalidations = m ? (await m.invalidations.get()).values : [];
  const caches = {
    profile: countersFrom(requests, invalidations, 'profile', layer.profiles.loaderCalls),
    session: countersFrom(requests, invalidations, 'session', layer.sessions.loaderCalls),
    relationship: countersFrom(requests, invalidations, 'relationship', layer.relationships.loaderCalls),
  };
  if (opts.keyCounts) {
    for (const name of CACHE_NAMES) caches[name].keys = await countKeys(layer, name).catch(() => ({ count: 0, complete: false }));
  }
  const mem = (await layer.memory.poll()) ?? null;
  m?.l1Bytes.set(layer.lru.bytes);
  return {
    enabled: true,
    namespace: layer.keys.namespace,
    instance: layer.instanceId,
    status: layer.status,
    l1: { bytes: layer.lru.bytes, maxBytes: layer.lru.maxBytes, entries: layer.lru.size, evictions: layer.lru.evictions, usedRatio: layer.lru.bytes / Math.max(1, layer.lru.maxBytes) },
    redis: mem ? { ...mem, usedRatio: ratio(mem.usedMemory, mem.maxmemory) } : null,
    caches,
    lease: { acquired: layer.lease.acquiredCount, waited: layer.lease.waitedCount },
    l2PendingDeletes: layer.janitor.pendingCount,
    listener: layer.listener ? { reconnects: layer.listener.reconnects, received: layer.listener.received, ignored: layer.ignoredNotifications } : null,
    l1Flushes: layer.l1Flushes,
    acks: layer.ackStats,
    lastWarm: layer.lastWarm ?? null,
    master: { term: layer.masterGuard.verifiedMaster ?? null, checking: layer.masterGuard.holding, changes: [...layer.masterGuard.changes] },
  };
}
