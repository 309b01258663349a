import pino from 'pino';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import type { LoadOptions } from '../../src/cache/typed-cache.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * A cache fill answered by a replica that may be further behind than the max lag (out of
 * rotation for lag with the primary's fallback budget spent, or a last resort): the router
 * tells the loader (QueryContext.onDegradedRead), and the entry is kept only here and only
 * briefly. Before, it was kept in L1 and Redis for the whole TTL (profiles: 10 minutes), so a
 * suspension or hide whose invalidation was older than that replica's position, but past the
 * fresh window, came back for everyone. The real routing is in
 * test/unit/replica-router-budget.test.ts; here the loader reports what the router decided.
 */
let tdb: TestDatabase;
let layer: CacheLayer;

beforeAll(async () => {
  tdb = await createTestDatabase('cache_degraded');
  layer = new CacheLayer(tdb.config({ BGC_CACHE_NAMESPACE: `test:degraded:${uuidv7().slice(-8)}` }), {
    logger: pino({ level: 'silent' }), metrics: new Metrics(), listen: false, name: 'degraded',
  });
  await layer.start();
}, 60_000);

afterAll(async () => {
  await layer?.close();
  await tdb?.drop();
});

describe('a cache fill from a replica behind the max lag', () => {
  it('is handed out but not kept for the TTL, and not written to Redis', async () => {
    const id = `u-${uuidv7()}`;
    let version = 1;
    let degraded = true;
    const loader = async (key: string, opts: LoadOptions) => {
      if (degraded) opts.onDegradedRead?.();
      return { id: key, version };
    };
    expect(await layer.profiles.get(id, loader)).toEqual({ id, version: 1 });
    expect(await layer.redis.exists(layer.keys.item('profile', id)), 'not in Redis').toBe(0);
    // The database moved on (the replica caught up); no invalidation arrives.
    version = 2;
    degraded = false;
    const started = Date.now();
    let seen = 1;
    while (seen !== 2) {
      if (Date.now() - started > 5_000) throw new Error('the degraded entry was still served after 5 s');
      await new Promise((r) => setTimeout(r, 50));
      seen = ((await layer.profiles.get(id, loader)) as { version: number }).version;
    }
    console.log(`the degraded entry gave way after ${Date.now() - started} ms`);
    expect(layer.profiles.degradedLoads).toBe(1);
    // A normal load is kept as before: a later change without an invalidation is not seen.
    version = 3;
    expect(await layer.profiles.get(id, loader)).toEqual({ id, version: 2 });
  });
});
