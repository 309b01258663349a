import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { purgeNamespace } from '../../src/cache/purge.ts';
import { REDIS_PORT } from '../helpers/constants.ts';

/** purgeNamespace (test clean-up, retiring a namespace version) on the shared Redis. */
const url = `redis://127.0.0.1:${REDIS_PORT}`;
const ns = `test:purge_${process.pid}_${Date.now()}`;
const redis = new Redis(url);

afterAll(async () => {
  await purgeNamespace(url, `${ns}x`).catch(() => undefined);
  redis.disconnect();
});

describe('purgeNamespace', () => {
  it('deletes every key under <namespace>: and nothing else', async () => {
    const keys = Array.from({ length: 2_500 }, (_, i) => `${ns}:profile:${i}`);
    const pipe = redis.pipeline();
    for (const k of keys) pipe.set(k, '1', 'EX', 60);
    pipe.set(`${ns}:lease:profile:1`, '1', 'EX', 60);
    // A namespace that merely starts with the same characters is another namespace.
    pipe.set(`${ns}x:profile:1`, 'keep', 'EX', 60);
    await pipe.exec();

    const res = await purgeNamespace(url, ns);
    expect(res).toMatchObject({ deleted: 2_501, complete: true });
    expect(await redis.exists(keys[0] ?? '', keys[2_499] ?? '', `${ns}:lease:profile:1`)).toBe(0);
    expect(await redis.get(`${ns}x:profile:1`)).toBe('keep');
    expect(await purgeNamespace(url, ns)).toMatchObject({ deleted: 0, complete: true });
  });

  it('refuses a namespace that would widen the pattern', async () => {
    for (const bad of ['', '*', 'test:*', 'a?b', 'a[b]']) {
      await expect(purgeNamespace(url, bad), bad).rejects.toThrow(/refusing/);
    }
  });
});
