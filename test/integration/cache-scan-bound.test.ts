import pino from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { L2Janitor } from '../../src/cache/l2-janitor.ts';
import { MasterGuard, masterTerm } from '../../src/cache/master-guard.ts';
import { RedisHealth } from '../../src/cache/redis-connection.ts';
import { parseInfo } from '../../src/cache/redis-memory.ts';
import { ScanIncompleteError, scanUnlink } from '../../src/cache/scan-unlink.ts';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { REDIS_PORT } from '../helpers/constants.ts';
import { createTestDatabase } from '../helpers/test-db.ts';

/**
 * A flush is SCAN + UNLINK, and SCAN's walk is bounded (src/cache/scan-unlink.ts). A walk the
 * bound stopped used to count as done: the master check then wrote its mark over a namespace
 * still holding entries from before the change, and nothing flushed them again. Here the
 * bound is one page over 2,500 keys, on the shared stack's Redis.
 */
const ns = `test:scanbound:${process.pid}_${Date.now()}`;
const pattern = `${ns}:profile:*`;
const markKey = `${ns}:master`;
let redis: Redis;

async function fill(count: number): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < count; i++) pipe.set(`${ns}:profile:${i}`, '1', 'EX', 120);
  await pipe.exec();
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await cond())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

beforeAll(async () => {
  redis = new Redis(`redis://127.0.0.1:${REDIS_PORT}`, { maxRetriesPerRequest: 1 });
  await redis.ping();
});

afterAll(async () => {
  await scanUnlink(redis, `${ns}:*`);
  redis.disconnect();
});

describe('a SCAN walk its page bound stopped', () => {
  it('scanUnlink says it is incomplete, and the janitor throws instead of reporting a flush', async () => {
    await fill(2_500);
    const partial = await scanUnlink(redis, pattern, 1);
    expect(partial.complete).toBe(false);
    expect(partial.pages).toBe(1);
    const janitor = new L2Janitor(redis, new RedisHealth(redis), () => undefined, async () => undefined);
    try {
      await expect(janitor.scanDelete(pattern, 1)).rejects.toBeInstanceOf(ScanIncompleteError);
      // Unbounded by the caller, the bound follows the server's key count: the walk finishes.
      await janitor.scanDelete(pattern);
      expect(await redis.exists(`${ns}:profile:0`, `${ns}:profile:2499`)).toBe(0);
    } finally {
      janitor.stop();
    }
  });

  it('the master check writes no mark and keeps reads off the cache until a flush finishes', async () => {
    await fill(2_500);
    await redis.set(markKey, 'term-of-the-old-master');
    const guarded = new Redis(`redis://127.0.0.1:${REDIS_PORT}`, { maxRetriesPerRequest: 1, lazyConnect: true });
    const health = new RedisHealth(guarded);
    const janitor = new L2Janitor(guarded, health, () => undefined, async () => undefined);
    let pagesAllowed: number | undefined = 1;
    let holds = 0;
    let attempts = 0;
    const guard = new MasterGuard({
      redis: guarded, health, markKey, patterns: [pattern], log: pino({ level: 'silent' }),
      caches: [{ name: 'profile', holdBypass: () => { holds++; return () => undefined; }, flush: async () => undefined }],
      janitor: { scanDelete: (p: string) => { attempts++; return janitor.scanDelete(p, pagesAllowed); } },
    });
    try {
      await guarded.connect();
      // Two checks with the bound at one page: each stops early, and neither may count.
      const retried = await waitFor('a second flush attempt', () => attempts >= 2, 5_000);
      expect(holds).toBe(1);
      expect(guard.holding, 'reads still bypass the cache').toBe(true);
      expect(await redis.get(markKey), 'the mark is not written over a partial flush').toBe('term-of-the-old-master');
      expect(guard.changes).toHaveLength(0);
      console.log(`two partial flushes in ${retried} ms, no mark written`);

      pagesAllowed = undefined;
      const ms = await waitFor('the flush finishing', () => !guard.holding, 5_000);
      const term = masterTerm(parseInfo(await redis.info()));
      expect(await redis.get(markKey)).toBe(term);
      expect(await redis.exists(`${ns}:profile:0`, `${ns}:profile:2499`)).toBe(0);
      expect(guard.changes.at(-1)?.from).toBe('term-of-the-old-master');
      console.log(`flush finished ${ms} ms after the page bound was lifted (${guard.changes.at(-1)?.deleted} keys)`);
    } finally {
      guard.close();
      janitor.stop();
      guarded.disconnect();
    }
  });

  it('a cache whose flush did not finish keeps reads off Redis until the retry finishes it', async () => {
    const tdb = await createTestDatabase('cache_scan_bound');
    const layer = new CacheLayer(tdb.config({ BGC_CACHE_NAMESPACE: `${ns}:layer` }), {
      logger: pino({ level: 'silent' }), metrics: new Metrics(), listen: false, name: 'scanbound',
    });
    try {
      await layer.start();
      const id = `u-${process.pid}`;
      let version = 1;
      const loader = async (key: string) => ({ id: key, version });
      expect(await layer.profiles.get(id, loader)).toEqual({ id, version: 1 });
      expect(await layer.redis.exists(layer.keys.item('profile', id)), 'in Redis').toBe(1);
      // The flush's SCAN stops early (its page bound), leaving the entry in Redis.
      const real = layer.janitor.scanDelete.bind(layer.janitor);
      let stopEarly = true;
      layer.janitor.scanDelete = async (pattern: string, maxPages?: number) => {
        if (stopEarly) throw new ScanIncompleteError(pattern, 1, 0);
        return real(pattern, maxPages);
      };
      version = 2;
      await layer.profiles.flush(true);
      // Before: the flush's bypass ended with it, and this read found version 1 in Redis.
      expect(await layer.profiles.get(id, loader), 'not the entry the flush was to remove').toEqual({ id, version: 2 });
      stopEarly = false;
      const ms = await waitFor('the retried flush', async () => (await layer.redis.exists(layer.keys.item('profile', id))) === 0, 5_000);
      console.log(`the retry finished the flush ${ms} ms later`);
      version = 3;
      await waitFor('reads using the cache again', async () => ((await layer.profiles.get(id, loader)) as { version: number }).version === 3, 5_000);
      version = 4;
      expect(await layer.profiles.get(id, loader), 'cached again').toEqual({ id, version: 3 });
    } finally {
      await layer.close();
      await tdb.drop();
    }
  });
});
