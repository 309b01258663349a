import { createRedis, closeRedis, type RedisTarget } from './redis-connection.ts';

/**
 * Deletes every Redis key of one cache namespace (`<namespace>:*`: entries, leases, LSN
 * marks, the listener hash) with SCAN + UNLINK, on a short-lived connection of its own.
 * For test clean-up and operators retiring an old namespace version; a running app
 * never needs it (it flushes per cache through L2Janitor).
 *
 * Refuses namespaces that could widen the pattern (empty, or with glob characters), so
 * a bad argument cannot empty the whole Redis.
 */
const SCAN_COUNT = 1_000;
/** 10k SCAN pages of 1,000: far more than any namespace holds; the loop is bounded anyway. */
const MAX_SCAN_ITERATIONS = 10_000;
const READY_TIMEOUT_MS = 2_000;

export interface PurgeResult {
  readonly deleted: number;
  /** False if the iteration bound stopped the scan before it finished. */
  readonly complete: boolean;
}

export class PurgeNamespaceError extends Error {
  readonly code = 'CACHE_PURGE_FAILED';
}

export async function purgeNamespace(target: RedisTarget, namespace: string): Promise<PurgeResult> {
  if (namespace.length === 0 || /[*?[\]\\]/.test(namespace)) {
    throw new PurgeNamespaceError(`refusing to purge namespace "${namespace}": empty or contains glob characters`);
  }
  const redis = createRedis(target, 'command', 'purge');
  try {
    await waitReady(redis, READY_TIMEOUT_MS);
    let cursor = '0';
    let deleted = 0;
    for (let i = 0; i < MAX_SCAN_ITERATIONS; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', SCAN_COUNT);
      if (keys.length > 0) deleted += await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') return { deleted, complete: true };
    }
    return { deleted, complete: false };
  } finally {
    await closeRedis(redis);
  }
}

async function waitReady(redis: ReturnType<typeof createRedis>, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new PurgeNamespaceError(`redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => { clearTimeout(timer); resolve(); };
    redis.once('ready', onReady);
  });
}
