import { describe, expect, it } from 'vitest';
import { LSN_TTL_MS, MemoryLsnStore } from '../../src/db/lsn-store.ts';
import { ByteLru } from '../../src/cache/l1-store.ts';

/**
 * Time-based decisions of the db and cache layers on an injected clock: each keeps or
 * drops an entry exactly at its deadline, whatever the date (a year end, a leap day), and
 * no test sleeps. The router's budget and probes: replica-router-budget.test.ts; the
 * fresh-read window: cache-invalidation.test.ts.
 */
function clockAt(iso: string): { now: () => number; advance: (ms: number) => void } {
  let t = Date.parse(iso);
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('MemoryLsnStore', () => {
  it.each(['2026-12-31T23:59:30Z', '2028-02-29T23:59:59.999Z'])('keeps a write LSN for exactly LSN_TTL_MS from %s', async (start) => {
    const clock = clockAt(start);
    const store = new MemoryLsnStore(clock.now);
    await store.set('u1', '0/3000148');
    clock.advance(LSN_TTL_MS - 1);
    expect(await store.get('u1')).toBe('0/3000148');
    clock.advance(1);
    expect(await store.get('u1')).toBeUndefined();
    expect(await store.get('nobody')).toBeUndefined();
  });

  it('a newer write restarts the window', async () => {
    const clock = clockAt('2026-12-31T23:59:30Z');
    const store = new MemoryLsnStore(clock.now);
    await store.set('u1', '0/1000');
    clock.advance(LSN_TTL_MS - 10);
    await store.set('u1', '0/2000');
    clock.advance(LSN_TTL_MS - 10);
    expect(await store.get('u1')).toBe('0/2000');
  });

  it('an older mark arriving late never replaces a newer live one, and is kept once that one expired', async () => {
    const clock = clockAt('2028-02-29T23:59:59Z');
    const store = new MemoryLsnStore(clock.now);
    await store.set('u1', '1/0');
    await store.set('u1', '0/FFFFFFFF');
    expect(await store.get('u1')).toBe('1/0');
    clock.advance(LSN_TTL_MS);
    await store.set('u1', '0/FFFFFFFF');
    expect(await store.get('u1')).toBe('0/FFFFFFFF');
  });
});

describe('ByteLru TTL', () => {
  it('expires an entry at its TTL and reports the time left on its clock', () => {
    const clock = clockAt('2026-12-31T23:59:30Z');
    const lru = new ByteLru(100_000, 10_000, clock.now);
    expect(lru.set('k', { a: 1 }, 60_000)).toBe(true);
    expect(lru.set('forever', { b: 2 }, undefined)).toBe(true);
    clock.advance(45_000); // past midnight into the new year
    expect(lru.remainingTtl('k')).toBe(15_000);
    expect(lru.get('k')).toEqual({ a: 1 });
    clock.advance(15_000);
    expect(lru.get('k')).toBeUndefined();
    expect(lru.size).toBe(1);
    clock.advance(365 * 86_400_000);
    expect(lru.get('forever')).toEqual({ b: 2 });
    expect(lru.remainingTtl('forever')).toBeUndefined();
  });
});
