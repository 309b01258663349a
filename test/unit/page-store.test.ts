import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PageStore } from '../../src/cache/page-store.ts';
import { covers } from '../../src/cache/page-cache.ts';
import { approximateHeapBytes } from '../../src/cache/heap-size.ts';
import { CacheMetrics } from '../../src/metrics/cache.metrics.ts';

/** Each entry weighs 1: the budget is then a count. */
const one = (): number => 1;

describe('PageStore (first pages, in process)', () => {
  it('serves an entry until its TTL, then loads again', async () => {
    let now = 1_000;
    const store = new PageStore<string>(1_000, 10, one, () => now);
    let loads = 0;
    const load = async () => `v${++loads}`;
    expect(await store.get('k', load)).toEqual({ value: 'v1', loaded: true });
    now += 999;
    expect(await store.get('k', load)).toEqual({ value: 'v1', loaded: false });
    now += 1;
    expect(await store.get('k', load)).toEqual({ value: 'v2', loaded: true });
  });

  it('runs one load for concurrent misses of a key, and stores nothing when it fails', async () => {
    const store = new PageStore<number>(60_000, 10, one);
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

  it('keeps at most its budget, dropping the least recently written', () => {
    const store = new PageStore<number>(60_000, 3, one);
    for (let i = 0; i < 5; i++) store.set(`k${i}`, i);
    expect(store.size).toBe(3);
    expect(store.bytes).toBe(3);
    expect(store.peek('k0')).toBeUndefined();
    expect(store.peek('k4')).toBe(4);
  });

  it('weighs entries: a few large pages take the room of many small ones, and one over the whole budget is not kept', () => {
    const store = new PageStore<string>(60_000, 100, (v) => v.length);
    for (let i = 0; i < 10; i++) store.set(`small${i}`, 'x'.repeat(10));
    expect(store.size).toBe(10);
    store.set('large', 'x'.repeat(60)); // 160 > 100: the six oldest small ones go
    expect(store.size).toBe(5);
    expect(store.bytes).toBe(100);
    expect(store.peek('small5')).toBeUndefined();
    expect(store.peek('small6')).toBe('x'.repeat(10));
    store.set('huge', 'x'.repeat(101));
    expect(store.peek('huge')).toBeUndefined();
    expect(store.bytes).toBe(100);
    store.set('large', 'x'); // rewriting a key replaces its weight
    expect(store.bytes).toBe(41);
    store.clear();
    expect(store.bytes).toBe(0);
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
    const store = new PageStore<number>(1_000, 10_000, one, () => now);
    for (let i = 0; i < 1_000; i++) { store.set(`old${i}`, i); now += 1; } // 1,000 entries over 1 s
    now += 2_000; // all expired
    for (let i = 0; i < 300; i++) store.set(`new${i}`, i);
    expect(store.size).toBe(300); // four dead ones dropped per write: the 1,000 were gone after 250 writes
    for (let i = 0; i < 300; i++) store.set(`more${i}`, i);
    expect(store.size).toBe(600);
    expect(store.bytes).toBe(600);
  });

  it('estimates a history page of 50 short messages near its measured heap (18.3 KB), and a page of long ones ten times that', () => {
    const message = (content: string) => ({
      id: '0193a4d6-645c-77fd-b4c6-7d3c2ab17fe3', conversation_id: '0193a4d6-645c-77fd-b4c6-7d3c2ab17fe4',
      sender_id: '0193a4d6-645c-77fd-b4c6-7d3c2ab17fe5', content, created_at: '2026-12-06T15:42:12.345Z',
    });
    const page = (content: string) => ({ items: Array.from({ length: 50 }, () => message(content)), next_cursor: 'x'.repeat(96) });
    const short = approximateHeapBytes(page('Hello there, how was the weekend? I went hiking with friends 17'));
    expect(short).toBeGreaterThan(18_300);
    expect(short).toBeLessThan(22_000);
    expect(approximateHeapBytes(page('x'.repeat(4_000)))).toBeGreaterThan(10 * short);
  });
});

describe('bgc_cache_first_page_bytes', () => {
  it('reads each store\'s estimated heap when scraped, zero before a page cache registers', async () => {
    const registry = new client.Registry();
    const metrics = new CacheMetrics(registry);
    const scrape = async () => (await registry.getSingleMetricAsString('bgc_cache_first_page_bytes'));
    expect(await scrape()).toContain('bgc_cache_first_page_bytes{store="chat"} 0');
    const store = new PageStore<string>(60_000, 1_000, (v) => v.length);
    metrics.firstPageStores.set('chat', () => store.bytes);
    store.set('a', 'x'.repeat(300));
    expect(await scrape()).toContain('bgc_cache_first_page_bytes{store="chat"} 300');
    expect(await scrape()).toContain('bgc_cache_first_page_bytes{store="feeds"} 0');
  });
});
