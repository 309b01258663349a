import { Redis } from 'ioredis';
import { parseInfo } from './redis-memory.ts';

/** What `bgc doctor` needs to know about a Redis used as a cache. */
export interface RedisEvictionSettings {
  /** Bytes; 0 means no limit. */
  readonly maxmemory: number;
  readonly policy: string;
  /** CONFIG GET when allowed; INFO memory when CONFIG is disabled (managed Redis often renames it). */
  readonly source: 'config' | 'info';
}

const TIMEOUT_MS = 2_000;

/**
 * Reads maxmemory and maxmemory-policy with a short-lived connection (no retries, no
 * offline queue): a doctor run should report an unreachable Redis, not wait for it.
 */
export async function readRedisEvictionSettings(url: string): Promise<RedisEvictionSettings> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: TIMEOUT_MS,
    commandTimeout: TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectionName: 'bgc-doctor',
  });
  redis.on('error', () => undefined); // surfaced by the awaited calls below
  try {
    await redis.connect();
    try {
      const [, maxmemory] = (await redis.call('CONFIG', 'GET', 'maxmemory')) as string[];
      const [, policy] = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as string[];
      if (maxmemory !== undefined && policy !== undefined) return { maxmemory: Number(maxmemory), policy, source: 'config' };
    } catch {
      // CONFIG renamed or forbidden (ERR unknown command / NOPERM): INFO carries the same values.
    }
    const info = parseInfo(await redis.info('memory'));
    return { maxmemory: Number(info.get('maxmemory') ?? 0), policy: info.get('maxmemory_policy') ?? 'unknown', source: 'info' };
  } finally {
    redis.disconnect();
  }
}
