import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisHealth } from './redis-connection.ts';

/**
 * Fleet-wide load lease (the part of Facebook's leases bentocache does not have: its
 * stampede lock is per process). On a miss, the loader first takes
 * `SET <ns>:lease:<cache>:<id> <token> NX PX ttl`. Whoever gets it loads from PostgreSQL;
 * the others, on any instance, wait until the lease is released (right after the holder
 * wrote the value to Redis) and then read Redis instead of the database.
 *
 * Fail-open everywhere: Redis down or erroring means "you hold the lease" (load from the
 * database, as without a cache); a holder that dies frees the lease by its TTL; a waiter
 * never waits longer than `maxWaitMs`.
 */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaseHandle { readonly acquired: boolean; readonly key: string; readonly token: string | undefined }

/** The client with the release script defined (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT). */
type ReleasingRedis = Redis & { bgcReleaseLease(key: string, token: string): Promise<number> };

export class FleetLease {
  acquiredCount = 0;
  waitedCount = 0;
  /**
   * A token only has to differ from every other holder's, fleet-wide, while a lease lives: a
   * random prefix per instance and a counter do that. (crypto.randomBytes per miss was 1% of
   * the API's CPU under the mixed workload on `large`: docs/PERFORMANCE.md.)
   */
  readonly #tokenPrefix = crypto.randomBytes(6).toString('hex');
  #tokenCounter = 0;
  readonly #releasing: ReleasingRedis;

  constructor(
    private readonly redis: Redis,
    private readonly health: RedisHealth,
    readonly ttlMs: number,
    readonly maxWaitMs: number,
  ) {
    // By its SHA1, so a release does not carry the script's body.
    redis.defineCommand('bgcReleaseLease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    this.#releasing = redis as ReleasingRedis;
  }

  async tryAcquire(leaseKey: string): Promise<LeaseHandle> {
    if (!this.health.ready) return { acquired: true, key: leaseKey, token: undefined };
    const token = `${this.#tokenPrefix}${(this.#tokenCounter++).toString(36)}`;
    try {
      const ok = await this.redis.set(leaseKey, token, 'PX', this.ttlMs, 'NX');
      if (ok === 'OK') {
        this.acquiredCount++;
        return { acquired: true, key: leaseKey, token };
      }
      return { acquired: false, key: leaseKey, token: undefined };
    } catch (err) {
      this.health.noteFailure(err);
      return { acquired: true, key: leaseKey, token: undefined };
    }
  }

  /** Frees a lease we hold (compare-and-delete, so an expired-and-retaken lease is not ours to free). */
  release(lease: LeaseHandle): void {
    if (!lease.token || !this.health.ready) return;
    this.#releasing.bgcReleaseLease(lease.key, lease.token).catch(() => undefined);
  }

  /** Waits (polling, backing off from 2 to 20 ms) until the lease is gone or maxWaitMs passed. */
  async waitReleased(leaseKey: string): Promise<'released' | 'timeout' | 'redis_down'> {
    this.waitedCount++;
    const deadline = Date.now() + this.maxWaitMs;
    let delay = 2;
    for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 20);
      if (!this.health.ready) return 'redis_down';
      try {
        if ((await this.redis.exists(leaseKey)) === 0) return 'released';
      } catch (err) {
        this.health.noteFailure(err);
        return 'redis_down';
      }
    }
    return 'timeout';
  }
}
