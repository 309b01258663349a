import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { PresenceStore } from '../../src/cache/presence-store.ts';
import { purgeNamespace } from '../../src/cache/purge.ts';
import { RedisHealth } from '../../src/cache/redis-connection.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

/**
 * Presence claims on the real Redis (src/cache/presence-store.ts): the heartbeat renews the
 * claims of every local user in pipelines of 200, awaiting each; a user whose last socket
 * closes meanwhile is released (ZREM) and must not be renewed by a later pipeline.
 */
const url = `redis://127.0.0.1:${REDIS_PORT}`;
const namespace = `test:presence_${process.pid}_${Date.now()}`;
const redis = new Redis(url);

afterAll(async () => {
  await purgeNamespace(url, namespace).catch(() => undefined);
  redis.disconnect();
});

describe('PresenceStore.claim', () => {
  it('does not renew a user released while earlier pipelines of the same renewal ran', async () => {
    const health = new RedisHealth(redis);
    expect(await health.waitReady(5_000)).toBe(true);
    const store = new PresenceStore(redis, health, namespace, 'instance-a');
    const users = Array.from({ length: 450 }, (_, i) => `user-${i}`);
    const gone = new Set<string>();
    const leaving = 'user-420'; // in the third pipeline
    // The first pipeline leaves at once; the user's last socket closes before the third does.
    const renewal = store.claim(users, 60_000, (u) => !gone.has(u));
    gone.add(leaving);
    await store.release(leaving);
    await renewal;
    expect((await store.read(leaving))?.online).toBe(false);
    expect((await store.read('user-0'))?.online).toBe(true);
    expect((await store.read('user-449'))?.online).toBe(true);
  });

  it('a claim and a release go out while our breaker is open (a failed command a moment ago), not only when it is closed', async () => {
    const health = new RedisHealth(redis);
    expect(await health.waitReady(5_000)).toBe(true);
    const store = new PresenceStore(redis, health, namespace, 'instance-b');
    const user = 'user-breaker';
    // Any failed command opens the breaker for a second: a timeout, or a reply read late.
    health.noteFailure(new Error('Command timed out'));
    expect(health.ready).toBe(false);
    await store.claim([user], 60_000);
    expect(await redis.zscore(`${namespace}:rt:online:${user}`, 'instance-b'), 'claimed').not.toBeNull();
    health.noteFailure(new Error('Command timed out'));
    await store.release(user);
    // Before: the release was skipped, and the user showed online until the claim expired.
    expect(await redis.zscore(`${namespace}:rt:online:${user}`, 'instance-b'), 'released').toBeNull();
  });
});
