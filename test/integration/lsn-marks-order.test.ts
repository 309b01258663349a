import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { CacheKeys } from '../../src/cache/keys.ts';
import { RedisLsnStore } from '../../src/cache/lsn-store.ts';
import { LSN_TTL_MS, MARK_UNKNOWN } from '../../src/db/lsn-store.ts';
import { RedisHealth } from '../../src/cache/redis-connection.ts';
import { purgeNamespace } from '../../src/cache/purge.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

/**
 * Read-your-writes marks on the real Redis when two grouped writes of one user record
 * their marks out of commit order (two groups run at once, BGC_SEND_GROUP_IN_FLIGHT=2, and
 * each fetches its LSN after its own commit, src/services/group-commit.ts): the mark never
 * goes back, here or for another instance reading Redis.
 */
const url = `redis://127.0.0.1:${REDIS_PORT}`;
const keys = new CacheKeys(`test:lsnorder_${process.pid}_${Date.now()}`);
const redis = new Redis(url);
const other = new Redis(url);

afterAll(async () => {
  await purgeNamespace(url, keys.namespace).catch(() => undefined);
  redis.disconnect();
  other.disconnect();
});

async function readyStore(client: Redis): Promise<RedisLsnStore> {
  const health = new RedisHealth(client);
  const started = Date.now();
  while (!health.ready) {
    if (Date.now() - started > 10_000) throw new Error('Redis not ready within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  return new RedisLsnStore(client, health, keys);
}

describe('RedisLsnStore.set order', () => {
  it('keeps the newer mark when the older one is recorded after it, in Redis too', async () => {
    const store = await readyStore(redis);
    await Promise.all([store.set('u1', '2/10'), store.set('u1', '1/FF')]);
    expect(await store.get('u1')).toBe('2/10');
    expect(await redis.get(keys.lsn('u1'))).toBe('2/10');
    const elsewhere = await readyStore(other);
    expect(await elsewhere.get('u1')).toBe('2/10');
  });

  it('keeps the newer mark when another instance records an older one after it', async () => {
    // Two instances, one user: B's write committed later (2/10) but its mark lands first.
    const b = await readyStore(other);
    const a = await readyStore(redis);
    await b.set('u3', '2/10');
    await a.set('u3', '1/FF');
    expect(await redis.get(keys.lsn('u3'))).toBe('2/10');
    expect(await (await readyStore(redis)).get('u3')).toBe('2/10');
    // Numbers, not strings: 'A/0' is later than '9/FFFFFFFF' though it sorts first.
    await b.set('u4', 'A/0');
    await a.set('u4', '9/FFFFFFFF');
    expect(await redis.get(keys.lsn('u4'))).toBe('A/0');
    await a.set('u4', 'A/1');
    expect(await redis.get(keys.lsn('u4'))).toBe('A/1');
  });

  it('records a newer mark over an older one', async () => {
    const store = await readyStore(redis);
    await store.set('u2', '1/FF');
    await store.set('u2', '2/10');
    expect(await redis.get(keys.lsn('u2'))).toBe('2/10');
    const ttl = await redis.pttl(keys.lsn('u2'));
    expect(ttl).toBeGreaterThan(0);
  });

  it('sends a mark while only its own breaker is open: another instance, whose Redis answers, sees the write', async () => {
    const now = Date.now();
    const health = new RedisHealth(redis, () => now);
    await health.waitReady(10_000);
    const writer = new RedisLsnStore(redis, health, keys, () => now);
    const reader = await readyStore(other);
    health.noteFailure(new Error('a command took 600 ms')); // the writer's breaker: its next second skips Redis
    expect(health.ready).toBe(false);
    await writer.set('u12', '3/20');
    // Before: the mark waited for the breaker to close, and the reader, finding none, took a replica.
    expect(await reader.get('u12'), 'the other instance sees the mark at once').toBe('3/20');
    expect(await writer.get('u12'), 'the writer itself, breaker open: unknown').toBe(MARK_UNKNOWN);
  });

  it('answers MARK_UNKNOWN while Redis cannot be asked, and writes a mark it missed once Redis answers again', async () => {
    let now = Date.now();
    const health = new RedisHealth(redis, () => now);
    await health.waitReady(10_000);
    const a = new RedisLsnStore(redis, health, keys, () => now);
    // A mark Redis refuses (the key holds another type, so the script's GET fails): the write
    // fails, the breaker opens for a second, and the mark waits to be sent again.
    await redis.hset(keys.lsn('u9'), 'f', 'v');
    await a.set('u9', '3/10');
    expect(health.ready, 'the failed mark opened the breaker').toBe(false);
    expect(await redis.type(keys.lsn('u9')), 'not written').toBe('hash');
    expect(await a.get('u9'), 'no answer from Redis: unknown, not this instance\'s copy alone').toBe(MARK_UNKNOWN);
    await redis.del(keys.lsn('u9'));
    now += 1_500; // the breaker closes by itself (no reconnect): the store tries again on its own
    const started = Date.now();
    while ((await redis.get(keys.lsn('u9'))) === null && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 10));
    console.log(`[lsn-marks-order] the missed mark reached Redis ${Date.now() - started} ms after the breaker closed, with no command of the store's own`);
    expect(await a.get('u9')).toBe('3/10');
    expect(await (await readyStore(other)).get('u9'), 'another instance sees it').toBe('3/10');
  });

  it('after a reconnect, a missing mark is unknown for a mark\'s lifetime (the master may have changed and lost it)', async () => {
    const client = new Redis(url);
    try {
      let now = Date.now();
      const health = new RedisHealth(client, () => now);
      await health.waitReady(10_000);
      const reader = new RedisLsnStore(client, health, keys, () => now);
      // Another instance's mark that a failover lost: Redis holds nothing for the user.
      expect(await reader.get('u11')).toBeUndefined();
      let recovered = false;
      health.onRecovered(() => { recovered = true; });
      const started = Date.now();
      client.disconnect(true);
      while (!(recovered && health.ready) && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
      console.log(`[lsn-marks-order] reconnected in ${Date.now() - started} ms`);
      expect(health.ready).toBe(true);
      expect(await reader.get('u11'), 'a missing mark proves nothing just after a reconnect').toBe(MARK_UNKNOWN);
      now += LSN_TTL_MS + 1;
      expect(await reader.get('u11'), 'every mark from before has expired').toBeUndefined();
    } finally { client.disconnect(); }
  });
});
