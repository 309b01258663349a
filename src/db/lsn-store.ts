import { parseLsn } from './lsn.ts';

/**
 * A store's answer when it cannot tell whether the user has a mark (its shared copy is
 * unreachable): another instance may have recorded a write this one never saw, so the
 * reader must assume one up to the primary's position now (ReplicaRouter).
 */
export const MARK_UNKNOWN: unique symbol = Symbol('read-your-writes mark unknown');

/** A user's mark, none (`undefined`), or MARK_UNKNOWN. */
export type MarkAnswer = string | undefined | typeof MARK_UNKNOWN;

/** Where a user's last write LSN is kept; Redis-backed in the app (shared by instances). */
export interface LsnStore {
  get(userId: string): Promise<MarkAnswer>;
  set(userId: string, lsn: string): Promise<void>;
}

/**
 * How long a user's last write LSN is kept, for every store: longer than any replica may
 * lag before it leaves rotation (BGC_REPLICA_MAX_LAG_MS, 2 s), so the user's reads within
 * it go to a replica that replayed the write, or to the primary.
 */
export const LSN_TTL_MS = 30_000;

/**
 * The router's default store, for processes without the cache layer (CLI tools, tests
 * of the db layer): per process, with the same TTL as the Redis one (src/cache/lsn-store.ts).
 */
export class MemoryLsnStore implements LsnStore {
  readonly #map = new Map<string, { lsn: string; until: number }>();
  /** `now` is the clock (Unix ms); tests pass their own. */
  constructor(private readonly now: () => number = Date.now) {}
  async get(userId: string): Promise<string | undefined> {
    const e = this.#map.get(userId);
    if (!e || e.until <= this.now()) return undefined;
    return e.lsn;
  }
  /** Keeps the newer of a live mark and `lsn` (marks of concurrent writes may arrive out of order). */
  async set(userId: string, lsn: string): Promise<void> {
    const now = this.now();
    const held = this.#map.get(userId);
    if (held && held.until > now && parseLsn(held.lsn) > parseLsn(lsn)) return;
    this.#map.set(userId, { lsn, until: now + LSN_TTL_MS });
  }
}
