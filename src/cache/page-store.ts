/**
 * The first pages' store (page-cache.ts): in this process only, entries living a second,
 * one load per key at a time.
 *
 * Why not the two-tier cache the profiles use: a page lives about a second and, in the
 * mixed workload, most reads of a user's own pages follow that user's own write and must
 * read the database anyway (their position is newer than the entry's). Through bentocache
 * each such read cost a Redis GET, a lease SET and DEL and an L2 SET on top of the
 * database read: measured, the mixed workload got 13-17% slower with the pages cached
 * there (docs/PERFORMANCE.md, "First pages"). Here a miss costs a map lookup. A fleet of N
 * instances loads each hot page at most N times per TTL, which is what one replica read
 * per instance per second costs.
 */
/** Expired entries dropped from the front on each write (amortized: at least as fast as they are written). */
const EXPIRED_DROPPED_PER_WRITE = 4;

export interface PageEntry<V> { readonly value: V; readonly expiresAt: number; readonly bytes: number }

/**
 * Bounded by memory, not by count: a history page of 50 messages is about 20 KB of heap when
 * they are short and up to about 200 KB when each is at the 4,000-character limit, so a count
 * that fits the first case lets the second hold ten times the memory (`weigh` estimates an
 * entry's heap, heap-size.ts).
 */
export class PageStore<V> {
  readonly #entries = new Map<string, PageEntry<V>>();
  readonly #loading = new Map<string, Promise<V>>();
  #bytes = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes: number,
    private readonly weigh: (value: V) => number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number { return this.#entries.size; }

  /** The estimated heap the live and not yet dropped entries hold. */
  get bytes(): number { return this.#bytes; }

  /** The live entry for `key`, if any. */
  peek(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.delete(key);
      return undefined;
    }
    return e.value;
  }

  /**
   * The live entry, or the result of `load` (stored). Concurrent misses of one key share
   * one load (the stampede protection); a failed load stores nothing and fails them all.
   */
  async get(key: string, load: () => Promise<V>): Promise<{ value: V; loaded: boolean }> {
    const hit = this.peek(key);
    if (hit !== undefined) return { value: hit, loaded: false };
    const inFlight = this.#loading.get(key);
    if (inFlight) return { value: await inFlight, loaded: false };
    const p = load();
    this.#loading.set(key, p);
    try {
      const value = await p;
      this.set(key, value);
      return { value, loaded: true };
    } finally {
      this.#loading.delete(key);
    }
  }

  set(key: string, value: V): void {
    const now = this.now();
    const bytes = this.weigh(value);
    this.delete(key); // re-inserted last: the map's order is the eviction order
    // A page larger than the whole budget is served to its reader but not kept.
    if (bytes > this.maxBytes) return;
    this.#entries.set(key, { value, expiresAt: now + this.ttlMs, bytes });
    this.#bytes += bytes;
    // Every entry has the same TTL, so the oldest written expire first: drop the expired
    // ones at the front, a few per write, so memory holds about one TTL's worth of pages
    // rather than a full budget of dead ones.
    for (let i = 0; i < EXPIRED_DROPPED_PER_WRITE; i++) {
      const first = this.#entries.entries().next();
      if (first.done || first.value[1].expiresAt > now) break;
      this.delete(first.value[0]);
    }
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
