import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import type { CacheStatsReport } from '../../src/cache/stats.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Issue 6 acceptance with TWO app instances (two runtimes in this process) sharing the
 * test database, Redis (the shared stack's, this file's own namespace) and nothing else: each has its
 * own L1, bus subscriber and database listener.
 */
let tdb: TestDatabase;
let A: Runtime;
let B: Runtime;

interface Res<T> { status: number; body: T }
async function call<T>(rt: Runtime, method: 'GET' | 'POST' | 'PUT', url: string, opts: { token?: string; body?: unknown } = {}): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await rt.app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}) });
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T };
}

async function stats(rt: Runtime): Promise<CacheStatsReport> {
  const res = await rt.admin.inject({ method: 'GET', url: '/admin/api/cache' });
  return JSON.parse(res.body) as CacheStatsReport;
}

/** Polls `probe` every 2 ms until it is true; returns the elapsed ms (or Infinity after `limitMs`). */
async function timeUntil(probe: () => Promise<boolean>, limitMs: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < 100_000; i++) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - start > limitMs) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 2));
  }
  return Number.POSITIVE_INFINITY;
}

let seq = 0;
async function register(rt: Runtime, prefix: string): Promise<{ id: string; token: string; email: string; password: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const email = `${username}@example.test`;
  const password = 'correct Horse 42';
  const res = await call<{ token: string; user: { id: string } }>(rt, 'POST', '/api/auth/register', { body: { email, username, password } });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token, email, password };
}

const profileQueryCount = async (rt: Runtime): Promise<number> => {
  const got = await rt.deps.metrics.dbQueryDuration.get();
  return got.values.filter((v) => v.metricName === 'bgc_db_query_duration_seconds_count' && v.labels.query === 'profile.get').reduce((s, v) => s + v.value, 0);
};

beforeAll(async () => {
  tdb = await createTestDatabase('cache_coherence');
  const config = tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
  A = await startRuntime(config, { listen: false });
  B = await startRuntime(config, { listen: false });
});

afterAll(async () => {
  await Promise.allSettled([A?.close(), B?.close()]);
  // drop() also removes this file's namespace from the shared Redis.
  await tdb?.drop();
});

describe('two instances, one cache', () => {
  it('serves a profile updated through A fresh on B within 2 s (by invalidation: the profile TTL is 10 minutes)', async () => {
    const alice = await register(A, 'alice');
    const bob = await register(B, 'bob');
    const url = `/api/profiles/${alice.id}`;
    // Bob reads through B twice: the second read is a cache hit on B.
    expect((await call(B, 'GET', url, { token: bob.token })).status).toBe(200);
    const before = (await stats(B)).caches.profile;
    expect((await call(B, 'GET', url, { token: bob.token })).status).toBe(200);
    const after = (await stats(B)).caches.profile;
    expect(after.l1.hit + after.l2.hit).toBeGreaterThan(before.l1.hit + before.l2.hit);

    // Alice's own profile is cached on B too.
    expect((await call(B, 'GET', url, { token: alice.token })).status).toBe(200);
    const put = await call(A, 'PUT', '/api/profiles/me', { token: alice.token, body: { bio: 'updated through A' } });
    expect(put.status).toBe(200);
    // Read-your-writes: her very next read, on the other instance, already sees it (the
    // shared LSN mark sends it around the cache to a node that has the write).
    expect((await call<{ bio: string }>(B, 'GET', url, { token: alice.token })).body.bio).toBe('updated through A');
    // Measured around whole requests (inject, cache, a database read on a miss): on a loaded
    // 2-core machine that alone can take hundreds of ms. What must not happen is B serving its
    // cached copy until the entry expires (BGC_CACHE_PROFILE_TTL_S, 600 s by default).
    const ms = await timeUntil(async () => (await call<{ bio: string }>(B, 'GET', url, { token: bob.token })).body.bio === 'updated through A', 10_000);
    console.log(`[cache-coherence] profile update on A visible on B after ${ms.toFixed(1)} ms (TTL ${A.deps.config.cache.profileTtlSeconds} s)`);
    expect(A.deps.config.cache.profileTtlSeconds * 1000).toBeGreaterThan(60_000);
    expect(ms).toBeLessThan(2_000);
  });

  it('invalidates an UPDATE made directly in the database, with no app call', async () => {
    const carol = await register(A, 'carol');
    const dave = await register(B, 'dave');
    const url = `/api/profiles/${carol.id}`;
    for (const rt of [A, B]) {
      await call(rt, 'GET', url, { token: dave.token });
      expect((await call<{ bio: string | null }>(rt, 'GET', url, { token: dave.token })).body.bio).toBeNull();
    }
    const admin = await tdb.admin();
    try {
      await admin.query(`UPDATE profiles SET bio = 'written with psql' WHERE user_id = $1`, [carol.id]);
      // The rating average is part of the cached view too: another table, same key.
      await admin.query(`INSERT INTO profile_ratings (rater_id, rated_id, score) VALUES ($1, $2, 9)`, [dave.id, carol.id]);
    } finally {
      await admin.end();
    }
    for (const [name, rt] of [['A', A], ['B', B]] as const) {
      const ms = await timeUntil(async () => {
        const body = (await call<{ bio: string; rating: { count: number } }>(rt, 'GET', url, { token: dave.token })).body;
        return body.bio === 'written with psql' && body.rating.count === 1;
      }, 2_000);
      console.log(`direct UPDATE visible on ${name} after ${ms.toFixed(1)} ms`);
      expect(ms).toBeLessThan(1_000);
    }
    expect((await stats(B)).caches.profile.invalidations.db_notify).toBeGreaterThan(0);
  });

  it('rejects a token on B within 1 s of logout on A', async () => {
    const erin = await register(A, 'erin');
    const login = await call<{ token: string }>(A, 'POST', '/api/auth/login', { body: { email: erin.email, password: erin.password } });
    expect(login.status).toBe(200);
    const token = login.body.token;
    // B resolves it twice, so B holds it in its cache.
    expect((await call(B, 'GET', '/api/auth/session', { token })).status).toBe(200);
    const s0 = (await stats(B)).caches.session;
    expect((await call(B, 'GET', '/api/auth/session', { token })).status).toBe(200);
    const s1 = (await stats(B)).caches.session;
    expect(s1.l1.hit).toBeGreaterThan(s0.l1.hit);

    expect((await call(A, 'POST', '/api/auth/logout', { token })).status).toBeLessThan(300);
    const ms = await timeUntil(async () => (await call(B, 'GET', '/api/auth/session', { token })).status === 401, 2_000);
    console.log(`logout on A rejected on B after ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1_000);
    // The user's other session is untouched.
    expect((await call(B, 'GET', '/api/auth/session', { token: erin.token })).status).toBe(200);
  });

  it('deactivating a user in the database drops their sessions and profile everywhere', async () => {
    const frank = await register(A, 'frank');
    const gina = await register(B, 'gina');
    expect((await call(B, 'GET', '/api/auth/session', { token: frank.token })).status).toBe(200);
    expect((await call(B, 'GET', `/api/profiles/${frank.id}`, { token: gina.token })).status).toBe(200);
    const admin = await tdb.admin();
    try {
      await admin.query('UPDATE users SET is_active = false WHERE id = $1', [frank.id]);
    } finally {
      await admin.end();
    }
    const ms = await timeUntil(async () => (await call(B, 'GET', '/api/auth/session', { token: frank.token })).status === 401
      && (await call(B, 'GET', `/api/profiles/${frank.id}`, { token: gina.token })).status === 404, 2_000);
    expect(ms).toBeLessThan(1_000);
  });

  it('100 concurrent misses on one profile run one database load across both instances', async () => {
    const hank = await register(A, 'hank');
    const ivy = await register(B, 'ivy');
    const url = `/api/profiles/${hank.id}`;
    // Make the key cold everywhere (and wait out the "just invalidated" window, whose
    // loads go to the primary: they still count as one profile.get each).
    const admin = await tdb.admin();
    try {
      await admin.query(`UPDATE profiles SET bio = 'cold' WHERE user_id = $1`, [hank.id]);
    } finally {
      await admin.end();
    }
    await new Promise((r) => setTimeout(r, 200));
    const q0 = (await profileQueryCount(A)) + (await profileQueryCount(B));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call<{ bio: string }>(i % 2 === 0 ? A : B, 'GET', url, { token: ivy.token })));
    const q1 = (await profileQueryCount(A)) + (await profileQueryCount(B));
    expect(results.every((r) => r.status === 200 && r.body.bio === 'cold')).toBe(true);
    console.log(`100 concurrent cold reads (50 per instance): ${q1 - q0} profile.get queries`);
    expect(q1 - q0).toBe(1);
  });

  it('100 concurrent misses on one key call the loader once (two cache layers, fleet lease)', async () => {
    const config = tdb.config();
    const logger = pino({ level: 'silent' });
    const l1 = new CacheLayer(config, { logger, metrics: new Metrics(), listen: false, name: 'stampede-a' });
    const l2 = new CacheLayer(config, { logger, metrics: new Metrics(), listen: false, name: 'stampede-b' });
    try {
      await Promise.all([l1.start(), l2.start()]);
      let calls = 0;
      const loader = async (id: string) => {
        calls++;
        await new Promise((r) => setTimeout(r, 30));
        return { id, bio: 'x'.repeat(100) };
      };
      const key = `stampede-${process.pid}-${Date.now()}`;
      const out = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? l1 : l2).profiles.get(key, loader)));
      expect(out.every((v) => (v as { id: string }).id === key)).toBe(true);
      expect(calls).toBe(1);
      expect(l1.lease.waitedCount + l2.lease.waitedCount).toBeGreaterThan(0);
      // Each of the 100 reads is one lookup in the metrics (a lease wait re-reads, uncounted).
      let lookups = 0;
      for (const layer of [l1, l2]) {
        const values = (await layer.metrics?.requests.get())?.values ?? [];
        lookups += values.filter((v) => v.labels.tier === 'l1').reduce((n, v) => n + v.value, 0);
      }
      expect(lookups).toBe(100);
    } finally {
      await Promise.all([l1.close(), l2.close()]);
    }
  });

  it('caches a missing profile briefly, and the INSERT that creates it clears that at once', async () => {
    const judy = await register(A, 'judy');
    const id = '0190aaaa-0000-7000-8000-0000000000aa';
    expect((await call(B, 'GET', `/api/profiles/${id}`, { token: judy.token })).status).toBe(404);
    const q0 = await profileQueryCount(B);
    expect((await call(B, 'GET', `/api/profiles/${id}`, { token: judy.token })).status).toBe(404);
    expect(await profileQueryCount(B)).toBe(q0); // the second 404 came from the cache
    const admin = await tdb.admin();
    try {
      await admin.query(`WITH u AS (INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'late@example.test', 'late_${process.pid}', 'x') RETURNING id)
        INSERT INTO profiles (user_id, display_name) SELECT id, 'Late' FROM u`, [id]);
    } finally {
      await admin.end();
    }
    const ms = await timeUntil(async () => (await call(B, 'GET', `/api/profiles/${id}`, { token: judy.token })).status === 200, 2_000);
    expect(ms).toBeLessThan(1_000);
  });

  it('serves stale while revalidating, and serves stale when the database fails within the grace period', async () => {
    const config = tdb.config({ BGC_CACHE_PROFILE_TTL_S: '1' });
    const layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), metrics: new Metrics(), listen: false, name: 'grace' });
    try {
      await layer.start();
      const key = `grace-${process.pid}-${Date.now()}`;
      let version = 1;
      let failing = false;
      let calls = 0;
      const loader = async (id: string) => {
        calls++;
        if (failing) throw new Error('database down');
        return { id, version };
      };
      expect(await layer.profiles.get(key, loader)).toEqual({ id: key, version: 1 });
      version = 2;
      await new Promise((r) => setTimeout(r, 1_200)); // past the TTL (1 s ±10%)
      // Stale-while-revalidate: the old value at once, the new one loaded in the background.
      expect(await layer.profiles.get(key, loader)).toEqual({ id: key, version: 1 });
      // The background load lands when the loaded machine gets to it: wait for it, bounded.
      const revalidated = await timeUntil(async () => ((await layer.profiles.get(key, loader)) as { version: number }).version === 2, 5_000);
      console.log(`stale-while-revalidate: the new value served ${revalidated.toFixed(0)} ms after the stale one`);
      expect(revalidated).toBeLessThan(5_000);
      // Now the database fails after the TTL: the last good value is served (graced).
      failing = true;
      await new Promise((r) => setTimeout(r, 1_200));
      const before = calls;
      expect(await layer.profiles.get(key, loader)).toEqual({ id: key, version: 2 });
      // The failed background reload was tried (bounded wait), and the last good value still serves.
      expect(await timeUntil(async () => calls > before, 5_000)).toBeLessThan(5_000);
      expect(await layer.profiles.get(key, loader)).toEqual({ id: key, version: 2 });
      const stale = (await layer.metrics?.requests.get())?.values.filter((v) => v.labels.result === 'stale').reduce((n, v) => n + v.value, 0);
      expect(stale).toBeGreaterThan(0);
      // A key never loaded has nothing to fall back on: the database error surfaces.
      await expect(layer.profiles.get(`${key}-new`, loader)).rejects.toThrow('database down');
    } finally {
      await layer.close();
    }
  });

  it('a third instance warms its cache at start-up, before it reports ready', async () => {
    await tdb.syncReplicas();
    const admin = await tdb.admin();
    const active = Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM users WHERE is_active')).rows[0]?.n);
    await admin.end();
    expect(active).toBeGreaterThan(5);
    const C = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' }), { listen: false });
    try {
      const s = await stats(C);
      expect(s.lastWarm?.warmed).toBe(active);
      expect(s.lastWarm?.failed).toBe(0);
      // The earlier tests' profiles are in Redis already: warming read them from there.
      expect(s.lastWarm?.fromDatabase).toBeLessThan(s.lastWarm?.warmed ?? 0);
      expect(s.l1.entries).toBeGreaterThanOrEqual(s.lastWarm?.warmed ?? 1);
      const ready = await C.app.inject({ method: 'GET', url: '/readyz' });
      expect(JSON.parse(ready.body)).toMatchObject({ ready: true, warmedUp: true, redis: { ok: true } });
    } finally {
      await C.close();
    }
  });

  it('warms BGC_CACHE_WARM_BEFORE_READY profiles before ready and the rest of BGC_CACHE_WARM_COUNT after it; close() stops that at once', async () => {
    const admin = await tdb.admin();
    const active = Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM users WHERE is_active')).rows[0]?.n);
    await admin.end();
    const D = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_BEFORE_READY: '2' }), { listen: false });
    try {
      const ready = await D.app.inject({ method: 'GET', url: '/readyz' });
      expect(JSON.parse(ready.body)).toMatchObject({ ready: true, warmedUp: true });
      // The background part re-reads every candidate; its report replaces the first one.
      const waited = await timeUntil(async () => (await stats(D)).lastWarm?.candidates === active, 10_000);
      console.log(`[warm after ready] all ${active} candidates warmed ${waited.toFixed(0)} ms after ready`);
      expect(waited).toBeLessThan(10_000);
      const s = await stats(D);
      expect(s.lastWarm?.warmed).toBe(active);
      expect(s.lastWarm?.failed).toBe(0);
      expect(s.l1.entries).toBeGreaterThanOrEqual(active);
    } finally {
      await D.close();
    }
    // Closing while the background part may still run: it stops before the next batch.
    const E = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_BEFORE_READY: '1' }), { listen: false });
    const closing = performance.now();
    await E.close();
    const closeMs = performance.now() - closing;
    console.log(`[warm after ready] close() with the background warm-up started took ${closeMs.toFixed(0)} ms`);
    expect(closeMs).toBeLessThan(5_000);
  });

  it('reports per-tier hit ratios, memory against limits and key counts on the admin API', async () => {
    const res = await A.admin.inject({ method: 'GET', url: '/admin/api/cache?keys=1' });
    expect(res.statusCode).toBe(200);
    const s = JSON.parse(res.body) as CacheStatsReport;
    expect(s.status).toEqual({ redis: true, bus: true, listener: true });
    expect(s.l1.bytes).toBeGreaterThan(0);
    expect(s.l1.bytes).toBeLessThanOrEqual(s.l1.maxBytes);
    expect(s.redis?.maxmemory).toBeGreaterThan(0);
    expect(s.caches.profile.lookups).toBeGreaterThan(0);
    expect(s.caches.profile.keys?.count).toBeGreaterThan(0);
    const metrics = await A.admin.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/bgc_cache_requests_total\{cache="profile",tier="l1",result="hit"\} [1-9]/);
  });
});
