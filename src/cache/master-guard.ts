import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import type { L2Janitor } from './l2-janitor.ts';
import type { RedisHealth } from './redis-connection.ts';
import { parseInfo } from './redis-memory.ts';

/**
 * Keeps a change of Redis master from serving what the old master had invalidated.
 *
 * Replication is asynchronous: an UNLINK the old master acknowledged may never have reached
 * the replica Sentinel promotes, so the new master can hold a value the app deleted (a
 * profile before its edit, a session after its logout). Every instance therefore checks,
 * each time its command connection becomes ready, which master it reached: the namespace
 * records the term of the master it was last checked on (`<ns>:master`, replicated like
 * everything else, so a promoted replica still carries its old master's; masterTerm). When
 * the ids differ, or the mark is missing (a new or emptied Redis), the instance FLUSHES
 * the namespace's cache entries (SCAN + UNLINK of `<ns>:<cache>:*`) and its own L1,
 * then writes the new id. Other instances then find the mark matching and flush nothing
 * (several racing to flush only cost misses).
 *
 * Flush, not versioned keys: bentocache's store prefixes are fixed when the store is built,
 * so a per-master key version would mean rebuilding the stores (and their buses) on every
 * change, and every orphaned key would sit in memory until its TTL (10 minutes of
 * profiles, beside the new copies). A flush runs once per master change, costs a SCAN of
 * the namespace (milliseconds for thousands of keys), and leaves nothing behind.
 *
 * From the moment the socket connects (before the ready check, so before any command of
 * ours can run) until that check is done, reads bypass L1 and L2 (TypedCache.holdBypass):
 * they go to PostgreSQL. L1 is included because bus messages sent while we were away
 * were lost too. A connection that never comes up holds nothing: with Redis down L1
 * still serves (fail-open).
 */
export interface GuardedCache {
  readonly name: string;
  holdBypass(): () => void;
  /** L1 only here (`l2` false); fenced, so loads in flight reload and the next ones read the primary. */
  flush(l2: boolean, fence?: boolean): Promise<void>;
}

export interface MasterGuardOptions {
  readonly redis: Redis;
  readonly health: RedisHealth;
  readonly markKey: string;
  readonly caches: readonly GuardedCache[];
  /** SCAN patterns of the cache entries to delete on a change (one per cache). */
  readonly patterns: readonly string[];
  readonly janitor: Pick<L2Janitor, 'scanDelete'>;
  readonly log: Logger;
  /** Counted per flushed cache (bgc_cache_invalidations_total{source="flush"}). */
  readonly onFlush?: (cache: string) => void;
}

export interface MasterChange {
  readonly from: string | null;
  readonly to: string;
  readonly deleted: number;
  readonly ms: number;
  readonly at: string;
}

const RETRY_MS = 250;

export class MasterGuard {
  #releases: Array<() => void> | undefined;
  /** Bumped on every connect: a check for an older connection stops. */
  #connection = 0;
  #verified: string | undefined;
  readonly #waiters: Array<() => void> = [];
  /** Flushes done because the master changed (or the mark was missing). */
  readonly changes: MasterChange[] = [];
  #closed = false;
  /** The master this instance last checked, kept across disconnects (#verified is not). */
  #lastChecked: string | undefined;
  readonly #changeListeners: Array<() => void> = [];

  constructor(private readonly o: MasterGuardOptions) {
    // 'connect' comes before the ready check's round trip, so before any command can run.
    o.redis.on('connect', () => this.#hold());
    o.redis.on('ready', () => { void this.#verify(this.#connection); });
    // No connection, no master: the next one is checked again before whenVerified says yes.
    // The bypass goes with the connection: while Redis is away L1 serves (the listener keeps it
    // current), and a Redis that accepts connections and then fails its ready check (frozen,
    // crash-looping) otherwise kept every read of every instance on PostgreSQL until it came
    // back. The next 'connect' holds it again until that master is checked.
    o.redis.on('close', () => {
      this.#verified = undefined;
      this.#release();
    });
  }

  /**
   * Called when this instance finds itself on another master than the one it checked before
   * (or finds the namespace's mark naming another), before reads use the cache again. Whatever
   * the old master held and the new one lacks is lost: a chat scope's raised position among
   * it (page-versions.ts distrusts every position for its keep time).
   */
  onMasterChanged(fn: () => void): void { this.#changeListeners.push(fn); }

  /** The term (masterTerm) of the master this connection reached, once checked (and flushed if it changed). */
  get verifiedMaster(): string | undefined { return this.#verified; }

  /** True while reads bypass the cache because the current master is not checked yet. */
  get holding(): boolean { return this.#releases !== undefined; }

  /** Resolves true once a master has been checked, false after `timeoutMs` (warm-up waits here). */
  async whenVerified(timeoutMs: number): Promise<boolean> {
    if (this.#verified !== undefined && !this.holding) return true;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      new Promise<boolean>((resolve) => { this.#waiters.push(() => resolve(true)); }),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]);
    clearTimeout(timer);
    return ok;
  }

  close(): void {
    this.#closed = true;
    this.#release();
  }

  #hold(): void {
    this.#connection++;
    this.#verified = undefined;
    if (this.#closed || this.#releases) return;
    this.#releases = this.o.caches.map((c) => c.holdBypass());
  }

  #release(): void {
    for (const release of this.#releases ?? []) release();
    this.#releases = undefined;
  }

  async #verify(connection: number): Promise<void> {
    const { redis } = this.o;
    while (!this.#closed && connection === this.#connection && redis.status === 'ready') {
      try {
        const [info, mark] = await Promise.all([redis.info(), redis.get(this.o.markKey)]);
        const term = masterTerm(parseInfo(info));
        if (mark !== term) await this.#flush(mark, term);
        if (connection !== this.#connection) return;
        // Per instance too: the first instance on the new master rewrote the mark, so the
        // others find it current, yet their own state (chat pages checked against positions
        // the old master held) predates the change as much as the first one's did.
        const before = this.#lastChecked;
        this.#lastChecked = term;
        if ((before !== undefined && before !== term) || (mark !== null && mark !== term)) {
          for (const fn of this.#changeListeners) fn();
        }
        this.#verified = term;
        this.#release();
        for (const wake of this.#waiters.splice(0)) wake();
        return;
      } catch (err) {
        // Reads keep bypassing the cache; the next ready (or this retry) checks again.
        this.o.health.noteFailure(err);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  async #flush(from: string | null, to: string): Promise<void> {
    const started = Date.now();
    // L1 first (and fenced): our own copies may also predate invalidations lost with the old master's bus.
    for (const cache of this.o.caches) {
      this.o.onFlush?.(cache.name);
      await cache.flush(false);
    }
    // Each SCAN walks the whole keyspace (MATCH filters after): run them side by side.
    const counts = await Promise.all(this.o.patterns.map((pattern) => this.o.janitor.scanDelete(pattern)));
    const deleted = counts.reduce((a, b) => a + b, 0);
    await this.o.redis.set(this.o.markKey, to);
    const change: MasterChange = { from, to, deleted, ms: Date.now() - started, at: new Date().toISOString() };
    this.changes.push(change);
    if (this.changes.length > 20) this.changes.shift();
    // A first start on an empty Redis is not news; a different master is.
    const level = from === null ? 'info' : 'warn';
    this.o.log[level](change, from === null ? 'redis namespace had no master mark: cache entries flushed' : 'redis master changed: cache entries flushed');
  }
}

/**
 * Which master, in which term: `<run_id>:<master_replid>`. run_id names the process (a restart
 * changes it, whatever the RDB file restores); master_replid changes whenever a replica is
 * promoted. run_id alone survived a demotion: a master that slept (`DEBUG SLEEP`), was
 * replaced, resynced as a replica and was promoted again still had its old run_id, matched a
 * mark written in its first term, and kept what it held from before the other master's term.
 */
export function masterTerm(info: ReadonlyMap<string, string>): string {
  const runId = info.get('run_id');
  const replId = info.get('master_replid');
  if (!runId || !replId) throw new Error('INFO has no run_id or master_replid');
  return `${runId}:${replId}`;
}
