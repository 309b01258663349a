import type { Redis } from 'ioredis';
import type { CacheMetrics } from '../metrics/cache.metrics.ts';
import type { RedisHealth } from './redis-connection.ts';

/**
 * Redis memory against its limit (SC-009), polled every few seconds so that a Prometheus
 * scrape or `GET /admin/api/cache` never waits on Redis.
 */
export interface RedisMemory {
  readonly usedMemory: number;
  readonly maxmemory: number;
  readonly policy: string;
  readonly evictedKeys: number;
  readonly keyspaceHits: number;
  readonly keyspaceMisses: number;
  readonly polledAt: string;
}

const POLL_MS = 5_000;

/** Parses `INFO` text ("key:value" lines, "# Section" headers) into a map. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

export async function readRedisMemory(redis: Redis): Promise<RedisMemory> {
  const [memory, stats] = await Promise.all([redis.info('memory'), redis.info('stats')]);
  const info = new Map([...parseInfo(memory), ...parseInfo(stats)]);
  const num = (k: string) => Number(info.get(k) ?? 0);
  return {
    usedMemory: num('used_memory'),
    maxmemory: num('maxmemory'),
    policy: info.get('maxmemory_policy') ?? 'unknown',
    evictedKeys: num('evicted_keys'),
    keyspaceHits: num('keyspace_hits'),
    keyspaceMisses: num('keyspace_misses'),
    polledAt: new Date().toISOString(),
  };
}

export class RedisMemoryPoller {
  #timer: NodeJS.Timeout | undefined;
  latest: RedisMemory | undefined;
  /** Runs on every poll, Redis up or not (the layer refreshes its L1 gauge here). */
  onPoll: (() => void) | undefined;

  constructor(private readonly redis: Redis, private readonly health: RedisHealth, private readonly metrics: CacheMetrics | undefined) {}

  start(): void {
    void this.poll();
    this.#timer ??= setInterval(() => { void this.poll(); }, POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async poll(): Promise<RedisMemory | undefined> {
    this.onPoll?.();
    if (!this.health.ready) return this.latest;
    try {
      this.latest = await readRedisMemory(this.redis);
      this.metrics?.redisUsedMemory.set(this.latest.usedMemory);
      this.metrics?.redisMaxMemory.set(this.latest.maxmemory);
    } catch {
      // Keep the last known values; the next poll retries.
    }
    return this.latest;
  }
}
