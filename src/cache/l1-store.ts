import type { CreateDriverResult, L1CacheDriver } from 'bentocache/types';

/**
 * The in-process tier (L1): an LRU bounded in BYTES, plugged into bentocache as its L1
 * driver. bentocache's own memory driver also bounds bytes (lru-cache maxSize), but it
 * does not tell anyone how many bytes it holds, and SC-009 / `bgc cache stats` need that
 * number; this store is ~100 lines and reports it exactly.
 *
 * Entries are bentocache's serialized JSON strings. Size = UTF-8 bytes of key and value
 * plus a fixed per-entry overhead for the Map slot and entry object, so the bound is on
 * what the process really spends, not only on payload bytes.
 */
const ENTRY_OVERHEAD_BYTES = 96;

interface Entry { readonly value: string; readonly bytes: number; readonly expiresAt: number }

export class ByteLru {
  // Map iteration order is insertion order: the first key is the least recently used.
  readonly #map = new Map<string, Entry>();
  #bytes = 0;
  evictions = 0;

  constructor(readonly maxBytes: number, readonly maxEntryBytes: number) {}

  get bytes(): number { return this.#bytes; }
  get size(): number { return this.#map.size; }

  get(key: string): string | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== 0 && e.expiresAt <= Date.now()) {
      this.#remove(key, e);
      return undefined;
    }
    // Re-insert to mark as most recently used.
    this.#map.delete(key);
    this.#map.set(key, e);
    return e.value;
  }

  set(key: string, value: string, ttlMs: number | undefined): boolean {
    const old = this.#map.get(key);
    if (old) this.#remove(key, old);
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(value) + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxEntryBytes || bytes > this.maxBytes) return false;
    const expiresAt = ttlMs !== undefined && ttlMs > 0 ? Date.now() + ttlMs : 0;
    this.#map.set(key, { value, bytes, expiresAt });
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
    return Math.max(0, e.expiresAt - Date.now());
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
export class ByteLruDriver implements L1CacheDriver {
  readonly type = 'l1' as const;

  constructor(readonly lru: ByteLru, readonly prefix: string) {}

  #k(key: string): string { return this.prefix ? `${this.prefix}:${key}` : key; }

  namespace(namespace: string): ByteLruDriver {
    return new ByteLruDriver(this.lru, this.prefix ? `${this.prefix}:${namespace}` : namespace);
  }
  get(key: string): string | undefined { return this.lru.get(this.#k(key)); }
  pull(key: string): string | undefined {
    const v = this.get(key);
    this.delete(key);
    return v;
  }
  set(key: string, value: string, ttl?: number): boolean {
    // A value too large for the bound is simply not kept in L1 (it still goes to L2).
    this.lru.set(this.#k(key), value, ttl);
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

export function byteLruDriver(lru: ByteLru): CreateDriverResult<ByteLruDriver> {
  return {
    options: {},
    factory: (config: { prefix?: string }) => new ByteLruDriver(lru, (config.prefix ?? '').replace(/:+$/, '')),
  };
}
