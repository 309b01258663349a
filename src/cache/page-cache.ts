import type { QueryContext } from '../db/database.ts';
import { maxLsn, parseLsn } from '../db/lsn.ts';
import type { FirstPageKind, FirstPages } from '../services/first-pages.ts';
import type { CacheLayer } from './cache-layer.ts';
import { PageStore } from './page-store.ts';

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
 * Why a position and not invalidation: a user's write changes many readers' pages (every
 * follower's feed, the recipient's inbox), and the entries need not be found and dropped
 * for correctness; the TTL bounds how long others miss it. Entries live in this process
 * only (page-store.ts says why), one load per key at a time.
 */
export interface PositionSource {
  /** Without replicas no write leaves a read-your-writes mark, so no entry could be checked against one. */
  readonly replicas: readonly unknown[];
  requiredLsn(ctx: QueryContext): Promise<string | undefined>;
  rotationFloorLsn(): string | undefined;
}

interface StampedPage {
  /** The page reflects at least this WAL position (null: unknown, e.g. no replicas). */
  readonly lsn: string | null;
  readonly page: unknown;
}

export function covers(stamp: string | null, required: string | undefined): boolean {
  if (required === undefined) return true;
  return stamp !== null && parseLsn(stamp) >= parseLsn(required);
}

/**
 * Entries kept at most. A history page (50 messages) is about 10 KB, so this bounds the store to
 * about 50 MB; expired entries are dropped as new ones are written (page-store.ts), so it holds
 * about one TTL's worth of distinct pages.
 */
const MAX_PAGES = 5_000;

export class PageCache implements FirstPages {
  readonly #store: PageStore<StampedPage>;

  constructor(private readonly layer: CacheLayer, private readonly positions: PositionSource, ttlMs: number) {
    this.#store = new PageStore(ttlMs, MAX_PAGES);
  }

  get entries(): number { return this.#store.size; }

  async page<T>(kind: FirstPageKind, key: string, ctx: QueryContext, load: (ctx: QueryContext) => Promise<T>): Promise<T> {
    // Primary only: every read is current and no mark says what a reader wrote; no cache.
    if (ctx.forcePrimary || this.positions.replicas.length === 0) return load(ctx);
    const required = await this.positions.requiredLsn(ctx);
    const id = `${kind}:${key}`;
    const { value: entry, loaded } = await this.#store.get(id, async () => {
      // No user on the context: the page is shared; the loading reader's own position is `required`.
      const lsn = maxLsn(this.positions.rotationFloorLsn(), required);
      return { lsn: lsn ?? null, page: await load(lsn === undefined ? {} : { minLsn: lsn }) };
    });
    if (covers(entry.lsn, required)) {
      this.layer.metrics?.firstPageReads.inc({ kind, result: loaded ? 'loaded' : 'hit' });
      return entry.page as T;
    }
    this.layer.metrics?.firstPageReads.inc({ kind, result: 'too_old' });
    // Read at the reader's position (the router sees to it), then kept for the readers after
    // them: one who just wrote refreshes the shared entry instead of leaving it behind.
    const page = await load(ctx);
    if (required !== undefined) this.#store.set(id, { lsn: required, page });
    return page;
  }
}
