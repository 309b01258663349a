import { createRedis, closeRedis, type RedisTarget } from './redis-connection.ts';
import { scanUnlink, type ScanUnlinkResult } from './scan-unlink.ts';

/**
 * Deletes every Redis key of one cache namespace (`<namespace>:*`: entries, leases, LSN
 * marks, the listener hash) with SCAN + UNLINK, on a short-lived connection of its own.
 * For test clean-up and operators retiring an old namespace version; a running app
 * never needs it (it flushes per cache through L2Janitor).
 *
 * Refuses namespaces that could widen the pattern (empty, or with glob characters), so
 * a bad argument cannot empty the whole Redis.
 */
const READY_TIMEOUT_MS = 2_000;

/** `complete` is false if SCAN's page bound stopped the walk (scan-unlink.ts). */
export type PurgeResult = ScanUnlinkResult;

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
    return await scanUnlink(redis, `${namespace}:*`);
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
