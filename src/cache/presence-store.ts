import type { Redis } from 'ioredis';
import type { RedisHealth } from './redis-connection.ts';

/**
 * Presence (online / last seen) in Redis, shared by every instance:
 *
 *   <ns>:rt:online:<user id>   sorted set: member = instance id, score = when that
 *                              instance's claim expires (ms); key TTL = the latest claim
 *   <ns>:rt:seen:<user id>     last time the user was seen connected (ms), 30-day TTL
 *
 * A user is online while some instance's claim has not expired. Each instance renews
 * the claims of the users connected to it on every heartbeat sweep and withdraws its
 * claim when the user's last local socket closes. A per-instance member (not one shared
 * flag) means one instance's disconnect cannot mark a user offline who is still
 * connected elsewhere, and the score (not only the key TTL) means a crashed instance's
 * claim expires even while other instances keep the key alive.
 */
const SEEN_TTL_MS = 30 * 24 * 3_600_000;
const BATCH = 200;

export interface PresenceReading {
  readonly online: boolean;
  /** Unix ms; null when never seen within the last 30 days. */
  readonly lastSeenMs: number | null;
}

export class PresenceStore {
  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    private readonly namespace: string,
    private readonly instanceId: string,
  ) {}

  #online(userId: string): string { return `${this.namespace}:rt:online:${userId}`; }
  #seen(userId: string): string { return `${this.namespace}:rt:seen:${userId}`; }

  /**
   * Claims (or renews) "online" for these users for `ttlMs`, in pipelines of 200 users.
   * Fail-open. `stillHere` is asked just before each pipeline is sent: a user whose last
   * socket closed while earlier pipelines ran was released (ZREM) meanwhile, and renewing
   * the snapshot's claim after that showed them online for another TTL.
   */
  async claim(userIds: readonly string[], ttlMs: number, stillHere: (userId: string) => boolean = () => true): Promise<void> {
    if (!this.#connected() || userIds.length === 0) return;
    const now = Date.now();
    for (let i = 0; i < userIds.length; i += BATCH) {
      const p = this.redis.pipeline();
      for (const id of userIds.slice(i, i + BATCH)) {
        if (!stillHere(id)) continue;
        p.zadd(this.#online(id), now + ttlMs, this.instanceId);
        p.pexpire(this.#online(id), ttlMs);
        p.set(this.#seen(id), String(now), 'PX', SEEN_TTL_MS);
      }
      try {
        await p.exec();
      } catch (err) {
        this.health.noteFailure(err);
        return;
      }
    }
  }

  /** This instance's last socket of the user closed. */
  async release(userId: string): Promise<void> {
    if (!this.#connected()) return;
    try {
      await this.redis.pipeline()
        .zrem(this.#online(userId), this.instanceId)
        .set(this.#seen(userId), String(Date.now()), 'PX', SEEN_TTL_MS)
        .exec();
    } catch (err) {
      this.health.noteFailure(err);
    }
  }

  /**
   * Claims and releases go out whenever the socket is up, past our breaker (health.ready):
   * the breaker opens for a second after any failed command (a timeout, or our own event
   * loop reading a reply late), and a release it skipped showed the user online for the
   * claim's whole lifetime, a claim it skipped offline until the next heartbeat.
   */
  #connected(): boolean { return this.redis.status === 'ready'; }

  /** Undefined when Redis cannot answer (the caller decides how to say so). */
  async read(userId: string): Promise<PresenceReading | undefined> {
    if (!this.health.ready) return undefined;
    try {
      const [count, seen] = await Promise.all([
        this.redis.zcount(this.#online(userId), Date.now(), '+inf'),
        this.redis.get(this.#seen(userId)),
      ]);
      const ms = seen === null ? Number.NaN : Number(seen);
      return { online: count > 0, lastSeenMs: Number.isFinite(ms) ? ms : null };
    } catch (err) {
      this.health.noteFailure(err);
      return undefined;
    }
  }
}
