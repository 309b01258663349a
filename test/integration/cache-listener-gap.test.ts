import type pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { PRIMARY_PORT } from '../helpers/constants.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * While this instance's invalidation listener (LISTEN on the primary) is down, it may miss
 * NOTIFYs, so what it loads then must not reach Redis, where nobody would remove a row a
 * missed NOTIFY invalidated: it stays in this instance's L1, which the reconnect clears. Real
 * PostgreSQL and Redis; the listener is held down by refusing new connections to the test
 * database and terminating its session. Before the fix, a load in the gap was written to Redis
 * and served from there to every instance for its whole TTL.
 */
let tdb: TestDatabase;
let admin: pg.Client;
let layer: CacheLayer;

beforeAll(async () => {
  tdb = await createTestDatabase('cache_listener_gap');
  // ALTER DATABASE … ALLOW_CONNECTIONS cannot be run from inside the database it changes.
  admin = await connectNode(PRIMARY_PORT, 'postgres');
  layer = new CacheLayer(tdb.config({ BGC_CACHE_NAMESPACE: `test:${tdb.name}:gap` }), { logger: pino({ level: 'silent' }), name: 'gap' });
  await layer.start();
}, 60_000);

afterAll(async () => {
  await admin?.query(`ALTER DATABASE "${tdb.name}" WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
  await layer?.close();
  await admin?.end();
  await tdb?.drop();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await cond())) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

const inRedis = async (id: string) => (await layer.redis.exists(layer.keys.item('profile', id))) === 1;

describe('loads while the invalidation listener is down', () => {
  it('stay in L1 and out of Redis; once it is back, loads reach Redis again', async () => {
    expect(layer.listener?.connected).toBe(true);
    const before = `gap-before-${process.pid}`;
    await layer.profiles.get(before, async () => ({ v: 1 }));
    expect(await inRedis(before), 'a load with the listener up is shared through Redis').toBe(true);

    await admin.query(`ALTER DATABASE "${tdb.name}" WITH ALLOW_CONNECTIONS false`);
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bgc-gap-cache-listener'`);
      const downMs = await until('the listener notices', () => layer.listener?.connected === false, 10_000);
      const during = `gap-during-${process.pid}`;
      expect(await layer.profiles.get(during, async () => ({ v: 2 }))).toEqual({ v: 2 });
      console.log(`[cache-listener-gap] listener down after ${downMs} ms; a load in the gap: in L1 ${layer.profiles.cachedHere(during)}, in Redis ${await inRedis(during)}`);
      expect(layer.profiles.cachedHere(during)).toBe(true);
      expect(await inRedis(during), 'a load in the gap stays out of Redis').toBe(false);
    } finally {
      await admin.query(`ALTER DATABASE "${tdb.name}" WITH ALLOW_CONNECTIONS true`);
    }
    const backMs = await until('the listener reconnects', () => layer.listener?.connected === true, 20_000);
    const after = `gap-after-${process.pid}`;
    await layer.profiles.get(after, async () => ({ v: 3 }));
    console.log(`[cache-listener-gap] listener back ${backMs} ms after connections were allowed again`);
    expect(await inRedis(after)).toBe(true);
  });
});
