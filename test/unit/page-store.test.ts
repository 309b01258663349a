import { describe, expect, it } from 'vitest';
import { PageStore } from '../../src/cache/page-store.ts';
import { covers } from '../../src/cache/page-cache.ts';

describe('PageStore (first pages, in process)', () => {
  it('serves an entry until its TTL, then loads again', async () => {
    let now = 1_000;
    const store = new PageStore<string>(1_000, 10, () => now);
    let loads = 0;
    const load = async () => `v${++loads}`;
    expect(await store.get('k', load)).toEqual({ value: 'v1', loaded: true });
    now += 999;
    expect(await store.get('k', load)).toEqual({ value: 'v1', loaded: false });
    now += 1;
    expect(await store.get('k', load)).toEqual({ value: 'v2', loaded: true });
  });

  it('runs one load for concurrent misses of a key, and stores nothing when it fails', async () => {
    const store = new PageStore<number>(60_000, 10);
    let loads = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => { release = r; });
    const load = async () => { loads++; await gate; return 42; };
    const readers = Array.from({ length: 50 }, () => store.get('k', load));
    release();
    const got = await Promise.all(readers);
    expect(loads).toBe(1);
    expect(got.filter((g) => g.loaded)).toHaveLength(1);
    expect(got.every((g) => g.value === 42)).toBe(true);

    await expect(store.get('bad', async () => { throw new Error('database down'); })).rejects.toThrow('database down');
    expect(store.peek('bad')).toBeUndefined();
  });

  it('keeps at most maxEntries, dropping the least recently written', () => {
    const store = new PageStore<number>(60_000, 3);
    for (let i = 0; i < 5; i++) store.set(`k${i}`, i);
    expect(store.size).toBe(3);
    expect(store.peek('k0')).toBeUndefined();
    expect(store.peek('k4')).toBe(4);
  });
});

describe('covers (an entry\'s position against a reader\'s)', () => {
  it('serves a reader with no position from any entry, and a reader with one only from an entry at or past it', () => {
    expect(covers(null, undefined)).toBe(true);
    expect(covers(null, '0/16B3748')).toBe(false);
    expect(covers('0/16B3748', '0/16B3748')).toBe(true);
    expect(covers('0/16B3747', '0/16B3748')).toBe(false);
    expect(covers('1/0', 'FFFFFFFF/0') ).toBe(false);
    expect(covers('1/10', '0/FFFFFFFF')).toBe(true);
  });
});

describe('PageStore memory', () => {
  it('drops expired entries as new ones are written, so it holds about one TTL of pages', () => {
    let now = 0;
    const store = new PageStore<number>(1_000, 10_000, () => now);
    for (let i = 0; i < 1_000; i++) { store.set(`old${i}`, i); now += 1; } // 1,000 entries over 1 s
    now += 2_000; // all expired
    for (let i = 0; i < 300; i++) store.set(`new${i}`, i);
    expect(store.size).toBe(300); // four dead ones dropped per write: the 1,000 were gone after 250 writes
    for (let i = 0; i < 300; i++) store.set(`more${i}`, i);
    expect(store.size).toBe(600);
  });
});
