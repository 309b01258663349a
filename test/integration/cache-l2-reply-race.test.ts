import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { LatencyProxy } from '../../src/tools/bench/latency-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

/**
 * An invalidation handled while a Redis GET of the same key is in flight (real Redis, behind
 * a latency proxy that holds every reply 150 ms). Redis runs the GET before the
 * invalidation's UNLINK, so the reply holds the old value; bentocache copies an L2 hit into
 * L1 without asking. Before the fix that old value stayed in L1 for its whole TTL (10 min for
 * profiles) while Redis was already empty; now a read whose key was invalidated while it
 * ran drops the L1 copy and reads again.
 */
let tdb: TestDatabase;
let proxy: LatencyProxy;
let layer: CacheLayer;

beforeAll(async () => {
  tdb = await createTestDatabase('cache_l2_reply_race');
  proxy = new LatencyProxy({ host: '127.0.0.1', port: REDIS_PORT }, 0);
  const port = await proxy.listen();
  const config = tdb.config({ REDIS_URL: `redis://127.0.0.1:${port}`, BGC_CACHE_NAMESPACE: `test:${tdb.name}:race` });
  layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), name: 'l2-race' });
  await layer.start();
}, 60_000);

afterAll(async () => {
  await layer?.close();
  await proxy?.close();
  await tdb?.drop();
});

describe('an invalidation racing a Redis read in flight', () => {
  it('leaves no old value in L1: the read that overlapped it reads again, and the next read sees the new value', async () => {
    let row = { v: 'old' };
    const loader = async () => row;
    const id = `race-${process.pid}`;
    expect(await layer.profiles.get(id, loader)).toEqual({ v: 'old' }); // in L1 and Redis
    layer.profiles.dropL1([id]); // this instance has no L1 copy: the next read goes to Redis

    proxy.delayMs = 150;
    const started = Date.now();
    const reading = layer.profiles.get(id, loader); // GET reaches Redis at ~150 ms, its reply comes back at ~300 ms
    await new Promise((r) => setTimeout(r, 200));
    row = { v: 'new' }; // the write commits; its invalidation arrives while the GET's reply is on its way
    layer.profiles.invalidateLocal([id]); // drops L1 (nothing there), UNLINK queued behind the GET
    const overlapped = await reading;
    proxy.delayMs = 0;
    const next = await layer.profiles.get(id, loader);
    console.log(`[cache-l2-reply-race] the overlapping read answered ${JSON.stringify(overlapped)} after ${Date.now() - started} ms; the next read ${JSON.stringify(next)}`);
    expect(next, 'no old value left in L1').toEqual({ v: 'new' });
    expect(overlapped).toEqual({ v: 'new' });
  });
});

describe('a peer that writes an old session into Redis after its invalidation', () => {
  it('is not believed: the first read after the invalidation loads (a revoked session stays revoked)', async () => {
    // Another instance on the same Redis and namespace, whose NOTIFY has not arrived yet.
    const peer = new CacheLayer(tdb.config({ REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, BGC_CACHE_NAMESPACE: `test:${tdb.name}:race` }), { logger: pino({ level: 'silent' }), name: 'l2-peer' });
    await peer.start();
    try {
      const live = { sessionId: 's1', userId: 'u1', expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
      let row: typeof live | null = live;
      const id = `late-session-${process.pid}`;
      expect(await layer.sessions.get(id, async () => row)).toEqual(live);
      row = null; // the logout commits
      layer.sessions.invalidateLocal([id]); // this instance's NOTIFY: L1 dropped, Redis UNLINKed
      await new Promise((r) => setTimeout(r, 50));
      // The peer's load read the database before the logout committed, and lands now.
      expect(await peer.sessions.get(id, async () => live)).toEqual(live);
      // Before: a Redis hit, the live session, kept in L1 for the session TTL.
      expect(await layer.sessions.get(id, async () => row)).toBeNull();
      expect(await layer.sessions.get(id, async () => row)).toBeNull();
    } finally {
      await peer.close();
    }
  });
});
