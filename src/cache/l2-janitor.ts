import type { Redis } from 'ioredis';
import type { RedisHealth } from './redis-connection.ts';
import { scanUnlink, ScanIncompleteError } from './scan-unlink.ts';

/**
 * Makes L2 (Redis) deletes stick across outages.
 *
 * bentocache's delete skips Redis silently while its circuit breaker is open or Redis is
 * unreachable. If Redis was only partitioned away (not restarted), the old value is still
 * there when it comes back, and would be served until its TTL. So every invalidated key
 * also goes through here: UNLINKed now if Redis is up, otherwise remembered and UNLINKed
 * first thing when the command connection is ready again (those commands go out before
 * any read: with no offline queue nothing else is waiting on the socket). More than
 * MAX_PENDING remembered keys, or an L2 flush requested while down, becomes a flush of
 * the cache's keys when Redis returns.
 */
const MAX_PENDING = 10_000;
const RETRY_MS = 1_000;

export class L2Janitor {
  readonly #pending = new Set<string>();
  readonly #flushPending = new Set<string>();
  readonly #flushWaiters = new Map<string, Array<() => void>>();
  readonly #timer: NodeJS.Timeout;
  #recovering = false;
  pendingApplied = 0;

  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    private readonly onError: (what: string, err: unknown) => void,
    /** Runs a deferred flush; the layer wraps it so reads bypass L2 while it runs. */
    private readonly runDeferredFlush: (pattern: string) => Promise<unknown>,
    /**
     * Told the keys a deferred UNLINK removed. Until it ran (up to RETRY_MS after our breaker
     * closed), reads could still find the old value in Redis and copy it into L1, where the
     * UNLINK does not reach: the layer drops those L1 copies too.
     */
    private readonly onDeferredUnlinked: (fullKeys: readonly string[]) => void = () => undefined,
  ) {
    health.onRecovered(() => { void this.#recover(); });
    // Deletes deferred while the socket stayed up (a stalled Redis, our breaker open) see
    // no reconnect event: retry them on a timer too.
    this.#timer = setInterval(() => {
      if ((this.#pending.size > 0 || this.#flushPending.size > 0) && this.health.ready && !this.#recovering) void this.#recover();
    }, RETRY_MS);
    this.#timer.unref();
  }

  stop(): void { clearInterval(this.#timer); }

  get pendingCount(): number { return this.#pending.size; }
  get flushPendingPatterns(): readonly string[] { return [...this.#flushPending]; }

  /** UNLINKs keys now, or remembers them for when Redis is back. */
  unlink(fullKeys: readonly string[], flushPatternIfOverflow: string): void {
    if (fullKeys.length === 0) return;
    if (!this.health.ready) {
      this.#remember(fullKeys, flushPatternIfOverflow);
      return;
    }
    this.redis.unlink(...fullKeys).catch((err: unknown) => {
      this.health.noteFailure(err);
      this.#remember(fullKeys, flushPatternIfOverflow);
    });
  }

  /**
   * Deletes every key matching `pattern` (SCAN + UNLINK). Down: deferred until Redis returns.
   * `failedWhileUp`: Redis answered but the flush did not finish (a command failed, SCAN's page
   * bound stopped it): its entries may still be read there until the retry (`whenFlushed`).
   */
  async flush(pattern: string): Promise<{ readonly deleted: number; readonly failedWhileUp: boolean }> {
    if (!this.health.ready) {
      this.#flushPending.add(pattern);
      return { deleted: 0, failedWhileUp: false };
    }
    try {
      const deleted = await this.scanDelete(pattern);
      for (const wake of this.#flushWaiters.get(pattern)?.splice(0) ?? []) wake();
      return { deleted, failedWhileUp: false };
    } catch (err) {
      this.#flushPending.add(pattern);
      this.onError('l2 flush', err);
      return { deleted: 0, failedWhileUp: true };
    }
  }

  /** Resolves at the next flush of `pattern` that finishes (the retry of one that did not). */
  whenFlushed(pattern: string): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#flushWaiters.get(pattern) ?? [];
      waiters.push(resolve);
      this.#flushWaiters.set(pattern, waiters);
    });
  }

  #remember(keys: readonly string[], pattern: string): void {
    if (this.#pending.size + keys.length > MAX_PENDING) {
      this.#flushPending.add(pattern);
      return;
    }
    for (const k of keys) this.#pending.add(k);
  }

  /**
   * Deletes every key matching `pattern` now. Throws ScanIncompleteError if SCAN's page bound
   * stopped it (scan-unlink.ts): the caller must not take the flush as done.
   */
  async scanDelete(pattern: string, maxPages?: number): Promise<number> {
    const walk = await scanUnlink(this.redis, pattern, maxPages);
    if (!walk.complete) throw new ScanIncompleteError(pattern, walk.pages, walk.deleted);
    return walk.deleted;
  }

  async #recover(): Promise<void> {
    this.#recovering = true;
    try {
      await this.#recoverOnce();
    } finally {
      this.#recovering = false;
    }
  }

  async #recoverOnce(): Promise<void> {
    // Issued synchronously on 'ready', so these reach Redis before any new read.
    const keys = [...this.#pending];
    this.#pending.clear();
    const patterns = [...this.#flushPending];
    this.#flushPending.clear();
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < keys.length; i += 500) jobs.push(this.redis.unlink(...keys.slice(i, i + 500)));
    try {
      await Promise.all(jobs);
      this.pendingApplied += keys.length;
      if (keys.length > 0) this.onDeferredUnlinked(keys);
    } catch (err) {
      for (const k of keys) this.#pending.add(k);
      this.health.noteFailure(err);
      this.onError('l2 recovery', err);
    }
    // flush() re-defers itself if Redis drops again meanwhile. All at once: a cache whose
    // flush waited behind another's kept reading the Redis copies its flush was to remove.
    await Promise.all(patterns.map((p) => this.runDeferredFlush(p)));
  }
}
