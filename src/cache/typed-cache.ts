import { errors as bentoErrors } from 'bentocache';
import type { CacheProvider, GetSetFactoryContext } from 'bentocache/types';
import type { CacheName } from '../metrics/cache.metrics.ts';
import type { CacheKeys } from './keys.ts';
import type { FleetLease } from './lease.ts';
import type { L2Janitor } from './l2-janitor.ts';
import { isRawCacheEntry, type ByteLru } from './l1-store.ts';
import { RecentInvalidations } from './recent-invalidations.ts';

/**
 * One cache-aside cache (profile views or session lookups) on a bentocache store.
 *
 * bentocache does the two tiers, the per-process stampede lock, grace (serve stale on a
 * loader error), stale-while-revalidate and the L2 circuit breaker. This class adds what
 * it lacks (docs/ARCHITECTURE.md, "Cache"):
 *  - TTL jitter (±10%, per write) so keys written together do not expire together;
 *  - negative caching with its own short TTL (`null` = "no such id");
 *  - the fleet-wide lease around the loader;
 *  - stale-set fencing and fresh reads right after an invalidation (RecentInvalidations);
 *  - values that carry their own expiry (sessions): never served past it;
 *  - invalidation entry points per source, with L2 deletes that survive Redis outages.
 */
export interface LoadOptions {
  /** Read from the primary: the key was invalidated moments ago and a replica may lag. */
  readonly fresh: boolean;
  /** The loader calls it when its read may be further behind than the max lag (QueryContext.onDegradedRead). */
  readonly onDegradedRead?: () => void;
}
export type Loader<T> = (id: string, opts: LoadOptions) => Promise<T | null>;

export interface TypedCacheSettings {
  readonly name: CacheName;
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  readonly graceMs: number;
  /** Serve an expired value at once and refresh it in the background (profiles); sessions revalidate first. */
  readonly staleWhileRevalidate: boolean;
  /** Unix ms after which a value is dead whatever the TTL says (a session's expires_at). */
  readonly expiresAt?: (value: unknown) => number | undefined;
  /** How long after an invalidation loads of that key go to the primary. */
  readonly freshWindowMs: number;
  /**
   * Within that window, a Redis hit is not believed either: the first read loads (sessions).
   * A peer whose load read PostgreSQL just before the change, and whose own NOTIFY is late, can
   * write the old value back into Redis after the invalidation's UNLINK; for a session that is a
   * revoked token accepted for the L1 TTL. Not for profiles: their hot keys would lose their
   * stampede protection in the window.
   */
  readonly distrustL2AfterInvalidation?: boolean;
}

interface TypedCacheDeps {
  readonly keys: CacheKeys;
  readonly store: CacheProvider;
  readonly lru: ByteLru;
  readonly lease: FleetLease;
  readonly janitor: L2Janitor;
  /**
   * False while this instance may be missing database invalidations (its LISTEN connection is
   * down): what it loads then stays in its own L1, which the reconnect clears, and is not
   * written to Redis, where no one would remove it. Absent: always writable.
   */
  readonly l2Writable?: () => boolean;
}

const JITTER = 0.1;
const MAX_FENCED_RELOADS = 3;
const GRACE_BACKOFF_MS = 30_000;
/** How long a sibling store waits for bentocache's per-key lock before giving up on that key. */
const SIBLING_LOCK_WAIT_MS = 20;

export function jittered(ms: number, jitter = JITTER): number {
  return Math.max(1, Math.round(ms * (1 - jitter + Math.random() * 2 * jitter)));
}

/** JSON round trip: L1, L2 and a fresh load then all hand out the same shapes (no Dates, no Buffers). */
function normalize(value: unknown): unknown {
  return value === undefined || value === null ? null : JSON.parse(JSON.stringify(value)) as unknown;
}

export class TypedCache {
  readonly recent: RecentInvalidations;
  /** Keys being read by the warm-up or stored as siblings (how many such readers each): their cache events are not traffic. */
  readonly #uncounted = new Map<string, number>();
  /** Keys whose loader is running here: a sibling store leaves them to that load. */
  readonly #loading = new Set<string>();
  /** Keys whose load stepped aside for another loader: that one "miss" is re-read at once. */
  readonly #skippedMiss = new Set<string>();
  #bypass = 0;
  loaderCalls = 0;
  /** Loads kept briefly because their read may have been behind the max lag (LoadOptions.onDegradedRead). */
  degradedLoads = 0;
  /** Counts an L1 hit served by the fast path (set by CacheLayer's metrics). */
  onL1Hit: (() => void) | undefined;

  constructor(readonly settings: TypedCacheSettings, private readonly deps: TypedCacheDeps) {
    this.recent = new RecentInvalidations(settings.freshWindowMs);
  }

  get name(): CacheName { return this.settings.name; }

  /** The value for `id`, or null when the loader says it does not exist. */
  async get(id: string, loader: Loader<unknown>): Promise<unknown> {
    const hit = this.#freshL1(id);
    if (hit) return this.#alive(hit.value);
    const { settings, deps } = this;
    const fullKey = deps.keys.item(this.name, id);
    for (let attempt = 0; attempt < 3; attempt++) {
      // bentocache copies an L2 hit into L1 without asking anyone: a Redis GET that ran before
      // an invalidation's UNLINK, and whose reply came back after the invalidation was handled
      // here, would leave the old value in L1 for its whole TTL. A stamp that moved meanwhile
      // means the value may be that old one: drop the L1 copy and read again.
      const stamp = this.recent.stamp(fullKey);
      let out: unknown;
      try {
        out = await deps.store.getOrSet<unknown>({
          key: id,
          ttl: jittered(settings.ttlMs),
          grace: settings.graceMs > 0 ? settings.graceMs : false,
          graceBackoff: GRACE_BACKOFF_MS,
          timeout: settings.staleWhileRevalidate ? 0 : null,
          // While an L2 flush runs, L2 may still hold what the flush is removing.
          forceFresh: this.#bypass > 0 || this.#distrustsL2(fullKey),
          factory: (ctx) => this.#load(id, loader, ctx),
        });
      } catch (err) {
        // Surface the loader's own error (e.g. DbUnavailableError → 503), not the wrapper.
        if (err instanceof bentoErrors.E_FACTORY_ERROR && err.cause !== undefined) throw err.cause;
        throw err;
      }
      if (this.recent.stamp(fullKey) !== stamp) {
        deps.lru.delete(fullKey);
        continue;
      }
      // undefined: we waited on another instance's lease; the value is in Redis now.
      if (out !== undefined) return this.#alive(out);
    }
    return this.#alive(normalize(await this.#call(loader, id, true)));
  }

  /**
   * The L1 entry for `id` if it is fresh: what bentocache's getOrSet would return first,
   * read directly. A hit is the common case (97–99% of profile reads) and getOrSet costs
   * an options object, a diagnostics-channel trace and an event per call, three calls per
   * request; everything else (expired and graced entries, misses, L2, loaders, flushes in
   * progress) still goes through bentocache.
   */
  #freshL1(id: string): { value: unknown } | undefined {
    if (this.#bypass > 0) return undefined;
    const entry = this.deps.lru.get(this.deps.keys.item(this.name, id));
    if (!isRawCacheEntry(entry) || Date.now() >= entry.logicalExpiration) return undefined;
    if (!this.#uncounted.has(id)) this.onL1Hit?.();
    return { value: entry.value };
  }

  /** Reads through the cache without counting the lookup in the hit/miss metrics. */
  async getUncounted(id: string, loader: Loader<unknown>): Promise<unknown> {
    return this.#withoutCounting(id, () => this.get(id, loader));
  }

  async #withoutCounting<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.#uncounted.set(id, (this.#uncounted.get(id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const n = (this.#uncounted.get(id) ?? 1) - 1;
      if (n > 0) this.#uncounted.set(id, n); else this.#uncounted.delete(id);
    }
  }

  /** The invalidation stamp of `id` now: hand it to setIfUnchanged after reading the value. */
  stampOf(id: string): number {
    return this.recent.stamp(this.deps.keys.item(this.name, id));
  }

  /** True within the fresh window after an invalidation of `id` (a replica may not have the write yet). */
  isRecent(id: string): boolean {
    return this.recent.recent(this.deps.keys.item(this.name, id));
  }

  /** True when this instance's L1 holds a live copy of `id` (not counted as a lookup). */
  cachedHere(id: string): boolean {
    const entry = this.deps.lru.get(this.deps.keys.item(this.name, id));
    return isRawCacheEntry(entry) && Date.now() < entry.logicalExpiration;
  }

  /**
   * Stores `value` for `id`, read by the caller alongside another key's load (relationship
   * siblings), unless `id` was invalidated since `stampBefore` (taken before the read), a
   * copy is cached already (L1 or Redis: it may be newer), a load of `id` is running here,
   * or an L2 flush is in progress. Not counted as a hit or a miss. True if it was stored.
   */
  async setIfUnchanged(id: string, value: unknown, stampBefore: number): Promise<boolean> {
    const fullKey = this.deps.keys.item(this.name, id);
    const unchanged = () => this.#bypass === 0 && this.recent.stamp(fullKey) === stampBefore;
    if (!unchanged() || this.#loading.has(id) || this.cachedHere(id)) return false;
    const stored = normalize(value);
    const ttl = this.#ttlFor(stored);
    let wrote = false;
    try {
      await this.#withoutCounting(id, () => this.deps.store.getOrSet<unknown>({
        key: id,
        ttl,
        grace: this.settings.graceMs > 0 ? this.settings.graceMs : false,
        graceBackoff: GRACE_BACKOFF_MS,
        timeout: null,
        // Someone else holds bentocache's lock on `id` (loading or storing it): leave it to them.
        lockTimeout: SIBLING_LOCK_WAIT_MS,
        factory: (ctx) => {
          // Looked up in L1 and Redis first: reached only when neither has a copy.
          if (!unchanged()) return ctx.skip();
          wrote = true;
          ctx.setOptions({ ttl, skipBusNotify: true, skipL2Write: !this.#l2Writable() });
          return stored;
        },
      }));
    } catch {
      // A lock wait that timed out, or Redis failing: the key simply stays cold.
      return false;
    }
    // As in get(): a Redis hit that bentocache copies into L1 may be a GET answered before an
    // invalidation's UNLINK, whose reply came back after the invalidation was handled here.
    if (this.recent.stamp(fullKey) !== stampBefore) {
      this.deps.lru.delete(fullKey);
      return false;
    }
    return wrote;
  }

  /** For the metrics listener: should this cache event be counted? */
  counts(id: string, event: 'hit' | 'miss'): boolean {
    if (event === 'miss' && this.#skippedMiss.delete(id)) return false;
    return !this.#uncounted.has(id);
  }

  async #load(id: string, loader: Loader<unknown>, ctx: GetSetFactoryContext): Promise<unknown> {
    const { deps } = this;
    const fullKey = deps.keys.item(this.name, id);
    // A value another instance put in Redis is not taken as the answer while Redis is not
    // believed for this key (distrustL2AfterInvalidation): this load reads the database itself.
    const distrusted = this.#distrustsL2(fullKey);
    const lease = await deps.lease.tryAcquire(deps.keys.lease(this.name, id));
    if (!distrusted && !lease.acquired && (await deps.lease.waitReleased(lease.key)) === 'released') {
      this.#skippedMiss.add(id);
      return ctx.skip();
    }
    // Another instance may have loaded and released between our L2 read and our lease:
    // look once more before going to the database (not while an L2 flush is running).
    if (!distrusted && lease.token !== undefined && this.#bypass === 0 && (await deps.store.has({ key: id }).catch(() => false))) {
      setImmediate(() => deps.lease.release(lease));
      this.#skippedMiss.add(id);
      return ctx.skip();
    }
    this.#loading.add(id);
    try {
      let value: unknown = null;
      for (let attempt = 0; attempt < MAX_FENCED_RELOADS; attempt++) {
        const stamp = this.recent.stamp(fullKey);
        let degraded = false;
        value = normalize(await this.#call(loader, id, attempt > 0 || this.recent.recent(fullKey), () => { degraded = true; }));
        if (degraded) {
          // From a replica that may be behind an invalidation already past its fresh window:
          // handed out, kept only here and only briefly (before: kept for the whole TTL).
          this.degradedLoads++;
          ctx.setOptions({ ttl: 1_000, skipBusNotify: true, skipL2Write: true });
          return value;
        }
        if (this.recent.stamp(fullKey) === stamp) {
          // Peers need no "set" broadcast: every change reaches them as an invalidation,
          // and a broadcast would make them drop their own fresh copies.
          ctx.setOptions({ ttl: this.#ttlFor(value), skipBusNotify: true, skipL2Write: !this.#l2Writable() });
          return value;
        }
      }
      // Invalidated during every attempt (a key being rewritten right now): hand the
      // value out, keep it only here and only briefly.
      ctx.setOptions({ ttl: 1_000, skipBusNotify: true, skipL2Write: true });
      return value;
    } finally {
      this.#loading.delete(id);
      // After bentocache has issued its L2 write (same connection, so it lands first).
      setImmediate(() => deps.lease.release(lease));
    }
  }

  #distrustsL2(fullKey: string): boolean {
    return this.settings.distrustL2AfterInvalidation === true && this.recent.recent(fullKey);
  }

  #l2Writable(): boolean {
    return this.deps.l2Writable?.() ?? true;
  }

  async #call(loader: Loader<unknown>, id: string, fresh: boolean, onDegradedRead?: () => void): Promise<unknown> {
    this.loaderCalls++;
    return loader(id, onDegradedRead ? { fresh, onDegradedRead } : { fresh });
  }

  #ttlFor(value: unknown): number {
    if (value === null) return jittered(this.settings.negativeTtlMs);
    const ttl = jittered(this.settings.ttlMs);
    const end = this.settings.expiresAt?.(value);
    return end === undefined ? ttl : Math.max(1, Math.min(ttl, end - Date.now()));
  }

  #alive(value: unknown): unknown {
    if (value === null || value === undefined) return null;
    const end = this.settings.expiresAt?.(value);
    return end !== undefined && end <= Date.now() ? null : value;
  }

  /** After an app write committed: L1 here, L2, and peers' L1 via the bus. */
  async invalidateFromApp(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) this.recent.note(this.deps.keys.item(this.name, id));
    await this.deps.store.deleteMany({ keys: [...ids] }).catch(() => undefined);
    this.#unlinkL2(ids);
  }

  /** A PostgreSQL NOTIFY: every instance gets it, so only local L1 and (idempotently) L2. */
  invalidateLocal(ids: readonly string[]): void {
    this.dropL1(ids);
    this.#unlinkL2(ids);
  }

  /**
   * This instance's L1 copies only, at once (a peer's acknowledged invalidation: the peer
   * already deleted L2). Noted as just invalidated: a load in flight reloads, the next
   * loads read the primary.
   */
  dropL1(ids: readonly string[]): void {
    for (const id of ids) {
      const fullKey = this.deps.keys.item(this.name, id);
      this.recent.note(fullKey);
      this.deps.lru.delete(fullKey);
    }
  }

  /** A peer's bus message: bentocache drops the L1 copies; we remember the keys as fresh-read. */
  notePeerInvalidation(ids: readonly string[]): void {
    for (const id of ids) this.recent.note(this.deps.keys.item(this.name, id));
  }

  /**
   * Drops every key of this cache from L1 and, if `l2`, from Redis (reads bypass L2
   * meanwhile). `fence` (default) also treats every key as just invalidated: loads in
   * flight reload, and loads in the next moments read the primary. Start-up skips it:
   * nothing is in flight and nothing was written.
   */
  async flush(l2: boolean, fence = true): Promise<void> {
    if (fence) this.recent.noteAll();
    this.deps.lru.clear(`${this.deps.keys.storePrefix(this.name)}:`);
    if (l2) await this.flushL2(fence);
  }

  /**
   * Reads skip L1 and L2 (they load, and store what they loaded) until the returned
   * function is called (once; later calls do nothing). master-guard.ts holds this while
   * it cannot yet tell whether Redis still holds what this instance last invalidated.
   */
  holdBypass(): () => void {
    this.#bypass++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#bypass--;
    };
  }

  async flushL2(fence = true): Promise<void> {
    this.#bypass++;
    const pattern = this.deps.keys.itemPattern(this.name);
    try {
      if (fence) this.recent.noteAll();
      const { failedWhileUp } = await this.deps.janitor.flush(pattern);
      // Redis answers, but still holds entries the flush was to remove: reads keep bypassing
      // the cache until its retry finishes (while Redis is down nothing reads it anyway).
      if (failedWhileUp) {
        const release = this.holdBypass();
        void this.deps.janitor.whenFlushed(pattern).then(release);
      }
    } finally {
      this.#bypass--;
    }
  }

  #unlinkL2(ids: readonly string[]): void {
    this.deps.janitor.unlink(ids.map((id) => this.deps.keys.item(this.name, id)), this.deps.keys.itemPattern(this.name));
  }
}
