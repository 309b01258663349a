/**
 * A short memory of which keys were invalidated and when. It serves two races that a
 * plain "delete after commit" leaves open:
 *
 *  1. Stale set (Facebook's lease problem): a loader reads the old row, the write commits
 *     and its invalidation arrives, then the loader stores the old row. Loaders take a
 *     `stamp` before reading and compare it after; a changed stamp means "reload".
 *  2. Lagging replica: right after an invalidation a loader may read a replica that has
 *     not replayed the write yet and cache the old row again. For `windowMs` after an
 *     invalidation, loads of that key ask for a fresh read (the primary).
 *
 * Every instance receives every invalidation (PostgreSQL NOTIFY), so a purely local
 * memory is enough; it is bounded in time and size.
 */
const MAX_KEYS = 100_000;

export class RecentInvalidations {
  readonly #at = new Map<string, { seq: number; at: number }>();
  #seq = 0;
  #flushSeq = 0;
  #flushAt = 0;

  /** `now` is the clock (Unix ms) the window is measured on; tests pass their own. */
  constructor(readonly windowMs: number, private readonly now: () => number = Date.now) {}

  note(key: string): void {
    const now = this.now();
    this.#at.delete(key);
    this.#at.set(key, { seq: ++this.#seq, at: now });
    if (this.#at.size > MAX_KEYS) this.#prune(now);
  }

  /** A flush changes every key at once. */
  noteAll(): void {
    this.#flushSeq = ++this.#seq;
    this.#flushAt = this.now();
  }

  /** Changes whenever `key` (or everything) is invalidated. */
  stamp(key: string): number {
    return Math.max(this.#at.get(key)?.seq ?? 0, this.#flushSeq);
  }

  /** True within `windowMs` of an invalidation of `key`: read it fresh from the primary. */
  recent(key: string): boolean {
    const cutoff = this.now() - this.windowMs;
    return this.#flushAt > cutoff || (this.#at.get(key)?.at ?? 0) > cutoff;
  }

  get size(): number { return this.#at.size; }

  #prune(now: number): void {
    // Insertion order is invalidation order, so the oldest entries are first.
    const cutoff = now - Math.max(this.windowMs, 10_000);
    let droppedRecent = false;
    for (const [key, v] of this.#at) {
      if (v.at > cutoff && this.#at.size <= MAX_KEYS) break;
      if (v.at > cutoff) droppedRecent = true;
      this.#at.delete(key);
    }
    // An entry still inside its window was forgotten (a burst of more than MAX_KEYS keys):
    // its stamp would fall back and its loads would read replicas again. Treat everything
    // as just invalidated instead, the safe side of both races.
    if (droppedRecent) this.noteAll();
  }
}
