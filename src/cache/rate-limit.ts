import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logging/logger.ts';
import { closeRedis, createRedis, RedisHealth } from './redis-connection.ts';

/**
 * Login rate limiting in Redis, shared by every instance (docs/SECURITY.md):
 *
 *   <ns>:ratelimit:login:ip:<client ip>          failed logins from that address
 *   <ns>:ratelimit:login:acct:<sha256(email)>    failed logins for that account
 *
 * Fixed windows of `windowSeconds` that start at the first failure (INCR, and PEXPIRE when
 * the counter is new, in one Lua script so a counter can never lose its expiry). Only
 * FAILED attempts count: a client that knows its password is never slowed down (the
 * benchmark logs a thousand users in from one address), while guessing stops after
 * `perIp` failures per address or `perAccount` failures per account. Once a limit is
 * reached every attempt is refused with 429 until the window ends, before any password
 * is hashed. A successful login clears its account's counter, not its address's.
 *
 * The email is hashed so that Redis holds no address in clear.
 *
 * FAIL-OPEN: Redis is an optimisation in this system (the cache), and logins must keep
 * working when it is down, so with Redis unreachable nothing is counted and nothing is
 * refused; the outage is logged once by RedisHealth. The limits are then those of the
 * password hash alone (scrypt, ~50 ms per attempt per core).
 */
export interface LoginKey {
  readonly ip: string;
  readonly email: string;
}

export interface Limited {
  /** Seconds until the window that refused this attempt ends (≥ 1): the Retry-After value. */
  readonly retryAfterSeconds: number;
  readonly scope: 'ip' | 'account';
}

// KEYS: counters; ARGV[1]: window ms. Returns, per key, its count and remaining ms.
const RECORD_FAILURE = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out`;

export class LoginRateLimiter {
  readonly #redis: Redis;
  readonly #health: RedisHealth;
  readonly #ownsConnection: boolean;
  readonly #prefix: string;
  readonly #limits: Config['loginRateLimit'];
  readonly #log: Logger | undefined;

  /**
   * Uses the cache layer's command connection when there is one (`shared`), else opens its
   * own fail-fast connection to REDIS_URL.
   */
  constructor(config: Config, opts: { shared?: { redis: Redis; health: RedisHealth }; logger?: Logger } = {}) {
    this.#limits = config.loginRateLimit;
    this.#prefix = `${config.cache.namespace}:ratelimit:login`;
    this.#log = opts.logger?.child({ component: 'rate-limit' });
    if (opts.shared) {
      this.#redis = opts.shared.redis;
      this.#health = opts.shared.health;
      this.#ownsConnection = false;
    } else {
      this.#redis = createRedis(config.redis, 'command', 'ratelimit');
      this.#health = new RedisHealth(this.#redis);
      this.#ownsConnection = true;
    }
  }

  get enabled(): boolean { return this.#limits.perIp > 0 || this.#limits.perAccount > 0; }

  /** Waits (bounded) for Redis; false means the limiter runs fail-open for now. */
  waitReady(timeoutMs: number): Promise<boolean> { return this.#health.waitReady(timeoutMs); }

  #keys(key: LoginKey): Array<{ scope: 'ip' | 'account'; key: string; limit: number }> {
    const account = crypto.createHash('sha256').update(key.email.trim().toLowerCase()).digest('hex');
    return [
      { scope: 'ip' as const, key: `${this.#prefix}:ip:${key.ip}`, limit: this.#limits.perIp },
      { scope: 'account' as const, key: `${this.#prefix}:acct:${account}`, limit: this.#limits.perAccount },
    ].filter((k) => k.limit > 0);
  }

  /** Whether this attempt must be refused now (a limit already reached); undefined = go ahead. */
  async check(key: LoginKey): Promise<Limited | undefined> {
    const keys = this.#keys(key);
    if (keys.length === 0 || !this.#health.ready) return undefined;
    try {
      const pipeline = this.#redis.pipeline();
      for (const k of keys) { pipeline.get(k.key); pipeline.pttl(k.key); }
      const res = (await pipeline.exec()) ?? [];
      let worst: Limited | undefined;
      keys.forEach((k, i) => {
        const count = Number(res[2 * i]?.[1] ?? 0);
        const ttl = Number(res[2 * i + 1]?.[1] ?? -1);
        if (count >= k.limit) {
          const retryAfterSeconds = Math.max(1, Math.ceil((ttl > 0 ? ttl : this.#limits.windowSeconds * 1000) / 1000));
          if (!worst || retryAfterSeconds > worst.retryAfterSeconds) worst = { retryAfterSeconds, scope: k.scope };
        }
      });
      return worst;
    } catch (err) {
      this.#failOpen(err);
      return undefined;
    }
  }

  /** Counts a failed attempt (wrong email or password) against the address and the account. */
  async recordFailure(key: LoginKey): Promise<void> {
    const keys = this.#keys(key);
    if (keys.length === 0 || !this.#health.ready) return;
    try {
      await this.#redis.eval(RECORD_FAILURE, keys.length, ...keys.map((k) => k.key), String(this.#limits.windowSeconds * 1000));
    } catch (err) {
      this.#failOpen(err);
    }
  }

  /** A successful login clears the account's failures (never the address's). */
  async recordSuccess(key: LoginKey): Promise<void> {
    const account = this.#keys(key).find((k) => k.scope === 'account');
    if (!account || !this.#health.ready) return;
    try {
      await this.#redis.del(account.key);
    } catch (err) {
      this.#failOpen(err);
    }
  }

  #failOpen(err: unknown): void {
    this.#health.noteFailure(err);
    this.#log?.debug({ err: err instanceof Error ? err.message : String(err) }, 'rate limit skipped: redis unavailable (fail-open)');
  }

  async close(): Promise<void> {
    if (this.#ownsConnection) await closeRedis(this.#redis);
  }
}
