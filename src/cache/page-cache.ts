import type { QueryContext } from '../db/database.ts';
import { maxLsn, parseLsn } from '../db/lsn.ts';
import type { FirstPageKind, FirstPages } from '../services/first-pages.ts';
import type { CacheLayer } from './cache-layer.ts';
import { approximateHeapBytes } from './heap-size.ts';
import { PageStore } from './page-store.ts';
import type { ScopeVersion } from './page-versions.ts';

/**
 * First pages of the hot lists (inbox, history, global and following feeds) from the
 * cache, without giving up read-your-writes (docs/ARCHITECTURE.md, "First pages").
 *
 * Each entry carries the WAL position it was read at (`lsn`): the load asks the router for
 * a position every replica in rotation has replayed, so the page reflects at least that
 * position. A reader is served from the
 * entry only if it covers what the reader must see: their own last write (the shared
 * read-your-writes mark) and their X-BGC-LSN. Otherwise the reader reads the database as
 * before, with the router's usual guarantees. So a writer never sees their own write
 * missing, a recipient sending X-BGC-LSN never sees an older page, and everyone else sees
 * a page at most BGC_CACHE_PAGE_TTL_MS old (the staleness a lagging replica also shows).
 *
 * Why a position and not invalidation, for the feeds: a user's post changes every
 * follower's feed, and the entries need not be found and dropped for correctness; the TTL
 * bounds how long others miss it.
 *
 * With BGC_CACHE_CHAT_PAGE_TTL_MS above 0, the chat pages (inbox, history) are scoped
 * (first-pages.ts, pageScope): a message, a read, a moderator's hide of a message or a suspension (page-suspension.ts) raises its scopes' change position in
 * Redis after it commits (page-versions.ts), and an entry loaded against the current
 * position, once the replicas were known to have replayed it, is served until the next
 * change, for up to BGC_CACHE_CHAT_PAGE_TTL_MS (10 s). Between a change and the replicas'
 * next known position the page is read like a feed's (short TTL, the reader's mark), so no
 * reader waits for replay: a writer still sees their own message at once, a recipient with
 * X-BGC-LSN too, and a recipient without it within about a second, as from a replica. What
 * raises no position (the other member's new display name, a conversation the other member
 * opened) shows within that TTL. Without Redis the scoped
 * pages are read from the database and the store is emptied.
 *
 * Entries live in this process only (page-store.ts says why), one load per key at a time.
 */
export interface PositionSource {
  /** Without replicas no write leaves a read-your-writes mark, so no entry could be checked against one. */
  readonly replicas: readonly unknown[];
  requiredLsn(ctx: QueryContext): Promise<string | undefined>;
  rotationFloorLsn(): string | undefined;
}

/** The change positions of scoped pages (page-versions.ts); without them scoped pages use the short TTL. */
export interface ScopeVersions {
  read(scope: string): Promise<ScopeVersion>;
}

interface StampedPage {
  /** The page reflects at least this WAL position (null: unknown, e.g. no replicas). */
  readonly lsn: string | null;
  /** The scope's change position it was loaded against (null: none recorded; undefined: not scoped). */
  readonly version?: string | null;
  readonly page: unknown;
}

/** A scoped page whose scope changed after the replicas' known position (PageCache.#scopedPage). */
const BEHIND: unique symbol = Symbol('behind');

export function covers(stamp: string | null, required: string | undefined): boolean {
  if (required === undefined) return true;
  return stamp !== null && parseLsn(stamp) >= parseLsn(required);
}

export interface PageCacheOptions {
  /** Unscoped pages (the feeds): a replica's staleness, BGC_CACHE_PAGE_TTL_MS. */
  readonly ttlMs: number;
  /** Scoped pages (inbox, history), invalidated by their scope's changes: BGC_CACHE_CHAT_PAGE_TTL_MS. */
  readonly scopedTtlMs: number;
  /** Estimated heap each of the two stores may hold (BGC_CACHE_PAGE_MAX_BYTES; heap-size.ts). */
  readonly maxBytesPerStore: number;
  readonly versions?: ScopeVersions;
}

/** An entry's weight: its page and its stamps. */
const weigh = (e: StampedPage): number => approximateHeapBytes(e);

export class PageCache implements FirstPages {
  readonly #store: PageStore<StampedPage>;
  readonly #scoped: PageStore<StampedPage>;
  readonly #versions: ScopeVersions | undefined;

  constructor(private readonly layer: CacheLayer, private readonly positions: PositionSource, opts: PageCacheOptions) {
    this.#store = new PageStore(opts.ttlMs, opts.maxBytesPerStore, weigh);
    this.#scoped = new PageStore(opts.scopedTtlMs, opts.maxBytesPerStore, weigh);
    this.#versions = opts.versions;
    layer.metrics?.firstPageStores.set('feeds', () => this.#store.bytes);
    layer.metrics?.firstPageStores.set('chat', () => this.#scoped.bytes);
  }

  get entries(): number { return this.#store.size + this.#scoped.size; }

  async page<T>(kind: FirstPageKind, key: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>, scope?: string): Promise<T> {
    // Primary only: every read is current and no mark says what a reader wrote; no cache.
    if (ctx.forcePrimary || this.positions.replicas.length === 0) return load(ctx);
    const versions = scope === undefined ? undefined : this.#versions;
    if (versions !== undefined && scope !== undefined) {
      const version = await versions.read(scope);
      if (version.kind === 'unavailable' || version.kind === 'unknown') {
        // Changes may have gone unrecorded (Redis down, its master unverified) or their position
        // is unknown: no entry of this store can be trusted to show them.
        if (version.kind === 'unavailable') this.#scoped.clear();
        this.layer.metrics?.firstPageReads.inc({ kind, result: 'bypassed' });
        return load(ctx);
      }
      const served = await this.#scopedPage(kind, `${kind}:${key}`, ctx, load, version.kind === 'at' ? version.value : null);
      if (served !== BEHIND) return served;
      // Never older than the scoped entry this instance served before the change: a reader
      // who saw message 1 there must not lose it while message 2 is being replayed.
      return this.#positionedPage(kind, `${kind}:${key}`, ctx, load, this.#scoped.peek(`${kind}:${key}`)?.lsn ?? undefined);
    }
    return this.#positionedPage(kind, `${kind}:${key}`, ctx, load, undefined);
  }

  /**
   * A scoped page by its scope's change position `stamp`. An entry loaded against the
   * current position is served to any reader whose X-BGC-LSN it covers: every change to the
   * page, the reader's own included, raised the position before it was answered, so no
   * read-your-writes mark is needed (the mark is per user: any other write of theirs, a post
   * or a message elsewhere, would make the entry too old).
   *
   * A load happens here only once the replicas in rotation are known to have replayed the
   * scope's last change (the router's rotation floor covers `stamp`), so it reads at the floor
   * and waits for nothing. Until then the page is BEHIND and goes the unscoped way (short
   * TTL, the reader's mark): making the first reader after a change wait for the replicas to
   * replay it, or read the primary, made mixed on `medium` 15–24% slower (docs/PERFORMANCE.md).
   */
  async #scopedPage<T>(kind: FirstPageKind, id: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>, stamp: string | null): Promise<T | typeof BEHIND> {
    const current = (e: StampedPage | undefined): e is StampedPage => e !== undefined && e.version === stamp;
    // No position recorded (null) is also what Redis shows after evicting a scope's position
    // (allkeys-lfu under memory pressure): an entry loaded before the change would then look
    // current. So such an entry must also cover the reader's own last write, or a writer read
    // their page without their message for up to the entry's TTL. A recipient without
    // X-BGC-LSN can still be shown it that late, only after an eviction.
    const need = stamp === null ? await this.positions.requiredLsn(ctx) : ctx.minLsn;
    const held = this.#scoped.peek(id);
    if (current(held) && covers(held.lsn, need)) {
      this.layer.metrics?.firstPageReads.inc({ kind, result: 'hit' });
      return held.page as T;
    }
    const floor = this.positions.rotationFloorLsn();
    if (!covers(floor ?? null, stamp ?? undefined)) return BEHIND;
    // A page read while the scope was behind, at or after its last change, is current: it
    // becomes the scoped entry instead of being read again.
    const positioned = stamp === null || current(held) ? undefined : this.#store.peek(id);
    if (positioned !== undefined && stamp !== null && covers(positioned.lsn, stamp) && covers(positioned.lsn, ctx.minLsn)) {
      this.#scoped.set(id, { lsn: positioned.lsn, version: stamp, page: positioned.page });
      this.layer.metrics?.firstPageReads.inc({ kind, result: 'hit' });
      return positioned.page as T;
    }
    // An entry of an older position goes, so the load below is shared by the readers that
    // arrive while it runs (one load per key), not skipped because an entry is live.
    if (held !== undefined && !current(held)) this.#scoped.delete(id);
    const lsn = maxLsn(floor, need);
    const { value: entry, loaded } = await this.#scoped.get(id, async () => ({ lsn: lsn ?? null, version: stamp, page: await load(sharedLoad(lsn)) }));
    if (current(entry) && covers(entry.lsn, need)) {
      this.layer.metrics?.firstPageReads.inc({ kind, result: loaded ? 'loaded' : 'hit' });
      return entry.page as T;
    }
    // The reader's X-BGC-LSN is ahead of the entry: read at it, and keep the newer page.
    this.layer.metrics?.firstPageReads.inc({ kind, result: 'too_old' });
    const page = await load(sharedLoad(lsn));
    this.#scoped.set(id, { lsn: lsn ?? null, version: stamp, page });
    return page;
  }

  /** A page by WAL position only (the feeds, and scoped pages BEHIND their scope): BGC_CACHE_PAGE_TTL_MS. */
  async #positionedPage<T>(kind: FirstPageKind, id: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>, atLeast: string | undefined): Promise<T> {
    // What the reader must see: their X-BGC-LSN, their own last write, and what was served before.
    const required = maxLsn(await this.positions.requiredLsn(ctx), atLeast);
    const { value: entry, loaded } = await this.#store.get(id, async () => {
      // No user on the context: the page is shared; the loading reader's own position is `required`.
      const lsn = maxLsn(this.positions.rotationFloorLsn(), required);
      return { lsn: lsn ?? null, page: await load(sharedLoad(lsn)) };
    });
    if (covers(entry.lsn, required)) {
      this.layer.metrics?.firstPageReads.inc({ kind, result: loaded ? 'loaded' : 'hit' });
      return entry.page as T;
    }
    this.layer.metrics?.firstPageReads.inc({ kind, result: 'too_old' });
    // Read at the reader's position (the router sees to it), then kept for the readers after
    // them: one who just wrote refreshes the shared entry instead of leaving it behind.
    const page = await load(atLeast === undefined ? ctx : { ...ctx, minLsn: required });
    if (required !== undefined) this.#store.set(id, { lsn: required, page });
    return page;
  }
}

/** A shared entry's load: at `lsn` (the loading reader's position and the rotation's floor), never from a replica too far behind for signed-in readers. */
function sharedLoad(lsn: string | undefined): QueryContext {
  return lsn === undefined ? { boundedLag: true } : { minLsn: lsn, boundedLag: true };
}
