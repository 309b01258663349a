import type { CacheLayer } from './cache-layer.ts';
import type { ProfileReaderLike } from './readers.ts';
import type { WarmRepository } from './warm.repository.ts';

/**
 * Cache warming (FR-012): read the N most recently active users' profile views through
 * the cache, so they end up in this instance's L1 and in Redis.
 *
 *  - Batches of `batchSize` ids go through the cache concurrently; their Redis GETs (and,
 *    for misses, the SETs) are issued in the same ticks and ioredis auto-pipelining sends
 *    each group in one round trip. Misses load through the ProfileReader, at most
 *    `dbConcurrency` (16) at a time, so warming never takes the whole pool.
 *  - Bounded by count and by `timeoutMs`: whatever is not done by then is left cold.
 *  - Keys another instance already cached come from Redis, not PostgreSQL.
 *  - Warm reads do not count in the hit/miss metrics (they are not traffic).
 */
export interface WarmOptions {
  readonly count: number;
  readonly timeoutMs: number;
  readonly batchSize?: number;
  readonly concurrency?: number;
  readonly dbConcurrency?: number;
  readonly onProgress?: (p: WarmProgress) => void;
}

export interface WarmProgress { readonly done: number; readonly total: number; readonly elapsedMs: number }

export interface WarmReport {
  readonly requested: number;
  readonly candidates: number;
  readonly warmed: number;
  readonly fromDatabase: number;
  readonly missing: number;
  readonly failed: number;
  readonly timedOut: boolean;
  readonly batches: number;
  readonly durationMs: number;
}

/** A counting semaphore: at most `n` holders at a time. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

export async function warmProfiles<V>(layer: CacheLayer, repo: WarmRepository, reader: ProfileReaderLike<V>, opts: WarmOptions): Promise<WarmReport> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const batchSize = opts.batchSize ?? 250;
  const concurrency = opts.concurrency ?? 64;
  const dbLimit = limiter(opts.dbConcurrency ?? 16);
  let fromDatabase = 0;
  const load = (id: string, o: { fresh: boolean }) => dbLimit(() => {
    fromDatabase++;
    return reader.getProfileView(id, o.fresh ? { forcePrimary: true } : {});
  });

  const ids = await repo.recentlyActiveUserIds(opts.count);
  let warmed = 0;
  let missing = 0;
  let failed = 0;
  let done = 0;
  let batches = 0;
  let timedOut = false;
  const itemLimit = limiter(concurrency);
  for (let i = 0; i < ids.length; i += batchSize) {
    if (Date.now() >= deadline) { timedOut = true; break; }
    batches++;
    await Promise.all(ids.slice(i, i + batchSize).map((id) => itemLimit(async () => {
      if (Date.now() >= deadline) { timedOut = true; return; }
      try {
        const v = await layer.profiles.getUncounted(id, load);
        if (v === null) missing++; else warmed++;
      } catch {
        failed++;
      }
      done++;
    })));
    opts.onProgress?.({ done, total: ids.length, elapsedMs: Date.now() - started });
  }
  const durationMs = Date.now() - started;
  layer.metrics?.warmupDuration.set(durationMs / 1000);
  const report: WarmReport = { requested: opts.count, candidates: ids.length, warmed, fromDatabase, missing, failed, timedOut, batches, durationMs };
  layer.lastWarm = report;
  return report;
}
