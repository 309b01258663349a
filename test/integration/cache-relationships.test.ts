import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { Redis } from 'ioredis';
import { pairInvalidationKeys, SET_ROWS } from '../../src/cache/relationship-sets.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * DESIGN §6 on real PostgreSQL and Redis: a cached profile read by an authenticated viewer
 * sends NO statement to the database (session, profile view and the viewer's relationship
 * rows all come from the cache), and a cold one at most two. Statements are counted by
 * the runtime's own Database observer (bgc_db_queries_total: every statement the app
 * sends, on any node). Plus the relationship cache's invalidation: app writes on another
 * instance, writes made with psql (migrations/0008), and a viewer whose set is split.
 */
let tdb: TestDatabase;
let A: Runtime;
let B: Runtime;

interface Res<T> { status: number; body: T; lsn: string | undefined }
async function call<T>(rt: Runtime, method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown, lsn?: string): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (lsn) headers['x-bgc-lsn'] = lsn;
  const res = await rt.app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  const got = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T, lsn: typeof got === 'string' ? got : undefined };
}

interface Relationship { friend_status: string; is_favorite: boolean; is_blocked: boolean }
interface Profile { id: string; relationship: Relationship }

/** Statements this instance sent so far, in total and by catalog name (for the failure message). */
async function statements(rt: Runtime): Promise<{ total: number; byName: Record<string, number> }> {
  const total = (await rt.deps.metrics.dbQueriesByNode.get()).values.reduce((s, v) => s + v.value, 0);
  const byName: Record<string, number> = {};
  for (const v of (await rt.deps.metrics.dbQueryDuration.get()).values) {
    if (v.metricName === 'bgc_db_query_duration_seconds_count') byName[String(v.labels.query)] = (byName[String(v.labels.query)] ?? 0) + v.value;
  }
  return { total, byName };
}

/** Runs `fn` and returns the statements it caused on `rt`, by name. */
async function counted(rt: Runtime, fn: () => Promise<unknown>): Promise<{ total: number; names: Record<string, number> }> {
  const before = await statements(rt);
  await fn();
  const after = await statements(rt);
  const names: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byName)) if (v - (before.byName[k] ?? 0) > 0) names[k] = v - (before.byName[k] ?? 0);
  return { total: after.total - before.total, names };
}

async function timeUntil(probe: () => Promise<boolean>, limitMs: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < 100_000; i++) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - start > limitMs) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 2));
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * A write on one instance read on the other, measured around whole requests (inject, cache,
 * a database read on a miss): on a loaded 2-core machine those alone can take hundreds of ms.
 * The bound is what proves the entry was invalidated rather than left to expire: the
 * relationship and profile TTL (BGC_CACHE_PROFILE_TTL_S) is 10 minutes.
 */
const PROPAGATION_BOUND_MS = 2_000;
/** How long a probe keeps trying, past the bound, so a failure prints the real figure. */
const PROBE_LIMIT_MS = 10_000;
const ttlSeconds = (): number => A.deps.config.cache.profileTtlSeconds;
/** The bound means something only far below the TTL. */
function expectInvalidatedNotExpired(): void {
  expect(ttlSeconds() * 1000, 'the relationship TTL, far above the propagation bound').toBeGreaterThan(30 * PROPAGATION_BOUND_MS);
}

let seq = 0;
async function register(rt: Runtime, prefix: string): Promise<{ id: string; token: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const res = await call<{ token: string; user: { id: string } }>(rt, 'POST', '/api/auth/register', undefined, { email: `${username}@example.test`, username, password: 'correct Horse 42' });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token };
}

const sql = (text: string, params: unknown[] = []): Promise<void> => tdb.exec(text, params);

beforeAll(async () => {
  tdb = await createTestDatabase('cache_relationships');
  // Primary only: what is measured here (statements sent, invalidation) does not depend on
  // replicas, and the shared stack's replicas may lag far behind while others load data.
  const config = tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', DATABASE_REPLICA_URLS: '' });
  A = await startRuntime(config, { listen: false });
  B = await startRuntime(config, { listen: false });
});

afterAll(async () => {
  await Promise.allSettled([A?.close(), B?.close()]);
  await tdb?.drop();
});

describe('database round trips of an authenticated profile read (DESIGN §6)', () => {
  it('a cached session costs no statement', async () => {
    const viewer = await register(A, 'sess');
    await call(A, 'GET', '/api/auth/session', viewer.token);
    const warm = await counted(A, async () => {
      for (let i = 0; i < 5; i++) expect((await call(A, 'GET', '/api/auth/session', viewer.token)).status).toBe(200);
    });
    expect(warm, JSON.stringify(warm.names)).toMatchObject({ total: 0 });
  });

  it('a warm GET /api/profiles/:id sends 0 statements, a cold one at most 2', async () => {
    const viewer = await register(A, 'viewer');
    const owner = await register(A, 'owner');
    const other = await register(A, 'other');
    expect((await call(A, 'POST', `/api/social/favorite/${owner.id}`, viewer.token)).status).toBeLessThan(300);
    await call(A, 'GET', '/api/auth/session', viewer.token); // the session is cached from here on

    const cold = await counted(A, async () => {
      const res = await call<Profile>(A, 'GET', `/api/profiles/${owner.id}`, viewer.token);
      expect(res.status).toBe(200);
      expect(res.body.relationship).toMatchObject({ is_favorite: true, friend_status: 'none' });
    });
    console.log(`cold profile read: ${cold.total} statements ${JSON.stringify(cold.names)}`);
    expect(cold.total).toBeLessThanOrEqual(2);
    expect(Object.keys(cold.names).sort()).toEqual(['cache.relationship_set', 'profile.get']);

    const warm = await counted(A, async () => {
      for (let i = 0; i < 10; i++) {
        const res = await call<Profile>(A, 'GET', `/api/profiles/${owner.id}`, viewer.token);
        expect(res.body.relationship.is_favorite).toBe(true);
      }
    });
    console.log(`10 warm profile reads: ${warm.total} statements ${JSON.stringify(warm.names)}`);
    expect(warm.total).toBe(0);

    // Another profile for the same viewer: the viewer's relationship set is cached
    // already, so only the profile view is loaded.
    const newProfile = await counted(A, () => call(A, 'GET', `/api/profiles/${other.id}`, viewer.token));
    expect(newProfile.names).toEqual({ 'profile.get': 1 });

    // Instance B: its L1 is empty, Redis (L2) has all three entries.
    await call(B, 'GET', '/api/auth/session', viewer.token);
    const fromL2 = await counted(B, () => call(B, 'GET', `/api/profiles/${owner.id}`, viewer.token));
    expect(fromL2.total).toBe(0);
  });
});

describe('relationship cache invalidation', () => {
  it('a relationship written through A is seen at once on A and within 2 s on B (by invalidation: the TTL is 10 minutes)', async () => {
    const viewer = await register(A, 'rv');
    const owner = await register(A, 'ro');
    const url = `/api/profiles/${owner.id}`;
    for (const rt of [A, B]) {
      await call(rt, 'GET', url, viewer.token);
      expect((await call<Profile>(rt, 'GET', url, viewer.token)).body.relationship).toMatchObject({ friend_status: 'none', is_favorite: false });
    }
    const rel = async (rt: Runtime, token: string, id: string) => (await call<Profile>(rt, 'GET', `/api/profiles/${id}`, token)).body.relationship;
    // The writing instance dropped the nodes before answering: its next read is exact.
    // Peers hear it on the bus (published before the write answered) and through NOTIFY.
    const request = await call(A, 'POST', `/api/social/friend-request/${owner.id}`, viewer.token);
    expect(request.status).toBeLessThan(300);
    expect((await rel(A, viewer.token, owner.id)).friend_status).toBe('pending_outgoing');
    // A read carrying X-BGC-LSN goes around the cache to a node that has the write, on any
    // instance. (No replicas here, so the write returned no LSN; any valid one routes the same.)
    expect((await call<Profile>(B, 'GET', url, viewer.token, undefined, request.lsn ?? '0/1')).body.relationship.friend_status).toBe('pending_outgoing');
    const seen = [await timeUntil(async () => (await rel(B, viewer.token, owner.id)).friend_status === 'pending_outgoing', PROBE_LIMIT_MS)];
    // The other side of the pair is invalidated too: the owner sees the incoming request.
    seen.push(await timeUntil(async () => (await rel(B, owner.token, viewer.id)).friend_status === 'pending_incoming', PROBE_LIMIT_MS));
    expect((await call(B, 'POST', `/api/social/friend-request/${viewer.id}/accept`, owner.token)).status).toBeLessThan(300);
    expect((await rel(B, viewer.token, owner.id)).friend_status).toBe('friends');
    seen.push(await timeUntil(async () => (await rel(A, viewer.token, owner.id)).friend_status === 'friends', PROBE_LIMIT_MS));
    // A block by the owner hides the profile from the viewer.
    expect((await call(A, 'POST', `/api/social/block/${viewer.id}`, owner.token)).status).toBeLessThan(300);
    expect((await call(A, 'GET', url, viewer.token)).status).toBe(404);
    seen.push(await timeUntil(async () => (await call(B, 'GET', url, viewer.token)).status === 404, PROBE_LIMIT_MS));
    console.log(`[cache-relationships] relationship writes visible on the other instance after ${seen.map((ms) => ms.toFixed(1)).join(', ')} ms (TTL ${ttlSeconds()} s)`);
    expectInvalidatedNotExpired();
    for (const ms of seen) expect(ms).toBeLessThan(PROPAGATION_BOUND_MS);
  });

  it('INSERT and DELETE made with psql are invalidated without any app call (0008 triggers)', async () => {
    const viewer = await register(A, 'pv');
    const owner = await register(A, 'po');
    const url = `/api/profiles/${owner.id}`;
    for (const rt of [A, B]) {
      await call(rt, 'GET', url, viewer.token);
      expect((await call<Profile>(rt, 'GET', url, viewer.token)).body.relationship.is_favorite).toBe(false);
    }
    await sql(`INSERT INTO relationships (user_id, target_id, kind) VALUES ($1, $2, 'favorite')`, [viewer.id, owner.id]);
    const ms = await timeUntil(async () => {
      const [a, b] = await Promise.all([call<Profile>(A, 'GET', url, viewer.token), call<Profile>(B, 'GET', url, viewer.token)]);
      return a.body.relationship.is_favorite && b.body.relationship.is_favorite;
    }, 2_000);
    console.log(`psql INSERT into relationships visible on both instances after ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1_000);

    await sql(`UPDATE relationships SET updated_at = now() WHERE user_id = $1`, [viewer.id]);
    await sql(`DELETE FROM relationships WHERE user_id = $1 AND target_id = $2`, [viewer.id, owner.id]);
    const gone = await timeUntil(async () => {
      const [a, b] = await Promise.all([call<Profile>(A, 'GET', url, viewer.token), call<Profile>(B, 'GET', url, viewer.token)]);
      return !a.body.relationship.is_favorite && !b.body.relationship.is_favorite;
    }, 2_000);
    expect(gone).toBeLessThan(1_000);
  });

  it(`a viewer with more than ${SET_ROWS} relationship rows: split set, correct answers, invalidated at depth`, async () => {
    const star = await register(A, 'star');
    const fan = await register(A, 'fan');
    // 300 users who favourite the star, made directly in the database.
    await sql(`
      WITH u AS (
        INSERT INTO users (id, email, username, password_hash)
        SELECT gen_random_uuid(), 'f' || i || '_' || $2 || '@example.test', 'f' || i || '_' || $2, 'x' FROM generate_series(1, 300) i
        RETURNING id)
      INSERT INTO relationships (user_id, target_id, kind) SELECT id, $1, 'favorite' FROM u`, [star.id, String(process.pid)]);
    await sql(`INSERT INTO relationships (user_id, target_id, kind) VALUES ($1, $2, 'favorite')`, [fan.id, star.id]);
    const url = `/api/profiles/${fan.id}`;
    await call(A, 'GET', '/api/auth/session', star.token);
    // The star reads the fan's profile: the set root says "split", the node for the fan's
    // last hex digit holds the answer. Warm reads still send nothing.
    await call(A, 'GET', url, star.token);
    const warm = await counted(A, async () => {
      for (let i = 0; i < 5; i++) expect((await call<Profile>(A, 'GET', url, star.token)).body.relationship).toMatchObject({ is_favorite: false });
    });
    expect(warm.total).toBe(0);
    // What Redis holds: the root says "split"; the node for the fan's last hex digit has the fan.
    const redis = new Redis(A.deps.config.redis.url);
    try {
      const ns = `${A.deps.config.cache.namespace}:relationship`;
      expect(await redis.get(`${ns}:${star.id}`)).toContain('"split":true');
      expect(await redis.get(`${ns}:${star.id}:${fan.id.slice(-1)}`)).toContain(fan.id);
    } finally {
      redis.disconnect();
    }

    // The fan → star favourite is incoming for the star; the star favourites the fan now,
    // through psql: the node at depth 1 must be dropped by the trigger.
    await sql(`INSERT INTO relationships (user_id, target_id, kind) VALUES ($1, $2, 'favorite')`, [star.id, fan.id]);
    const ms = await timeUntil(async () => (await call<Profile>(A, 'GET', url, star.token)).body.relationship.is_favorite, 2_000);
    expect(ms).toBeLessThan(1_000);
    // And the app path (unfavourite through B), read on B at once and on A via the bus.
    expect((await call(B, 'DELETE', `/api/social/favorite/${fan.id}`, star.token)).status).toBeLessThan(300);
    expect((await call<Profile>(B, 'GET', url, star.token)).body.relationship.is_favorite).toBe(false);
    const unfavourited = await timeUntil(async () => !(await call<Profile>(A, 'GET', url, star.token)).body.relationship.is_favorite, PROBE_LIMIT_MS);
    console.log(`[cache-relationships] unfavourite through B visible on A after ${unfavourited.toFixed(1)} ms`);
    expectInvalidatedNotExpired();
    expect(unfavourited).toBeLessThan(PROPAGATION_BOUND_MS);
  });

  it('the trigger names the same keys as the app (bgc_cache_relationship_keys = pairInvalidationKeys)', async () => {
    const a = '0190aaaa-0000-7000-8000-00000000a1b2';
    const b = '0190bbbb-0000-7000-8000-00000000c3d4';
    const admin = await tdb.admin();
    try {
      const { rows } = await admin.query<{ keys: string[] }>('SELECT array_agg(k) AS keys FROM bgc_cache_relationship_keys($1, $2) k', [a, b]);
      expect([...(rows[0]?.keys ?? [])].sort()).toEqual([...pairInvalidationKeys(a, b)].sort());
    } finally {
      await admin.end();
    }
  });

  it('counts relationship lookups under cache="relationship"', async () => {
    const res = await A.admin.inject({ method: 'GET', url: '/metrics' });
    expect(res.body).toMatch(/bgc_cache_requests_total\{cache="relationship",tier="l1",result="hit"\} [1-9]/);
    expect(res.body).toMatch(/bgc_cache_invalidations_total\{cache="relationship",source="db_notify"\} [1-9]/);
  });
});
