import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { RedisNode } from '../../src/tools/stack/redis-node.ts';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { readRedisMemory } from '../../src/cache/redis-memory.ts';
import { warmProfiles } from '../../src/cache/warm.ts';
import { WarmRepository } from '../../src/cache/warm.repository.ts';
import { Database } from '../../src/db/database.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { ProfileRepository } from '../../src/repositories/profiles.repository.ts';
import { DbProfileReader } from '../../src/services/profiles/profile-reader.ts';
import type { CacheStatsReport } from '../../src/cache/stats.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { replicasCaughtUp } from '../helpers/write-position.ts';

/**
 * Redis failure and Redis memory, each on a PRIVATE redis-server (same flags as the
 * stack's, src/tools/stack/redis-node.ts) so stopping it cannot disturb anyone else.
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function privateRedis(maxmemory: string, policy: string): Promise<{ node: RedisNode; url: string; dir: string }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-cache-redis-'));
  const node = new RedisNode({ port, dir, maxmemory, policy });
  await node.start();
  return { node, url: `redis://127.0.0.1:${port}`, dir };
}

interface Res<T> { status: number; body: T; lsn?: string }
async function call<T>(rt: Runtime, method: 'GET' | 'POST' | 'PUT', url: string, opts: { token?: string; body?: unknown; lsn?: string } = {}): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lsn) headers['x-bgc-lsn'] = opts.lsn;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await rt.app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}) });
  const lsn = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T, lsn: typeof lsn === 'string' ? lsn : undefined };
}
async function stats(rt: Runtime): Promise<CacheStatsReport> {
  return JSON.parse((await rt.admin.inject({ method: 'GET', url: '/admin/api/cache' })).body) as CacheStatsReport;
}
async function waitFor(probe: () => Promise<boolean>, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return probe();
}

let tdb: TestDatabase;
const redises: Array<{ node: RedisNode; dir: string }> = [];

beforeAll(async () => {
  tdb = await createTestDatabase('cache_redis_fail');
});
afterAll(async () => {
  for (const r of redises) {
    await r.node.stop().catch(() => undefined);
    fs.rmSync(r.dir, { recursive: true, force: true });
  }
  await tdb?.drop();
});

describe('Redis stopped mid-test (fail-open)', () => {
  it('keeps answering from PostgreSQL, keeps invalidating, and uses the cache again when Redis returns', async () => {
    const r = await privateRedis('64mb', 'allkeys-lfu');
    redises.push(r);
    // The chat pages' change positions on (off by default): the inbox below checks them across the outage.
    const config = tdb.config({ REDIS_URL: r.url, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_CHAT_PAGE_TTL_MS: '10000' });
    const A = await startRuntime(config, { listen: false });
    const B = await startRuntime(config, { listen: false });
    try {
      const users: Array<{ id: string; token: string }> = [];
      for (let i = 0; i < 4; i++) {
        const username = `rf_${process.pid}_${i}`;
        const res = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
        expect(res.status).toBe(201);
        users.push({ id: res.body.user.id, token: res.body.token });
      }
      const [u0, u1, u2, u3] = users as [typeof users[0], typeof users[0], typeof users[0], typeof users[0]];
      // u0 reads the profiles of users registered after it, through the cache (a position
      // would send the reads around it): first let the replicas replay the registrations.
      await replicasCaughtUp(tdb, 'u0 reads later users\' profiles through the cache');
      // Warm both instances on u1's profile.
      for (const rt of [A, B]) expect((await call(rt, 'GET', `/api/profiles/${u1.id}`, { token: u0.token })).status).toBe(200);

      // A conversation whose inbox page B caches: u0 writes through A, u1 reads through B.
      const conv = (await call<{ id: string }>(A, 'POST', '/api/chat/conversations', { token: u0.token, body: { recipient_id: u1.id } })).body.id;
      const send = async (content: string) => {
        const res = await call<{ id: string }>(A, 'POST', `/api/chat/conversations/${conv}/messages`, { token: u0.token, body: { content } });
        expect(res.status).toBe(201);
        return { id: res.body.id, lsn: res.lsn };
      };
      const lastInInboxOfU1 = async (lsn?: string) => (await call<{ items: Array<{ last_message: { id: string } | null }> }>(B, 'GET', '/api/chat/conversations', { token: u1.token, lsn })).body.items[0]?.last_message?.id;
      const m1 = await send('before the outage');
      expect(await lastInInboxOfU1()).toBe(m1.id);

      await r.node.stop();
      expect(await waitFor(async () => !(await stats(A)).status.redis && !(await stats(B)).status.redis, 5_000)).toBe(true);

      // Sends succeed without Redis (their change position cannot be raised), and the inbox is
      // read from PostgreSQL (its change positions are out of reach).
      const m2 = await send('during the outage');
      expect(await lastInInboxOfU1(m2.lsn)).toBe(m2.id);

      // Every request still succeeds: cached (L1), uncached (PostgreSQL), sessions, writes.
      let failures = 0;
      let requests = 0;
      const started = Date.now();
      while (Date.now() - started < 1_500) {
        for (const rt of [A, B]) {
          for (const u of users) {
            requests++;
            if ((await call(rt, 'GET', `/api/profiles/${u.id}`, { token: u0.token })).status !== 200) failures++;
          }
          requests++;
          if ((await call(rt, 'GET', '/api/auth/session', { token: u2.token })).status !== 200) failures++;
        }
      }
      console.log(`Redis down: ${requests} requests, ${failures} failed`);
      expect(failures).toBe(0);

      // Invalidation without Redis: the database NOTIFY reaches both instances' L1.
      expect((await call(A, 'PUT', '/api/profiles/me', { token: u1.token, body: { bio: 'changed while Redis was down' } })).status).toBe(200);
      expect(await waitFor(async () => (await call<{ bio: string }>(B, 'GET', `/api/profiles/${u1.id}`, { token: u0.token })).body.bio === 'changed while Redis was down', 1_000)).toBe(true);
      expect((await call(A, 'POST', '/api/auth/logout', { token: u3.token })).status).toBeLessThan(300);
      expect(await waitFor(async () => (await call(B, 'GET', '/api/auth/session', { token: u3.token })).status === 401, 1_000)).toBe(true);

      // Redis returns (empty: no persistence). Both instances use it again.
      await r.node.start();
      expect(await waitFor(async () => (await stats(A)).status.redis && (await stats(B)).status.redis, 10_000)).toBe(true);
      // Let the L2 circuit breaker close (it stays open ~1 s after the last failure).
      await new Promise((res) => setTimeout(res, 1_200));
      // Redis came back empty: a message sent now raises its scopes again, and B's reader sees
      // it on the first read, without X-BGC-LSN, whatever B cached before the outage.
      const cachedAt = Date.now();
      expect(await waitFor(async () => (await lastInInboxOfU1()) === m2.id, 5_000)).toBe(true);
      console.log(`u1's inbox cached on B with the outage's message ${Date.now() - cachedAt} ms after Redis was back in use`);
      const m3 = await send('after Redis came back');
      // With the writer's position (X-BGC-LSN) at once; without it within about a second, the
      // 1 s life of a page read while its scope was behind (docs/ARCHITECTURE.md, chat pages).
      expect(await lastInInboxOfU1(m3.lsn)).toBe(m3.id);
      const unpositioned = Date.now();
      expect(await waitFor(async () => (await lastInInboxOfU1()) === m3.id, 5_000)).toBe(true);
      console.log(`u1's inbox on B showed the message sent after Redis came back, without X-BGC-LSN, ${Date.now() - unpositioned} ms after the send`);
      const before = (await stats(B)).caches.profile.l2.hit;
      const url = `/api/profiles/${u2.id}`;
      const notified = async () => Promise.all([A, B].map(async (rt) => (await stats(rt)).caches.profile.invalidations.db_notify ?? 0));
      const notifiedBefore = await notified();
      expect((await call(A, 'PUT', '/api/profiles/me', { token: u2.token, body: { bio: 'after Redis came back' } })).status).toBe(200);
      // The write's own NOTIFY lands a moment later on each instance, which UNLINKs the key in
      // Redis: wait until both have handled it, so it cannot drop what A writes next.
      let waitStarted = Date.now();
      expect(await waitFor(async () => (await notified()).every((n, i) => n > (notifiedBefore[i] ?? 0)), 10_000), 'the PUT\'s NOTIFY handled by A and B').toBe(true);
      console.log(`[cache-redis-failure] the profile write's NOTIFY handled on both instances ${Date.now() - waitStarted} ms after the PUT answered`);
      // A loads it (miss) and writes Redis; B then finds it in Redis (L2 hit), not PostgreSQL.
      expect((await call<{ bio: string }>(A, 'GET', url, { token: u0.token })).body.bio).toBe('after Redis came back');
      const key = `${A.deps.config.cache.namespace}:profile:${u2.id}`;
      const probe = new Redis(r.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        waitStarted = Date.now();
        expect(await waitFor(async () => (await probe.exists(key)) === 1, 10_000), `A's copy of ${key} in Redis`).toBe(true);
        console.log(`[cache-redis-failure] A's copy of the profile in Redis ${Date.now() - waitStarted} ms after A's read answered`);
      } finally {
        probe.disconnect();
      }
      expect((await call<{ bio: string }>(B, 'GET', url, { token: u0.token })).body.bio).toBe('after Redis came back');
      expect((await stats(B)).caches.profile.l2.hit).toBeGreaterThan(before);
    } finally {
      await Promise.allSettled([A.close(), B.close()]);
    }
  });
});

describe('Redis down at start-up', () => {
  it('starts and serves without Redis, and starts using it once it appears', async () => {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-cache-redis-'));
    const node = new RedisNode({ port, dir, maxmemory: '64mb', policy: 'allkeys-lfu' });
    redises.push({ node, dir });
    const config = tdb.config({ REDIS_URL: `redis://127.0.0.1:${port}`, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
    const A = await startRuntime(config, { listen: false });
    try {
      const ready = JSON.parse((await A.app.inject({ method: 'GET', url: '/readyz' })).body) as { ready: boolean; redis: { ok: boolean } };
      expect(ready).toMatchObject({ ready: true, redis: { ok: false } });
      const username = `rd_${process.pid}`;
      const reg = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
      expect(reg.status).toBe(201);
      expect((await call(A, 'GET', `/api/profiles/${reg.body.user.id}`, { token: reg.body.token })).status).toBe(200);

      await node.start();
      expect(await waitFor(async () => (await stats(A)).status.redis && (await stats(A)).status.bus, 10_000)).toBe(true);
      await new Promise((res) => setTimeout(res, 1_200));
      const other = `rd2_${process.pid}`;
      const reg2 = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', { body: { email: `${other}@example.test`, username: other, password: 'correct Horse 42' } });
      await new Promise((res) => setTimeout(res, 100));
      // Another user's profile, read to fill the cache (so without a position): the replicas must have it.
      await replicasCaughtUp(tdb, 'the first user caches the second one\'s profile');
      expect((await call(A, 'GET', `/api/profiles/${reg2.body.user.id}`, { token: reg.body.token })).status).toBe(200);
      const keys = await stats(A);
      expect(keys.redis?.usedMemory).toBeGreaterThan(0);
      const res = await A.admin.inject({ method: 'GET', url: '/admin/api/cache?keys=1' });
      expect((JSON.parse(res.body) as CacheStatsReport).caches.profile.keys?.count).toBeGreaterThan(0);
    } finally {
      await A.close();
    }
  });
});

describe('Redis stalled (process stopped, sockets open)', () => {
  it('answers every request within a bounded time while Redis hangs, and recovers when it resumes', async () => {
    const r = await privateRedis('64mb', 'allkeys-lfu');
    redises.push(r);
    const config = tdb.config({ REDIS_URL: r.url, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
    const A = await startRuntime(config, { listen: false });
    const pid = Number(fs.readFileSync(r.node.pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(0);
    let stopped = false;
    try {
      const users: Array<{ id: string; token: string }> = [];
      for (let i = 0; i < 6; i++) {
        const username = `rs_${process.pid}_${i}`;
        const res = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
        users.push({ id: res.body.user.id, token: res.body.token });
      }
      const viewer = users[0] as { id: string; token: string };
      // The viewer reads later users' profiles through the cache while Redis hangs (a
      // position would send the reads around it): first let the replicas replay them.
      await replicasCaughtUp(tdb, 'the viewer reads later users\' profiles through the cache');
      process.kill(pid, 'SIGSTOP');
      stopped = true;
      let worst = 0;
      let failures = 0;
      // Cached and uncached profiles, sessions and a write, all while Redis does not answer.
      for (const u of users) {
        for (const req of [
          () => call(A, 'GET', `/api/profiles/${u.id}`, { token: viewer.token }),
          () => call(A, 'GET', '/api/auth/session', { token: u.token }),
        ]) {
          const t = performance.now();
          if ((await req()).status !== 200) failures++;
          worst = Math.max(worst, performance.now() - t);
        }
      }
      const t = performance.now();
      if ((await call(A, 'PUT', '/api/profiles/me', { token: viewer.token, body: { bio: 'written while Redis hung' } })).status !== 200) failures++;
      worst = Math.max(worst, performance.now() - t);
      console.log(`Redis stalled: ${users.length * 2 + 1} requests, ${failures} failed, slowest ${worst.toFixed(0)} ms`);
      expect(failures).toBe(0);
      // One command timeout (500 ms) opens both breakers; everything after skips Redis.
      expect(worst).toBeLessThan(1_500);
      process.kill(pid, 'SIGCONT');
      stopped = false;
      expect(await waitFor(async () => (await stats(A)).status.redis, 5_000)).toBe(true);
      await new Promise((res) => setTimeout(res, 1_200));
      // Another user reads the viewer's write through the cache (what is checked: no stale
      // copy survived the hang), so without a position: the replicas must have the write.
      await replicasCaughtUp(tdb, 'another user reads the bio written while Redis hung');
      expect((await call<{ bio: string }>(A, 'GET', `/api/profiles/${viewer.id}`, { token: users[1]?.token })).body.bio).toBe('written while Redis hung');
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      await A.close();
    }
  });
});

describe('Redis memory (SC-009)', () => {
  it('stays within maxmemory while loading more profiles than fit', async () => {
    const r = await privateRedis('2mb', 'allkeys-lfu');
    redises.push(r);
    // 1,200 users with ~4 KB bios: ~5 MB of profile views for a 2 MB Redis.
    const admin = await tdb.admin();
    try {
      await admin.query(`
        WITH u AS (
          INSERT INTO users (id, email, username, password_hash)
          SELECT gen_random_uuid(), 'mem' || g || '@example.test', 'mem_' || g, 'x' FROM generate_series(1, 1200) g
          RETURNING id)
        INSERT INTO profiles (user_id, bio, last_active_at) SELECT id, repeat('lorem ipsum ', 330), now() FROM u`);
    } finally {
      await admin.end();
    }
    await tdb.syncReplicas();
    const config = tdb.config({ REDIS_URL: r.url, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
    const logger = pino({ level: 'silent' });
    const db = new Database(config, { applicationName: 'bgc-test-cache-mem' });
    const layer = new CacheLayer(config, { logger, metrics: new Metrics(), name: 'mem' });
    try {
      await db.start();
      await layer.start();
      const limit = (await readRedisMemory(layer.redis)).maxmemory;
      expect(limit).toBe(2 * 1024 * 1024);
      let peak = 0;
      const report = await warmProfiles(layer, new WarmRepository(db), new DbProfileReader(new ProfileRepository(db)), {
        count: 1_200, timeoutMs: 60_000, batchSize: 200,
        onProgress: () => { void readRedisMemory(layer.redis).then((m) => { peak = Math.max(peak, m.usedMemory); }); },
      });
      const end = await readRedisMemory(layer.redis);
      peak = Math.max(peak, end.usedMemory);
      console.log(`loaded ${report.warmed} profiles (${report.fromDatabase} from PostgreSQL) into a ${limit}-byte Redis: peak used_memory ${peak}, evicted_keys ${end.evictedKeys}`);
      expect(report.warmed).toBe(1_200);
      // Batched loads: one profile.get_many per gathered batch, not one statement per view.
      expect(report.dbStatements).toBeGreaterThanOrEqual(Math.ceil(1_200 / 200));
      expect(report.dbStatements).toBeLessThan(50);
      expect(end.evictedKeys).toBeGreaterThan(0);
      // Redis evicts BEFORE running each write, so right after a write used_memory may sit
      // above maxmemory by at most that one write (a profile view here is ~4 KB) until the
      // next command evicts again; INFO sampled in between sees it (seen: 40 bytes over).
      expect(peak).toBeLessThanOrEqual(limit + 8 * 1024);
      // The L1 stays within its own bound too.
      expect(layer.lru.bytes).toBeLessThanOrEqual(layer.lru.maxBytes);
    } finally {
      await layer.close();
      await db.close();
    }
  });
});

describe('Warm-up candidates', () => {
  it('warms the profile of a much-followed user who has not been active for a year, not one with only blocks and pending requests', async () => {
    const r = await privateRedis('64mb', 'allkeys-lfu');
    redises.push(r);
    const tag = `wl${process.pid}`;
    const admin = await tdb.admin();
    let followed: string;
    let blocked: string;
    try {
      // 20 fans active now; `followed` and `blocked` last active a year ago. Every fan
      // favorites `followed` and 10 are accepted friends of it; every fan blocks `blocked`
      // and sends it a friend request nobody accepted.
      const { rows } = await admin.query<{ id: string; n: number }>(`
        WITH u AS (
          INSERT INTO users (id, email, username, password_hash)
          SELECT gen_random_uuid(), '${tag}_' || g || '@example.test', '${tag}_' || g, 'x' FROM generate_series(0, 21) g
          RETURNING id, split_part(username, '_', 2)::int AS n),
        p AS (
          INSERT INTO profiles (user_id, last_active_at)
          SELECT id, CASE WHEN n < 2 THEN now() - interval '365 days' ELSE now() END FROM u)
        SELECT id, n FROM u ORDER BY n`);
      followed = rows[0]!.id;
      blocked = rows[1]!.id;
      const fans = rows.slice(2).map((x) => x.id);
      await admin.query(`
        INSERT INTO relationships (user_id, target_id, kind, status)
        SELECT f, $1::uuid, 'favorite', 'accepted' FROM unnest($3::uuid[]) f
        UNION ALL SELECT f, $1::uuid, 'friend', 'accepted' FROM unnest(($3::uuid[])[1:10]) f
        UNION ALL SELECT f, $2::uuid, 'block', 'accepted' FROM unnest($3::uuid[]) f
        UNION ALL SELECT f, $2::uuid, 'friend', 'pending' FROM unnest($3::uuid[]) f`, [followed, blocked, fans]);
    } finally {
      await admin.end();
    }
    await tdb.syncReplicas();
    const config = tdb.config({ REDIS_URL: r.url, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
    const db = new Database(config, { applicationName: 'bgc-test-cache-warm-linked' });
    const layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), metrics: new Metrics(), name: 'warm-linked' });
    try {
      await db.start();
      await layer.start();
      const repo = new WarmRepository(db);
      // The relationship-set warm-up's viewers stay the most recently active: not `followed`.
      const recent = await repo.recentlyActiveUserIds(10);
      expect(recent).toHaveLength(10);
      expect(recent).not.toContain(followed);
      expect((await repo.mostLinkedUserIds(10))[0]).toBe(followed);

      const report = await warmProfiles(layer, repo, new DbProfileReader(new ProfileRepository(db)), { count: 10, timeoutMs: 60_000 });
      expect(report).toMatchObject({ candidates: 10, warmed: 10, missing: 0, failed: 0, timedOut: false });
      // A cached entry is served without calling the loader; `blocked` needs a load.
      const loads: string[] = [];
      const loader = async (id: string) => { loads.push(id); return null; };
      expect(await layer.profiles.getUncounted(followed, loader)).toMatchObject({ id: followed });
      expect(loads).toEqual([]);
      await layer.profiles.getUncounted(blocked, loader);
      expect(loads).toEqual([blocked]);
      // Two of the ten are the most recently active (a fifth), read in the same warm-up.
      for (const id of recent.slice(0, 2)) expect(await layer.profiles.getUncounted(id, loader)).not.toBeNull();
      expect(loads).toEqual([blocked]);
    } finally {
      await layer.close();
      await db.close();
    }
  });
});
