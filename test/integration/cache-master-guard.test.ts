import pino from 'pino';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheLayer } from '../../src/cache/cache-layer.ts';
import { masterTerm } from '../../src/cache/master-guard.ts';
import { pageVersionsFor } from '../../src/cache/page-versions.ts';
import { parseInfo } from '../../src/cache/redis-memory.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * The master check of src/cache/master-guard.ts on the shared stack's Redis, without Sentinel:
 * a reconnect that finds the namespace's master mark naming another server is what a failover
 * to a replica looks like (its data came from the old master, mark included). The Redis copy
 * of a value the database no longer has stands for an invalidation the old master lost.
 * `test/chaos/redis-sentinel.test.ts` does the same through real failovers.
 */
let tdb: TestDatabase;
let layer: CacheLayer;

beforeAll(async () => {
  tdb = await createTestDatabase('cache_master_guard');
  layer = new CacheLayer(tdb.config({ BGC_CACHE_NAMESPACE: `test:mguard:${uuidv7().slice(-8)}` }), {
    logger: pino({ level: 'silent' }), metrics: new Metrics(), listen: false, name: 'mguard',
  });
  await layer.start();
}, 60_000);

afterAll(async () => {
  await layer?.close();
  await tdb?.drop();
});

async function reconnectAndWait(): Promise<{ heldAtConnect: boolean; ms: number }> {
  const started = Date.now();
  let heldAtConnect = false;
  // Registered after the guard's own listener: by now reads must already bypass the cache.
  layer.redis.once('connect', () => { heldAtConnect = layer.masterGuard.holding; });
  const closed = new Promise((r) => layer.redis.once('close', r));
  layer.redis.disconnect(true);
  await closed;
  if (!(await layer.masterGuard.whenVerified(5_000))) throw new Error('master not checked within 5 s');
  return { heldAtConnect, ms: Date.now() - started };
}

describe('master check after a reconnect', () => {
  it('a different master: L1 and the namespace in Redis are flushed before the cache is read again; the same master: nothing is flushed', async () => {
    const runId = masterTerm(parseInfo(await layer.redis.info()));
    expect(layer.masterGuard.verifiedMaster, 'checked at start-up').toBe(runId);
    const id = `u-${uuidv7()}`;
    let version = 1;
    const loader = async (key: string) => ({ id: key, version });
    expect(await layer.profiles.get(id, loader)).toEqual({ id, version: 1 });
    const key = layer.keys.item('profile', id);
    expect(await layer.redis.exists(key), 'cached in Redis').toBe(1);

    // The database moved on and no invalidation arrived; the mark names an older master.
    version = 2;
    await layer.redis.set(layer.keys.masterMark, 'run-id-of-the-old-master');
    const changed = await reconnectAndWait();
    expect(changed.heldAtConnect, 'reads bypass the cache from the connect on').toBe(true);
    const last = layer.masterGuard.changes.at(-1);
    expect(last?.from).toBe('run-id-of-the-old-master');
    expect(last?.to).toBe(runId);
    expect(last?.deleted).toBeGreaterThanOrEqual(1);
    expect(await layer.redis.get(layer.keys.masterMark)).toBe(runId);
    expect(await layer.profiles.get(id, loader), 'no stale copy from L1 or Redis').toEqual({ id, version: 2 });
    console.log(`master change: reconnected, checked and flushed in ${changed.ms} ms (${last?.deleted} keys, flush ${last?.ms} ms)`);

    // Same master again: the cache keeps what it has (a flush per reconnect would be a cold cache per blip).
    const flushes = layer.masterGuard.changes.length;
    version = 3;
    const same = await reconnectAndWait();
    expect(same.heldAtConnect).toBe(true);
    expect(layer.masterGuard.changes.length, 'no flush for the same master').toBe(flushes);
    expect(await layer.profiles.get(id, loader), 'still the cached copy').toEqual({ id, version: 2 });
    expect(layer.masterGuard.holding).toBe(false);
  });

  it('the same process in another term (run_id equal, master_replid not) is a change: flushed, load leases included', async () => {
    const info = parseInfo(await layer.redis.info());
    const id = `u-${uuidv7()}`;
    const loader = async (key: string) => ({ id: key, version: 1 });
    await layer.profiles.get(id, loader);
    // A lease whose release the old master never passed on: every reader would wait it out.
    const lease = layer.keys.lease('profile', `u-${uuidv7()}`);
    await layer.redis.set(lease, 'held on the old master', 'PX', 60_000);
    const flushes = layer.masterGuard.changes.length;
    // What a master that slept, was replaced and promoted again carries: its own run_id, marked
    // in its first term. Before, a mark of the run_id alone matched, and nothing was flushed.
    await layer.redis.set(layer.keys.masterMark, `${info.get('run_id')}:replid-of-an-earlier-term`);
    await reconnectAndWait();
    expect(layer.masterGuard.changes.length).toBe(flushes + 1);
    expect(await layer.redis.exists(layer.keys.item('profile', id), lease)).toBe(0);
    expect(await layer.redis.get(layer.keys.masterMark)).toBe(masterTerm(info));
  });

  it('a different master: chat page positions are distrusted for their keep time; the same master: they are read', async () => {
    const versions = pageVersionsFor(layer, 60_000);
    const scope = `history:${uuidv7()}`;
    // A position the new master holds, older than a raise the old master took and lost: an
    // entry loaded against it would match it and be served without the lost change.
    await layer.redis.set(layer.keys.pageVersion(scope), '0/1000');
    expect(await versions.read(scope)).toEqual({ kind: 'at', value: '0/1000' });

    const sameMaster = await reconnectAndWait();
    expect(await versions.read(scope), `read again after a reconnect to the same master (${sameMaster.ms} ms)`).toEqual({ kind: 'at', value: '0/1000' });

    await layer.redis.set(layer.keys.masterMark, 'run-id-of-the-old-master');
    const changed = await reconnectAndWait();
    // Before: { kind: 'at', value: '0/1000' } as soon as the master was checked.
    expect(await versions.read(scope), `distrusted after a master change (${changed.ms} ms)`).toEqual({ kind: 'unavailable' });
  });
});
