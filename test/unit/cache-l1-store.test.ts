import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteLru, ByteLruDriver } from '../../src/cache/l1-store.ts';

describe('ByteLru (the L1 bound in bytes)', () => {
  it('never holds more bytes than its bound, whatever is written', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.string({ maxLength: 2_000 })), { maxLength: 300 }),
      (writes) => {
        const lru = new ByteLru(20_000, 5_000);
        for (const [k, v] of writes) {
          lru.set(`k${k}`, v, undefined);
          expect(lru.bytes).toBeLessThanOrEqual(20_000);
        }
        let sum = 0;
        for (let k = 0; k <= 50; k++) {
          const v = lru.get(`k${k}`);
          if (v !== undefined) sum += Buffer.byteLength(`k${k}`) + Buffer.byteLength(v) + 96;
        }
        expect(sum).toBe(lru.bytes);
      },
    ));
  });

  it('evicts the least recently used entry first', () => {
    const lru = new ByteLru(3 * (2 + 100 + 96), 1_000);
    for (const k of ['k1', 'k2', 'k3']) lru.set(k, 'x'.repeat(100), undefined);
    lru.get('k1'); // k2 is now the oldest
    lru.set('k4', 'x'.repeat(100), undefined);
    expect(lru.get('k2')).toBeUndefined();
    expect(lru.get('k1')).toBeDefined();
    expect(lru.evictions).toBe(1);
  });

  it('refuses entries above the per-entry limit and expires entries by TTL', async () => {
    const lru = new ByteLru(100_000, 1_000);
    expect(lru.set('big', 'x'.repeat(2_000), undefined)).toBe(false);
    expect(lru.get('big')).toBeUndefined();
    lru.set('short', 'v', 20);
    expect(lru.get('short')).toBe('v');
    expect(lru.remainingTtl('short')).toBeLessThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 30));
    expect(lru.get('short')).toBeUndefined();
    expect(lru.bytes).toBe(0);
  });

  it('drivers share one bound but clear only their own prefix', () => {
    const lru = new ByteLru(1_000_000, 10_000);
    const profiles = new ByteLruDriver(lru, 'ns:profile');
    const sessions = new ByteLruDriver(lru, 'ns:session');
    profiles.set('a', '1');
    sessions.set('a', '2');
    expect(lru.size).toBe(2);
    profiles.clear();
    expect(profiles.get('a')).toBeUndefined();
    expect(sessions.get('a')).toBe('2');
    expect(lru.get('ns:session:a')).toBe('2');
  });
});
