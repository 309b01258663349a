import type { Redis } from 'ioredis';
import { LSN_TTL_MS, MARK_UNKNOWN, type LsnStore, type MarkAnswer } from '../db/lsn-store.ts';
import { isValidLsn, maxLsn, parseLsn } from '../db/lsn.ts';
import type { CacheKeys } from './keys.ts';
import type { RedisHealth } from './redis-connection.ts';
import { SameTickBatch } from './same-tick-batch.ts';

/**
 * Read-your-writes marks shared by every instance: after a user's write, the primary's
 * WAL LSN is kept for LSN_TTL_MS (src/db/lsn-store.ts, 30 s), so that user's next read on
 * ANY instance goes to a replica that replayed it.
 *
 * Also kept in a local map, the floor of every answer. A mark is sent even while this
 * instance's breaker is open (#sendWhileBroken). While Redis cannot be asked (down, or this
 * instance's breaker open after a slow command), a read's answer is MARK_UNKNOWN:
 * another instance may have recorded a mark there that this one cannot see, and its local
 * copy alone let a user's read on a second instance take a replica without the write. A
 * mark that could not be written is kept and written once Redis answers again (within its
 * TTL), so other instances see it then. After a reconnect the answer stays unknown for a
 * mark's lifetime: the master may have changed or restarted, losing marks.
 */
const MAX_LOCAL = 50_000;
/**
 * How long a write waits for its mark while this instance's breaker is open but its connection
 * is up (#sendWhileBroken): long enough for a Redis that answers, short enough that a stalled
 * one costs each write little.
 */
const MARK_WAIT_WHILE_BROKEN_MS = 50;
/** How often marks Redis missed are tried again while they wait (#scheduleResend). */
const RESEND_MS = 100;

/**
 * Raises each key to its value, with the same lifetime, unless the key holds a later LSN
 * (one script call). Two instances can record one user's marks out of commit order (each
 * fetched its LSN after its own commit), and a mark must never go back in Redis either:
 * a later read on a third instance would then take a replica without the newer write.
 * LSNs are compared as numbers (hi/lo halves, each exact in a Lua double).
 */
const SET_MARKS_SCRIPT = `
local function later(a, b)
  local ah, al = string.match(a, '^(%x+)/(%x+)$')
  local bh, bl = string.match(b, '^(%x+)/(%x+)$')
  if not ah or not bh then return false end
  ah, al, bh, bl = tonumber(ah, 16), tonumber(al, 16), tonumber(bh, 16), tonumber(bl, 16)
  return ah > bh or (ah == bh and al > bl)
end
for i, key in ipairs(KEYS) do
  local value = ARGV[i + 1]
  local current = redis.call('GET', key)
  if current and later(current, value) then
    redis.call('PEXPIRE', key, ARGV[1])
  else
    redis.call('SET', key, value, 'PX', ARGV[1])
  end
end
return #KEYS`;

/** The client with the marks script defined (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT). */
type MarkingRedis = Redis & { bgcSetLsnMarks(numKeys: number, ...keysThenArgs: string[]): Promise<number> };

interface Mark { readonly key: string; readonly lsn: string }

export class RedisLsnStore implements LsnStore {
  readonly #local = new Map<string, { lsn: string; until: number }>();
  /** Marks not written to Redis yet (it could not be asked): written when it answers again. */
  readonly #unsent = new Set<string>();
  #resendTimer: NodeJS.Timeout | undefined;
  /** Until then a read's answer is MARK_UNKNOWN: marks may have been lost with a reconnect (onRecovered). */
  #unknownUntil = 0;
  /** The marks of one turn (a group commit's writers) go out as one EVALSHA (same-tick-batch.ts). */
  readonly #marks: SameTickBatch<Mark>;

  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    private readonly keys: CacheKeys,
    /** The clock (Unix ms) of the local copies' TTL; tests pass their own. */
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('bgcSetLsnMarks', { lua: SET_MARKS_SCRIPT });
    const marking = redis as MarkingRedis;
    this.#marks = new SameTickBatch((marks) =>
      marking.bgcSetLsnMarks(marks.length, ...marks.map((m) => m.key), String(LSN_TTL_MS), ...marks.map((m) => m.lsn)));
    health.onRecovered(() => {
      // Back after a lost connection: the master may have changed (a Sentinel failover loses
      // what the old one acknowledged and never replicated) or restarted empty, so a missing
      // mark proves nothing until every mark from before could have expired.
      this.#unknownUntil = this.now() + LSN_TTL_MS;
      if (this.#unsent.size > 0) void this.#sendUnsent();
    });
  }

  /**
   * While marks wait, tries again every RESEND_MS once Redis can be asked: a breaker opened
   * by one slow command closes by itself, with no reconnect (onRecovered) to announce it,
   * and another instance reading the user's mark meanwhile finds none.
   */
  #scheduleResend(): void {
    if (this.#resendTimer || this.#unsent.size === 0) return;
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = undefined;
      if (this.health.ready) void this.#sendUnsent().finally(() => this.#scheduleResend());
      else this.#scheduleResend();
    }, RESEND_MS);
    this.#resendTimer.unref();
  }

  async get(userId: string): Promise<MarkAnswer> {
    if (!this.health.ready || this.now() < this.#unknownUntil) return MARK_UNKNOWN;
    try {
      const remote = await this.redis.get(this.keys.lsn(userId));
      if (this.#unsent.size > 0) void this.#sendUnsent();
      return maxLsn(this.#localLsn(userId), remote !== null && isValidLsn(remote) ? remote : undefined);
    } catch (err) {
      this.health.noteFailure(err);
      return MARK_UNKNOWN;
    }
  }

  #localLsn(userId: string): string | undefined {
    const local = this.#local.get(userId);
    return local && local.until > this.now() ? local.lsn : undefined;
  }

  /** Writes the marks Redis missed (with a whole TTL again: longer, never shorter); kept for later if it fails again. */
  async #sendUnsent(): Promise<void> {
    const users = [...this.#unsent];
    this.#unsent.clear();
    const now = this.now();
    const marks = users.flatMap((u) => {
      const local = this.#local.get(u);
      return local && local.until > now ? [{ user: u, key: this.keys.lsn(u), lsn: local.lsn }] : [];
    });
    try {
      await Promise.all(marks.map((m) => this.#marks.add({ key: m.key, lsn: m.lsn })));
    } catch (err) {
      this.health.noteFailure(err);
      for (const m of marks) this.#keepUnsent(m.user);
    }
  }

  /**
   * Records `lsn` unless a newer mark is held: two writes of one user commit in one order
   * but may record their marks in the other, and a mark must never go back. This
   * instance's copy skips the older call; Redis keeps the later of what it holds and what
   * it is given (SET_MARKS_SCRIPT), whichever instance recorded it.
   */
  async set(userId: string, lsn: string): Promise<void> {
    const now = this.now();
    const held = this.#local.get(userId);
    if (held && held.until > now && parseLsn(held.lsn) > parseLsn(lsn)) return;
    this.#local.delete(userId);
    this.#local.set(userId, { lsn, until: now + LSN_TTL_MS });
    if (this.#local.size > MAX_LOCAL) {
      for (const [k, v] of this.#local) {
        if (v.until > now && this.#local.size <= MAX_LOCAL) break;
        this.#local.delete(k);
      }
    }
    if (!this.health.ready) {
      if (!(await this.#sendWhileBroken(userId, lsn))) this.#keepUnsent(userId);
      return;
    }
    try {
      await this.#marks.add({ key: this.keys.lsn(userId), lsn });
      if (this.#unsent.size > 0) void this.#sendUnsent();
    } catch (err) {
      // The local copy serves this instance; Redis gets the mark when it answers again.
      this.health.noteFailure(err);
      this.#keepUnsent(userId);
    }
  }

  /**
   * The breaker is open (one of this instance's commands was slow in the last second) but the
   * connection is up: the mark is still sent, and the write waits for it at most
   * MARK_WAIT_WHILE_BROKEN_MS. The breaker is this instance's alone: another instance whose
   * commands were fast reads Redis, finds no mark, and answers the user from a replica without
   * the write, so a skipped mark broke read-your-writes for up to a second. True when Redis has it.
   */
  async #sendWhileBroken(userId: string, lsn: string): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    const sent = this.#marks.add({ key: this.keys.lsn(userId), lsn }).then(() => true, (err: unknown) => {
      this.health.noteFailure(err);
      return false;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), MARK_WAIT_WHILE_BROKEN_MS); });
    try {
      // Late: kept as unsent too (a second write of the same mark is harmless, SET_MARKS_SCRIPT).
      return await Promise.race([sent, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Bounded like the local copies: past MAX_LOCAL, the oldest waiting marks are dropped. */
  #keepUnsent(userId: string): void {
    this.#unsent.delete(userId);
    this.#unsent.add(userId);
    for (const u of this.#unsent) {
      if (this.#unsent.size <= MAX_LOCAL) break;
      this.#unsent.delete(u);
    }
    this.#scheduleResend();
  }
}
