import type { Redis } from 'ioredis';
import type { RedisHealth } from './redis-connection.ts';

/**
 * Which instances are listening for database invalidations right now, and since when
 * (a Redis hash `<ns>:listeners`: instance id → {since, beat}).
 *
 * NOTIFY has no replay, so an instance whose listener was disconnected must assume its
 * L1 missed invalidations and clear it. Redis (L2) is shared, though: if another
 * instance was listening during the whole gap, it applied every invalidation to Redis
 * and L2 is sound. Only when nobody covered the gap must L2 be flushed as well. Unknown
 * (Redis down, hash evicted) counts as "not covered": the safe answer.
 */
const BEAT_MS = 2_000;
const ALIVE_MS = 6_000;
const HASH_TTL_S = 60;

interface Beat { readonly since: number; readonly beat: number }

export class ListenerCoverage {
  #since: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #removalPending = false;

  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    private readonly hashKey: string,
    readonly instanceId: string,
  ) {
    health.onRecovered(() => { if (this.#removalPending && this.#since === undefined) this.#removeClaim(); });
  }

  /** Our listener is connected (since `since`): start beating. */
  listening(since: number): void {
    this.#since = since;
    void this.#beat();
    if (!this.#timer) {
      this.#timer = setInterval(() => { void this.#beat(); }, BEAT_MS);
      this.#timer.unref();
    }
  }

  /**
   * Our listener dropped: stop claiming coverage. The claim is removed now, or as soon as
   * Redis answers again: left in place, it would look alive for ALIVE_MS more and a peer
   * reconnecting meanwhile would skip its Redis flush for a gap we did not cover.
   */
  stopped(): void {
    this.#since = undefined;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#removeClaim();
  }

  /** Sent even while our breaker is open (the socket may be fine); refused without a connection, then retried on reconnect. */
  #removeClaim(): void {
    this.redis.hdel(this.hashKey, this.instanceId).then(
      () => { this.#removalPending = false; },
      () => { this.#removalPending = true; },
    );
  }

  /**
   * Was some OTHER instance listening, without interruption, from `gapStart` until now?
   * `gapStart` undefined (start-up) asks only whether another live listener exists.
   */
  async coveredSince(gapStart: number | undefined): Promise<boolean> {
    if (!this.health.ready) return false;
    try {
      const all = await this.redis.hgetall(this.hashKey);
      const now = Date.now();
      for (const [id, raw] of Object.entries(all)) {
        if (id === this.instanceId) continue;
        const b = JSON.parse(raw) as Beat;
        if (now - b.beat > ALIVE_MS) continue;
        if (gapStart === undefined || b.since <= gapStart) return true;
      }
      return false;
    } catch {
      return false;
    }
  }

  async #beat(): Promise<void> {
    if (this.#since === undefined || !this.health.ready) return;
    const value: Beat = { since: this.#since, beat: Date.now() };
    try {
      await this.redis.multi().hset(this.hashKey, this.instanceId, JSON.stringify(value)).expire(this.hashKey, HASH_TTL_S).exec();
    } catch {
      // Next beat retries; missing beats only make peers flush more, never less.
    }
  }

  close(): void { this.stopped(); }
}
