/** Where a user's last write LSN is kept; Redis-backed in the app (shared by instances). */
export interface LsnStore {
  get(userId: string): Promise<string | undefined>;
  set(userId: string, lsn: string): Promise<void>;
}

/**
 * The router's default store, for processes without the cache layer (CLI tools, tests
 * of the db layer): per process, 30 s like the Redis one (src/cache/lsn-store.ts).
 */
export class MemoryLsnStore implements LsnStore {
  readonly #map = new Map<string, { lsn: string; until: number }>();
  async get(userId: string): Promise<string | undefined> {
    const e = this.#map.get(userId);
    if (!e || e.until < Date.now()) return undefined;
    return e.lsn;
  }
  async set(userId: string, lsn: string): Promise<void> {
    this.#map.set(userId, { lsn, until: Date.now() + 30_000 });
  }
}
