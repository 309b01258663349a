import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteLru, ByteLruDriver, isRawCacheEntry } from '../../src/cache/l1-store.ts';

describe('ByteLru (the L1 bound in bytes)', () => {
  it('never holds more bytes than its bound, whatever is written', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.string({ maxLength: 2_000 })), { maxLength: 300 }),
      (writes) => {
        const lru = new ByteLru(20_000, 5_000);
        for (const [k, v] of writes) {
          // Entries are objects (bentocache's raw entries); their size is their JSON's.
          lru.set(`k${k}`, { value: { bio: v }, logicalExpiration: 1 }, undefined);
          expect(lru.bytes).toBeLessThanOrEqual(20_000);
        }
        let sum = 0;
        for (let k = 0; k <= 50; k++) {
          const v = lru.get(`k${k}`);
          if (v !== undefined) sum += Buffer.byteLength(`k${k}`) + Buffer.byteLength(JSON.stringify(v)) + 96;
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

  it('keeps a key read once per quarter of the map, without moving it on every read', () => {
    // 100 entries of the same size fill it; every new one evicts the oldest.
    const entry = 2 + 3 + 100 + 96;
    const lru = new ByteLru(100 * entry, 1_000);
    const key = (i: number) => `k${String(i).padStart(3, '0')}`;
    for (let i = 0; i < 100; i++) lru.set(key(i), 'x'.repeat(100), undefined);
    for (let i = 100; i < 1_000; i++) {
      if (i % 20 === 0) expect(lru.get(key(0))).toBeDefined(); // hot: read every 20 writes
      lru.set(key(i), 'x'.repeat(100), undefined);
    }
    expect(lru.get(key(0))).toBeDefined();
    expect(lru.get(key(1))).toBeUndefined(); // cold: evicted long ago
    expect(lru.size).toBe(100);
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
    profiles.set('a', { value: 1, logicalExpiration: 1 });
    sessions.set('a', { value: 2, logicalExpiration: 1 });
    expect(lru.size).toBe(2);
    profiles.clear();
    expect(profiles.get('a')).toBeUndefined();
    expect(sessions.get('a')).toEqual({ value: 2, logicalExpiration: 1 });
    expect(lru.get('ns:session:a')).toBe(sessions.get('a'));
  });

  it('hands out one deep-frozen object per entry: no caller can change the cached copy', () => {
    const lru = new ByteLru(100_000, 10_000);
    lru.set('p', { value: { username: 'ann', interests: ['go'] }, logicalExpiration: Date.now() + 1_000 }, undefined);
    const a = lru.get('p') as { value: { username: string; interests: string[] } };
    expect(lru.get('p')).toBe(a);
    expect(() => { a.value.username = 'bob'; }).toThrow(TypeError);
    expect(() => { a.value.interests.push('x'); }).toThrow(TypeError);
    expect((lru.get('p') as typeof a).value.username).toBe('ann');
  });

  it('the driver stores a serialized entry (bentocache refilling L1 from L2) as the parsed object', () => {
    const lru = new ByteLru(100_000, 10_000);
    const driver = new ByteLruDriver(lru, 'ns:profile');
    const entry = { value: { id: 'u1' }, logicalExpiration: 123, createdAt: 100 };
    driver.set('u1', JSON.stringify(entry));
    expect(driver.get('u1')).toEqual(entry);
    expect(isRawCacheEntry(driver.get('u1'))).toBe(true);
  });
});
