import type { Redis } from 'ioredis';

/**
 * SCAN + UNLINK of every key matching a pattern, the one loop behind a cache flush
 * (L2Janitor), the master check's flush (master-guard.ts) and `purgeNamespace`.
 *
 * SCAN walks the whole keyspace whatever the pattern (MATCH filters afterwards), so the
 * number of pages it takes follows the server's key count, not the namespace's. The loop
 * is bounded by that count (a rehash during the walk can return keys twice, hence the
 * margin) and never by less than MIN_PAGES; a walk the bound stopped says so, and callers
 * must not treat it as done: a flush that stopped early leaves entries older than an
 * invalidation in Redis.
 */
const SCAN_COUNT = 1_000;
const MIN_PAGES = 10_000;

export interface ScanUnlinkResult {
  readonly deleted: number;
  /** False if the page bound stopped the walk before SCAN's cursor came back to 0. */
  readonly complete: boolean;
  /** SCAN pages walked. */
  readonly pages: number;
}

/** Pages allowed for a server holding `keys` keys: the keyspace four times over, at least MIN_PAGES. */
export function scanPageBound(keys: number): number {
  return Math.max(MIN_PAGES, Math.ceil((4 * keys) / SCAN_COUNT));
}

export async function scanUnlink(redis: Redis, pattern: string, maxPages?: number): Promise<ScanUnlinkResult> {
  const bound = maxPages ?? scanPageBound(await redis.dbsize());
  let cursor = '0';
  let deleted = 0;
  for (let page = 1; page <= bound; page++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    if (keys.length > 0) deleted += await redis.unlink(...keys);
    cursor = next;
    if (cursor === '0') return { deleted, complete: true, pages: page };
  }
  return { deleted, complete: false, pages: bound };
}

/** A flush whose SCAN the page bound stopped: some keys of the pattern may still be in Redis. */
export class ScanIncompleteError extends Error {
  readonly code = 'CACHE_SCAN_INCOMPLETE';
  constructor(readonly pattern: string, readonly pages: number, readonly deleted: number) {
    super(`SCAN of ${pattern} did not finish in ${pages} pages (${deleted} keys deleted so far); the flush is not done`);
  }
}
