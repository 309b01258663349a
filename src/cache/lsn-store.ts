import type { Redis } from 'ioredis';
import { LSN_TTL_MS, type LsnStore } from '../db/lsn-store.ts';
import { isValidLsn, maxLsn, parseLsn } from '../db/lsn.ts';
import type { CacheKeys } from './keys.ts';
import type { RedisHealth } from './redis-connection.ts';
import { SameTickBatch } from './same-tick-batch.ts';

/**
 * Read-your-writes marks shared by every instance: after a user's write, the primary's
 * WAL LSN is kept for LSN_TTL_MS (src/db/lsn-store.ts, 30 s), so that user's next read on
 * ANY instance goes to a replica that replayed it.
 *
 * Also kept in a local map: if Redis is down, writes and reads that land on the same
 * instance still get read-your-writes (the answer is the max of both).
 */
const MAX_LOCAL = 50_000;

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
  }

  async get(userId: string): Promise<string | undefined> {
    const now = this.now();
    const local = this.#local.get(userId);
    const localLsn = local && local.until > now ? local.lsn : undefined;
    if (!this.health.ready) return localLsn;
    try {
      const remote = await this.redis.get(this.keys.lsn(userId));
      return maxLsn(localLsn, remote !== null && isValidLsn(remote) ? remote : undefined);
    } catch (err) {
      this.health.noteFailure(err);
      return localLsn;
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
    if (!this.health.ready) return;
    try {
      await this.#marks.add({ key: this.keys.lsn(userId), lsn });
    } catch (err) {
      // The local copy still serves this instance.
      this.health.noteFailure(err);
    }
  }
}
