import type { QueryContext } from '../db/database.ts';
import { maxLsn, parseLsn } from '../db/lsn.ts';
import type { FirstPageKind, FirstPages } from '../services/first-pages.ts';
import type { CacheLayer } from './cache-layer.ts';
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
 * With BGC_CACHE_CHAT_PAGE_TTL_MS above 0 (off by default: docs/PERFORMANCE.md says what it
 * cost on `medium`), the chat pages (inbox, history) are scoped (first-pages.ts, pageScope): a message or a
 * read raises its scopes' change position in Redis after it commits (page-versions.ts),
 * and an entry is served only if it was loaded against the current position, at or after
 * it. So they can live BGC_CACHE_CHAT_PAGE_TTL_MS (10 s), far longer than a replica may lag,
 * and a recipient sees a new message on the first read after the send was answered, with
 * or without X-BGC-LSN. The scope's position stands in for the reader's read-your-writes
 * mark, which is per user: their own changes to the page raise it too, and their other
 * writes (a post, a message elsewhere) no longer make the entry too old. What raises no position (the other member's new display name, a
 * conversation the other member opened, a moderator hiding a message) shows within that
 * TTL. Without Redis the scoped pages are read from the database and the store is emptied.
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

export function covers(stamp: string | null, required: string | undefined): boolean {
  if (required === undefined) return true;
  return stamp !== null && parseLsn(stamp) >= parseLsn(required);
}

/**
 * Entries kept at most, per store. A history page (50 messages) is about 10 KB, so this bounds a
 * store to about 50 MB; expired entries are dropped as new ones are written (page-store.ts).
 */
const MAX_PAGES = 5_000;

export interface PageCacheOptions {
  /** Unscoped pages (the feeds): a replica's staleness, BGC_CACHE_PAGE_TTL_MS. */
  readonly ttlMs: number;
  /** Scoped pages (inbox, history), invalidated by their scope's changes: BGC_CACHE_CHAT_PAGE_TTL_MS. */
  readonly scopedTtlMs: number;
  readonly versions?: ScopeVersions;
}

export class PageCache implements FirstPages {
  readonly #store: PageStore<StampedPage>;
  readonly #scoped: PageStore<StampedPage>;
  readonly #versions: ScopeVersions | undefined;

  constructor(private readonly layer: CacheLayer, private readonly positions: PositionSource, opts: PageCacheOptions) {
    this.#store = new PageStore(opts.ttlMs, MAX_PAGES);
    this.#scoped = new PageStore(opts.scopedTtlMs, MAX_PAGES);
    this.#versions = opts.versions;
  }

  get entries(): number { return this.#store.size + this.#scoped.size; }

  async page<T>(kind: FirstPageKind, key: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>, scope?: string): Promise<T> {
    // Primary only: every read is current and no mark says what a reader wrote; no cache.
    if (ctx.forcePrimary || this.positions.replicas.length === 0) return load(ctx);
    const versions = scope === undefined ? undefined : this.#versions;
    const scoped = versions !== undefined && scope !== undefined;
    // A scoped page needs no read-your-writes mark: every change to it, the reader's own
    // included, raises its scope's position before it is answered. The mark is per user, so
    // any other write of theirs (a post, a message elsewhere) would make the entry too old.
    const [readerLsn, version] = await Promise.all([
      scoped ? ctx.minLsn : this.positions.requiredLsn(ctx),
      scoped ? versions.read(scope) : Promise.resolve(undefined),
    ]);
    if (version?.kind === 'unavailable' || version?.kind === 'unknown') {
      // Changes may have gone unrecorded (Redis down, its master unverified) or their position
      // is unknown: no entry of this store can be trusted to show them.
      if (version.kind === 'unavailable') this.#scoped.clear();
      this.layer.metrics?.firstPageReads.inc({ kind, result: 'bypassed' });
      return load(ctx);
    }
    const stamp = version === undefined ? undefined : version.kind === 'at' ? version.value : null;
    // What the reader must see: their X-BGC-LSN, and their own last write or the scope's last change.
    const required = maxLsn(readerLsn, stamp ?? undefined);
    const store = scoped ? this.#scoped : this.#store;
    const id = `${kind}:${key}`;
    const { value: entry, loaded } = await store.get(id, async () => {
      // No user on the context: the page is shared; the loading reader's own position is `required`.
      const lsn = maxLsn(this.positions.rotationFloorLsn(), required);
      return { lsn: lsn ?? null, version: stamp, page: await load(lsn === undefined ? {} : { minLsn: lsn }) };
    });
    if (entry.version === stamp && covers(entry.lsn, required)) {
      this.layer.metrics?.firstPageReads.inc({ kind, result: loaded ? 'loaded' : 'hit' });
      return entry.page as T;
    }
    this.layer.metrics?.firstPageReads.inc({ kind, result: 'too_old' });
    // Read at the reader's position (the router sees to it), then kept for the readers after
    // them: one who just wrote refreshes the shared entry instead of leaving it behind.
    const page = await load(required === undefined || required === readerLsn ? ctx : { minLsn: required });
    if (required !== undefined || stamp !== undefined) store.set(id, { lsn: required ?? null, version: stamp, page });
    return page;
  }
}
