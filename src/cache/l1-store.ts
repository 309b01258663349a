import type { CreateDriverResult, L1CacheDriver } from 'bentocache/types';

/**
 * The in-process tier (L1): an LRU bounded in BYTES, plugged into bentocache as its L1
 * driver. bentocache's own memory driver also bounds bytes (lru-cache maxSize), but it
 * does not tell anyone how many bytes it holds, and SC-009 / `bgc cache stats` need that
 * number; this store is ~150 lines and reports it exactly.
 *
 * Entries are bentocache's raw entries ({ value, logicalExpiration, createdAt }) kept as
 * objects, not JSON strings (the driver sets bentocache's `serialize: false`): a profile
 * CPU profile of cached reads spent 5% of the server's time in JSON.parse of L1 strings,
 * once per lookup, three lookups per request (docs/PERFORMANCE.md). The size is the
 * UTF-8 length of the entry's JSON, computed once when it is stored, plus a fixed
 * per-entry overhead for the Map slot and entry object, so the bound is on what the
 * process really spends, not only on payload bytes. Values are deep-frozen when stored:
 * every caller shares one object, and a caller that tried to change it would otherwise
 * change the cache.
 */
const ENTRY_OVERHEAD_BYTES = 96;

interface Entry {
  readonly value: unknown;
  readonly bytes: number;
  readonly expiresAt: number;
  /** When the entry last moved to the most-recent end (ByteLru's operation counter). */
  seq: number;
}

/** bentocache's raw L1 entry, as it hands it to the driver when L1 is not serialized. */
export interface RawCacheEntry {
  readonly value: unknown;
  readonly logicalExpiration: number;
  readonly createdAt?: number;
}

export function isRawCacheEntry(v: unknown): v is RawCacheEntry {
  return typeof v === 'object' && v !== null && 'logicalExpiration' in v && typeof v.logicalExpiration === 'number';
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

function byteSize(v: unknown): number {
  return Buffer.byteLength(typeof v === 'string' ? v : JSON.stringify(v) ?? '');
}

export class ByteLru {
  // Map iteration order is insertion order: the first key is the least recently used.
  readonly #map = new Map<string, Entry>();
  /** Counts moves to the most-recent end (sets and bumps): an entry's distance from that end. */
  #seq = 0;
  #bytes = 0;
  evictions = 0;

  /** `now` is the clock (Unix ms) TTLs expire on; tests pass their own. */
  constructor(readonly maxBytes: number, readonly maxEntryBytes: number, private readonly now: () => number = Date.now) {}

  get bytes(): number { return this.#bytes; }
  get size(): number { return this.#map.size; }

  get(key: string): unknown {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== 0 && e.expiresAt <= this.now()) {
      this.#remove(key, e);
      return undefined;
    }
    // Re-insert to mark as most recently used, unless it is already among the newest
    // quarter of the map: a hot key (a session, a top profile) read thousands of times a
    // second was deleted and re-inserted on every read (this method was 4.9% of the API's CPU
    // in a profile of the send workload). It still moves before it could reach the
    // eviction end, so anything read once per quarter-turn of the map is never evicted;
    // small maps (under 4 entries) stay exact LRU.
    if (this.#seq - e.seq > this.#map.size >> 2) {
      this.#map.delete(key);
      e.seq = ++this.#seq;
      this.#map.set(key, e);
    }
    return e.value;
  }

  set(key: string, value: unknown, ttlMs: number | undefined): boolean {
    const old = this.#map.get(key);
    if (old) this.#remove(key, old);
    const bytes = Buffer.byteLength(key) + byteSize(value) + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxEntryBytes || bytes > this.maxBytes) return false;
    deepFreeze(value);
    const expiresAt = ttlMs !== undefined && ttlMs > 0 ? this.now() + ttlMs : 0;
    this.#map.set(key, { value, bytes, expiresAt, seq: ++this.#seq });
    this.#bytes += bytes;
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#map.entries().next();
      if (oldest.done) break;
      this.#remove(oldest.value[0], oldest.value[1]);
      this.evictions++;
    }
    return true;
  }

  delete(key: string): boolean {
    const e = this.#map.get(key);
    if (!e) return false;
    this.#remove(key, e);
    return true;
  }

  remainingTtl(key: string): number | undefined {
    const e = this.#map.get(key);
    if (!e || e.expiresAt === 0) return undefined;
    return Math.max(0, e.expiresAt - this.now());
  }

  /** Drops every key starting with `prefix` (all keys when prefix is empty). */
  clear(prefix = ''): number {
    let n = 0;
    for (const [key, e] of this.#map) {
      if (key.startsWith(prefix)) { this.#remove(key, e); n++; }
    }
    return n;
  }

  #remove(key: string, e: Entry): void {
    this.#map.delete(key);
    this.#bytes -= e.bytes;
  }
}

/** A bentocache L1 driver over a (shared) ByteLru; `prefix` separates the stores. */
export class ByteLruDriver {
  readonly type = 'l1' as const;

  constructor(readonly lru: ByteLru, readonly prefix: string) {}

  #k(key: string): string { return this.prefix ? `${this.prefix}:${key}` : key; }

  namespace(namespace: string): ByteLruDriver {
    return new ByteLruDriver(this.lru, this.prefix ? `${this.prefix}:${namespace}` : namespace);
  }
  get(key: string): unknown { return this.lru.get(this.#k(key)); }
  pull(key: string): unknown {
    const v = this.get(key);
    this.delete(key);
    return v;
  }
  set(key: string, value: unknown, ttl?: number): boolean {
    // bentocache 1.6 refills L1 from an L2 hit with the SERIALIZED entry even when L1 is
    // not serialized, and then fails reading it back (bentocache issue #111, fix in PR
    // #113). Its serializer is JSON, so parse it here: L1 holds objects only.
    const entry = typeof value === 'string' ? JSON.parse(value) as unknown : value;
    // A value too large for the bound is simply not kept in L1 (it still goes to L2).
    this.lru.set(this.#k(key), entry, ttl);
    return true;
  }
  getRemainingTtl(key: string): number | undefined { return this.lru.remainingTtl(this.#k(key)); }
  clear(): void { this.lru.clear(this.prefix ? `${this.prefix}:` : ''); }
  delete(key: string): boolean { return this.lru.delete(this.#k(key)); }
  deleteMany(keys: string[]): boolean {
    for (const k of keys) this.delete(k);
    return true;
  }
  disconnect(): void {}
}

export function byteLruDriver(lru: ByteLru): CreateDriverResult<L1CacheDriver> {
  return {
    // L1 keeps bentocache's entries as objects (see the top of this file).
    options: { serialize: false },
    // bentocache types L1 drivers for strings only; with `serialize: false` it passes and
    // expects its raw entry objects, which is what ByteLruDriver stores and returns.
    factory: (config: { prefix?: string }) => new ByteLruDriver(lru, (config.prefix ?? '').replace(/:+$/, '')) as unknown as L1CacheDriver,
  };
}
