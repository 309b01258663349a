import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redis } from 'ioredis';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { RelationshipSetLoader, type RelationshipSetSource } from '../../src/cache/relationship-set-loader.ts';
import { childSuffixes, lookupPair, pairInvalidationKeys, SET_ROWS, setKey, siblingRowLimit } from '../../src/cache/relationship-sets.ts';
import { RelationshipSetRepository } from '../../src/cache/relationship-sets.repository.ts';
import { warmRelationshipSets } from '../../src/cache/warm.ts';
import { WarmRepository } from '../../src/cache/warm.repository.ts';
import { Database } from '../../src/db/database.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import type { Config } from '../../src/config/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Sibling loading of the relationship cache (relationship-sets.ts, relationship-set-loader.ts)
 * on real PostgreSQL and Redis: a miss under a split root loads the 16 children with one
 * statement; a sibling invalidated while that statement runs is not stored; a writer reads
 * its own block at once; the start-up warm-up fills every node of a split set.
 */
let tdb: TestDatabase;
let config: Config;
let A: Runtime;
const cleanups: Array<() => Promise<unknown>> = [];

interface Res<T> { status: number; body: T }
async function call<T>(rt: Runtime, method: 'GET' | 'POST', url: string, token?: string): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await rt.app.inject({ method, url, headers });
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T };
}

interface Profile { relationship: { is_favorite: boolean; is_blocked: boolean } }

/** Statements this instance sent so far, by catalog name. */
async function statementsByName(rt: Runtime): Promise<Record<string, number>> {
  const byName: Record<string, number> = {};
  for (const v of (await rt.deps.metrics.dbQueryDuration.get()).values) {
    if (v.metricName === 'bgc_db_query_duration_seconds_count') byName[String(v.labels.query)] = (byName[String(v.labels.query)] ?? 0) + v.value;
  }
  return byName;
}
async function relationshipSetStatements(rt: Runtime, fn: () => Promise<unknown>): Promise<number> {
  const before = (await statementsByName(rt))['cache.relationship_set'] ?? 0;
  await fn();
  return ((await statementsByName(rt))['cache.relationship_set'] ?? 0) - before;
}

let seq = 0;
async function register(prefix: string): Promise<{ id: string; token: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const res = await A.app.inject({
    method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email: `${username}@example.test`, username, password: 'correct Horse 42' }),
  });
  expect(res.statusCode).toBe(201);
  const body = JSON.parse(res.body) as { token: string; user: { id: string } };
  return { id: body.user.id, token: body.token };
}

/** Registered users until there is one for each of `n` different last hex digits. */
async function usersWithDistinctLastDigits(prefix: string, n: number): Promise<Array<{ id: string; token: string }>> {
  const byDigit = new Map<string, { id: string; token: string }>();
  for (let i = 0; i < 20 * n && byDigit.size < n; i++) {
    const u = await register(prefix);
    if (!byDigit.has(u.id.slice(-1))) byDigit.set(u.id.slice(-1), u);
  }
  expect(byDigit.size).toBe(n);
  return [...byDigit.values()];
}

const sql = (text: string, params: unknown[] = []): Promise<void> => tdb.exec(text, params);

/** `n` users made in the database who favourite `ownerId`: its set gets more than SET_ROWS rows. */
async function fansOf(ownerId: string, n: number): Promise<void> {
  await sql(`
    WITH u AS (
      INSERT INTO users (id, email, username, password_hash)
      SELECT gen_random_uuid(), 's' || i || '_' || $2 || '@example.test', 's' || i || '_' || $2, 'x' FROM generate_series(1, $3::int) i
      RETURNING id)
    INSERT INTO relationships (user_id, target_id, kind) SELECT id, $1, 'favorite' FROM u`, [ownerId, `${ownerId.slice(-12)}`, n]);
}

async function ownLayer(name: string): Promise<{ layer: CacheLayer; db: Database }> {
  const db = new Database(config, { applicationName: `bgc-test-${name}` });
  const layer = new CacheLayer(config, { logger: pino({ level: 'silent' }), metrics: new Metrics(), listen: false, name });
  cleanups.push(() => layer.close(), () => db.close());
  await db.start();
  await layer.start();
  return { layer, db };
}

beforeAll(async () => {
  tdb = await createTestDatabase('cache_rel_siblings');
  // Primary only (as cache-relationships.test.ts): statements and invalidation do not depend
  // on replicas. No start-up warm-up: the sets below must start cold.
  config = tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', DATABASE_REPLICA_URLS: '', BGC_CACHE_WARM_COUNT: '0' });
  A = await startRuntime(config, { listen: false });
});

afterAll(async () => {
  await Promise.allSettled([A?.close(), ...cleanups.map((c) => c())]);
  await tdb?.drop();
});

describe('sibling loading of a split relationship set', () => {
  it(`one statement loads all 16 leaves of a viewer with more than ${SET_ROWS} rows; the next leaf is a hit`, async () => {
    const star = await register('star');
    const [fanA, fanB] = await usersWithDistinctLastDigits('fan', 2);
    if (!fanA || !fanB) throw new Error('two fans expected');
    await fansOf(star.id, 300);
    await sql(`INSERT INTO relationships (user_id, target_id, kind) VALUES ($1, $2, 'favorite')`, [star.id, fanB.id]);
    await call(A, 'GET', '/api/auth/session', star.token);
    // Cold: the root ("split") and ONE sibling load for the 16 leaves.
    const cold = await relationshipSetStatements(A, async () => {
      expect((await call<Profile>(A, 'GET', `/api/profiles/${fanA.id}`, star.token)).body.relationship.is_favorite).toBe(false);
    });
    expect(cold).toBe(2);
    // Another leaf (another last digit): stored by that load, no statement.
    const next = await relationshipSetStatements(A, async () => {
      expect((await call<Profile>(A, 'GET', `/api/profiles/${fanB.id}`, star.token)).body.relationship.is_favorite).toBe(true);
    });
    console.log(`split viewer: ${cold} relationship_set statements for the first read, ${next} for a read of a sibling leaf`);
    expect(next).toBe(0);
    // Redis holds every leaf, each with its own rows.
    const redis = new Redis(config.redis.url);
    try {
      const ns = `${config.cache.namespace}:relationship`;
      const leaves = await redis.mget(childSuffixes('').map((s) => `${ns}:${setKey(star.id, s)}`));
      expect(leaves.filter((v) => v !== null)).toHaveLength(16);
      expect(leaves[parseInt(fanB.id.slice(-1), 16)]).toContain(fanB.id);
    } finally {
      redis.disconnect();
    }
  });

  it('a block is seen at once by the writer, also on a leaf stored as a sibling (read-your-writes)', async () => {
    const star = await register('rstar');
    const [fanA, fanB, fanC] = await usersWithDistinctLastDigits('rfan', 3);
    if (!fanA || !fanB || !fanC) throw new Error('three fans expected');
    await fansOf(star.id, 300);
    const read = (id: string) => call<Profile>(A, 'GET', `/api/profiles/${id}`, star.token);
    // Reading fanA caches fanB's and fanC's leaves as siblings.
    expect((await read(fanA.id)).body.relationship.is_blocked).toBe(false);
    expect(await relationshipSetStatements(A, async () => {
      expect((await read(fanB.id)).body.relationship.is_blocked).toBe(false);
      expect((await read(fanC.id)).status).toBe(200);
    })).toBe(0);
    // The star blocks fanB; fanC blocks the star. Each writer's next read is exact.
    expect((await call(A, 'POST', `/api/social/block/${fanB.id}`, star.token)).status).toBeLessThan(300);
    expect((await read(fanB.id)).body.relationship.is_blocked).toBe(true);
    expect((await call(A, 'POST', `/api/social/block/${star.id}`, fanC.token)).status).toBeLessThan(300);
    expect((await read(fanC.id)).status).toBe(404);
    // The untouched sibling still answers from the cache.
    expect(await relationshipSetStatements(A, async () => {
      expect((await read(fanA.id)).body.relationship.is_blocked).toBe(false);
    })).toBe(0);
  });

  it('a sibling invalidated while the sibling load runs is not stored; a sibling cached already is not overwritten', async () => {
    const owner = await register('race');
    const [target, other, kept] = await usersWithDistinctLastDigits('rt', 3);
    if (!target || !other || !kept) throw new Error('three users expected');
    await fansOf(owner.id, 300);
    const { layer, db } = await ownLayer('siblings-race');
    const cache = layer.relationships;
    const key = (id: string) => setKey(owner.id, id.slice(-1));
    // Hold the sibling load open after it read its rows, until the test lets it go.
    let entered!: () => void;
    const reached = new Promise<void>((r) => { entered = r; });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const repo = new RelationshipSetRepository(db);
    const source: RelationshipSetSource = {
      async load(ownerId, suffix, limit, ctx) {
        const rows = await repo.load(ownerId, suffix, limit, ctx);
        if (limit === siblingRowLimit(1)) {
          entered();
          await gate;
        }
        return rows;
      },
    };
    const loader = new RelationshipSetLoader(cache, source);
    // A copy of `kept`'s leaf cached before the load (a marker no load would produce).
    expect(await cache.setIfUnchanged(key(kept.id), { edges: { marker: 1 } }, cache.stampOf(key(kept.id)))).toBe(true);

    const loading = cache.get(key(target.id), loader.load);
    const t0 = performance.now();
    await reached;
    // While the load holds rows read before it: a favourite owner → other commits, and its
    // invalidation (the app path, as WriteHooks would) lands.
    await sql(`INSERT INTO relationships (user_id, target_id, kind) VALUES ($1, $2, 'favorite')`, [owner.id, other.id]);
    await layer.invalidate('relationship', pairInvalidationKeys(owner.id, other.id));
    release();
    await loading;
    console.log(`sibling load held open for ${(performance.now() - t0).toFixed(1)} ms around the write`);

    expect(loader.siblingLoads).toBe(1);
    expect(cache.cachedHere(key(other.id))).toBe(false);
    const redis = new Redis(config.redis.url);
    try {
      expect(await redis.get(`${config.cache.namespace}:relationship:${key(other.id)}`)).toBeNull();
    } finally {
      redis.disconnect();
    }
    expect(await cache.get(key(kept.id), loader.load)).toEqual({ edges: { marker: 1 } });
    // The 13 other siblings were stored.
    expect(loader.siblingsStored).toBe(13);
    // The next read of the invalidated leaf loads it, with the new favourite.
    const edges = await lookupPair((k) => cache.get(k, loader.load), owner.id, other.id);
    expect(edges).toEqual([{ outgoing: true, kind: 'favorite', status: 'accepted' }]);
  });

  it('the start-up warm-up fills every node of a split set with one sibling load', async () => {
    const owner = await register('warm');
    await fansOf(owner.id, 300);
    const { layer, db } = await ownLayer('siblings-warm');
    const loader = new RelationshipSetLoader(layer.relationships, new RelationshipSetRepository(db));
    const report = await warmRelationshipSets(layer, new WarmRepository(db), loader, { count: 1_000, timeoutMs: 60_000 });
    console.log(`set warm-up: ${JSON.stringify(report)}`);
    expect(report.failed).toBe(0);
    expect(report.timedOut).toBe(false);
    for (const s of ['', ...childSuffixes('')]) expect(layer.relationships.cachedHere(setKey(owner.id, s)), s).toBe(true);
    expect(report.siblingLoads).toBeGreaterThanOrEqual(1);
    // Every candidate's root at least, and the 17 nodes of this owner's set.
    expect(report.nodes).toBeGreaterThanOrEqual(report.owners + 16);
  });
});
