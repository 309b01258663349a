import type { Redis } from 'ioredis';
import { parseLsn } from '../db/lsn.ts';
import type { CacheKeys } from './keys.ts';
import type { MasterGuard } from './master-guard.ts';
import type { RedisHealth } from './redis-connection.ts';
import { SameTickBatch } from './same-tick-batch.ts';

/**
 * The change positions of the chat pages (issue 15): for each scope (a user's inbox, a
 * conversation's history), the WAL position of the last committed change to it, kept in
 * Redis so every instance sees it. The after-commit hooks raise it on a message, a read, a
 * moderator's hide of a message or a suspension (wiring.ts); the page cache serves an entry only if it was
 * loaded against the scope's current position, and loads at or after that position (page-cache.ts).
 *
 * Stored as a zero-padded LSN ("0000001A/B374D848"), so a string comparison orders it and
 * the Lua script can keep the maximum: two writers committing in one order and raising in
 * the other must not leave the older position behind. A write whose LSN is unknown stores
 * UNKNOWN_CHANGE, which sorts above every LSN: the scope's pages are read from the
 * database until the key expires.
 */
const RAISE_SCRIPT = `
for i, key in ipairs(KEYS) do
  local value = ARGV[i + 1]
  local current = redis.call('GET', key)
  if (not current) or current < value then
    redis.call('SET', key, value, 'PX', ARGV[1])
  else
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return #KEYS`;

export const UNKNOWN_CHANGE = '~';

/** What a scope's position read found. */
export type ScopeVersion =
  /** No change recorded within the keys' lifetime. */
  | { readonly kind: 'none' }
  | { readonly kind: 'at'; readonly value: string }
  /** A change of unknown position: do not serve this scope from the cache. */
  | { readonly kind: 'unknown' }
  /** Redis unavailable or unverified: changes may be missed, do not serve from the cache. */
  | { readonly kind: 'unavailable' };

export function paddedLsn(lsn: string): string {
  const v = parseLsn(lsn);
  const hi = (v >> 32n).toString(16).toUpperCase().padStart(8, '0');
  const lo = (v & 0xffffffffn).toString(16).toUpperCase().padStart(8, '0');
  return `${hi}/${lo}`;
}

/** The client with the raise script defined (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT). */
type RaisingRedis = Redis & { bgcRaisePageVersions(numKeys: number, ...keysThenArgs: string[]): Promise<number> };

/** One raise: the scopes' keys and the position they move to. */
interface Raise { readonly keys: readonly string[]; readonly value: string }

/** Raises remembered while Redis could not take them, at most this many scopes. */
const MAX_PENDING = 10_000;
const RETRY_MS = 1_000;

export class PageVersions {
  readonly #raising: RaisingRedis;
  /** The raises of one turn (a group commit's sends) go out as one EVALSHA (same-tick-batch.ts). */
  readonly #batch: SameTickBatch<Raise>;
  /**
   * Raises Redis did not take (this instance's breaker open, a failed call): key → highest
   * position, sent again once Redis is usable. Other instances may hold entries of these
   * scopes meanwhile; without the retry they served them until their TTL (the chat pages',
   * 10 s by default), with it for about RETRY_MS. Beyond MAX_PENDING scopes the rest wait
   * for their TTL.
   */
  readonly #pending = new Map<string, string>();
  readonly #retry: NodeJS.Timeout;
  #retrying = false;
  /** Until when positions are not trusted (distrust); 0: trusted. */
  #distrustUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    private readonly keys: CacheKeys,
    /** Whether Redis holds nothing older than our invalidations (false while the master guard holds). */
    private readonly verified: () => boolean,
    /** How long a scope's position is kept after its last change: at least the chat pages' TTL. */
    private readonly keepMs: number,
  ) {
    // By its SHA1 (EVALSHA), with the script sent again only when the server lacks it (a
    // restart, a new master), so a send does not carry the body. Redis spends about 21 µs per
    // message's raise either way: that is the script's own GETs and SETs, three of each
    // (docs/PERFORMANCE.md, "Redis commands per send"); one call carries a whole group's.
    redis.defineCommand('bgcRaisePageVersions', { lua: RAISE_SCRIPT });
    this.#raising = redis as RaisingRedis;
    this.#batch = new SameTickBatch((raises) => {
      const keys = raises.flatMap((r) => r.keys);
      const values = raises.flatMap((r) => r.keys.map(() => r.value));
      return this.#raising.bgcRaisePageVersions(keys.length, ...keys, String(this.keepMs), ...values);
    });
    // A breaker that closes sees no reconnect event: a timer retries too.
    health.onRecovered(() => { void this.#sendPending(); });
    this.#retry = setInterval(() => { void this.#sendPending(); }, RETRY_MS);
    this.#retry.unref();
  }

  /** Stops the retry timer (the cache layer's close). */
  stop(): void { clearInterval(this.#retry); }

  /** Scopes whose raise is waiting for Redis (tests, diagnostics). */
  get pendingCount(): number { return this.#pending.size; }

  /**
   * Records a committed change to `scopes` at `lsn` (undefined: position unknown). Throws if
   * Redis refuses. With Redis known to be down here (disconnected, or this instance's breaker
   * open) it returns at once, and the raise is sent once Redis is usable: this instance's
   * readers bypass the cache meanwhile, but other instances' may not (a log line per send
   * during an outage would say nothing new).
   */
  async raise(scopes: readonly string[], lsn: string | undefined): Promise<void> {
    if (scopes.length === 0) return;
    const value = lsn === undefined ? UNKNOWN_CHANGE : paddedLsn(lsn);
    const keys = scopes.map((s) => this.keys.pageVersion(s));
    if (!this.health.ready) {
      this.#remember(keys, value);
      return;
    }
    try {
      await this.#batch.add({ keys, value });
    } catch (err) {
      this.health.noteFailure(err);
      this.#remember(keys, value);
      throw err;
    }
  }

  #remember(keys: readonly string[], value: string): void {
    for (const key of keys) {
      const held = this.#pending.get(key);
      // Padded LSNs order as strings, and UNKNOWN_CHANGE above them all.
      if (held !== undefined) { if (held < value) this.#pending.set(key, value); } else if (this.#pending.size < MAX_PENDING) this.#pending.set(key, value);
    }
  }

  /** Sends the remembered raises (the script keeps the higher position), keeping them on failure. */
  async #sendPending(): Promise<void> {
    if (this.#pending.size === 0 || this.#retrying || !this.health.ready) return;
    this.#retrying = true;
    const batch = [...this.#pending];
    this.#pending.clear();
    try {
      await this.#raising.bgcRaisePageVersions(batch.length, ...batch.map(([k]) => k), String(this.keepMs), ...batch.map(([, v]) => v));
    } catch (err) {
      this.health.noteFailure(err);
      for (const [k, v] of batch) this.#remember([k], v);
    } finally {
      this.#retrying = false;
    }
  }

  /**
   * After a master change (master-guard.ts, onMasterChanged): a raise the old master took and
   * never passed on is gone, and the new master holds an older position for that scope, which
   * an entry loaded before the change matches, so it was served without the change (the
   * sender's own message too) until its TTL. Every position is distrusted for as long as one
   * is kept: those scopes read from the database, and this instance's entries are dropped.
   */
  distrust(): void { this.#distrustUntil = Date.now() + this.keepMs; }

  async read(scope: string): Promise<ScopeVersion> {
    if (!this.health.ready || !this.verified()) return { kind: 'unavailable' };
    if (Date.now() < this.#distrustUntil) return { kind: 'unavailable' };
    // A raise of ours not in Redis yet: Redis still holds the older position, and an entry
    // loaded against it would be served without the change (until the retry timer sent it,
    // up to a second after the breaker closed, the writer could miss their own message here).
    if (this.#pending.has(this.keys.pageVersion(scope))) return { kind: 'unavailable' };
    try {
      const v = await this.redis.get(this.keys.pageVersion(scope));
      if (v === null) return { kind: 'none' };
      if (v === UNKNOWN_CHANGE) return { kind: 'unknown' };
      return { kind: 'at', value: v };
    } catch (err) {
      this.health.noteFailure(err);
      return { kind: 'unavailable' };
    }
  }
}

/**
 * The chat pages' positions in `layer`'s Redis, distrusted for their keep time whenever this
 * instance finds a new master (PageVersions.distrust).
 */
export function pageVersionsFor(
  layer: { readonly redis: Redis; readonly health: RedisHealth; readonly keys: CacheKeys; readonly masterGuard: Pick<MasterGuard, 'holding' | 'onMasterChanged'> },
  keepMs: number,
): PageVersions {
  const versions = new PageVersions(layer.redis, layer.health, layer.keys, () => !layer.masterGuard.holding, keepMs);
  layer.masterGuard.onMasterChanged(() => versions.distrust());
  return versions;
}
