import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logging/logger.ts';
import { addressBucket } from './address-bucket.ts';
import { closeRedis, createRedis, RedisHealth } from './redis-connection.ts';

/**
 * Login rate limiting in Redis, shared by every instance (docs/SECURITY.md):
 *
 *   <ns>:ratelimit:login:ip:<client ip>          failed logins from that address (an IPv6 one's /64)
 *   <ns>:ratelimit:login:acct:<sha256(email)>    failed logins for that account
 *
 * Fixed windows of `windowSeconds` that start at the first counted attempt (the counter's
 * expiry is set in the same Lua script that creates it, so it can never lose it). An attempt
 * is counted BEFORE its password is hashed: one script checks every counter against its limit
 * and, unless one is reached, adds the attempt to all of them at once. Checking first and
 * counting after the hash let a burst of parallel guesses all pass the check (each guess
 * waits ~50 ms for scrypt); now the limit is reached by attempts in flight as well. Only
 * FAILED attempts stay counted: a success takes its attempt back from the address's counter
 * and clears the account's, and an attempt that ended in another error (the database down)
 * takes it back from both. A client that knows its password is never slowed down (the
 * benchmark logs a thousand users in from one address, 8 at a time), while guessing stops
 * after `perIp` failures per address or `perAccount` per account; only a client with more
 * than `perIp` logins in flight at once from one address is refused for being busy. Once a
 * limit is reached every attempt is refused with 429 until the window ends.
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

/**
 * KEYS: counters; ARGV[1]: window ms; ARGV[i + 1]: KEYS[i]'s limit. If any counter is at its
 * limit, counts nothing and returns {0, i, remaining ms, ...} for each such counter; else
 * adds one to every counter (starting a window where there is none) and returns {1}.
 */
const BEGIN_ATTEMPT = `
local full = {0}
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    full[#full + 1] = i
    full[#full + 1] = redis.call('PTTL', key)
  end
end
if #full > 1 then return full end
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return {1}`;

/** KEYS: counters to take one attempt back from (never below 0, never creating one). */
const TAKE_BACK = `
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 0 then redis.call('DECR', key) end
end
return #KEYS`;

/** What begin() decided for one login attempt. */
export type LoginAdmission =
  /** Refused: a limit is reached. */
  | { readonly limited: Limited }
  /** Let through; `counted` is false when Redis was not usable (fail-open: nothing to take back). */
  | { readonly limited: undefined; readonly counted: boolean };

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
    const account = crypto.createHash('sha256').update(accountSkeleton(key.email)).digest('hex');
    return [
      { scope: 'ip' as const, key: `${this.#prefix}:ip:${addressBucket(key.ip)}`, limit: this.#limits.perIp },
      { scope: 'account' as const, key: `${this.#prefix}:acct:${account}`, limit: this.#limits.perAccount },
    ].filter((k) => k.limit > 0);
  }

  /**
   * Counts this attempt against the address and the account unless a limit is reached
   * (then it is refused and nothing is counted). Call succeeded() or abandoned() when it ends
   * other than with wrong credentials; a wrong password leaves its attempt counted.
   */
  async begin(key: LoginKey): Promise<LoginAdmission> {
    const keys = this.#keys(key);
    if (keys.length === 0 || !this.#health.ready) return { limited: undefined, counted: false };
    try {
      const res = (await this.#redis.eval(BEGIN_ATTEMPT, keys.length, ...keys.map((k) => k.key),
        String(this.#limits.windowSeconds * 1000), ...keys.map((k) => String(k.limit)))) as number[];
      if (res[0] === 1) return { limited: undefined, counted: true };
      let worst: Limited | undefined;
      for (let j = 1; j + 1 < res.length; j += 2) {
        const k = keys[Number(res[j]) - 1];
        const ttl = Number(res[j + 1]);
        if (!k) continue;
        const retryAfterSeconds = Math.max(1, Math.ceil((ttl > 0 ? ttl : this.#limits.windowSeconds * 1000) / 1000));
        if (!worst || retryAfterSeconds > worst.retryAfterSeconds) worst = { retryAfterSeconds, scope: k.scope };
      }
      return worst ? { limited: worst } : { limited: undefined, counted: false };
    } catch (err) {
      this.#failOpen(err);
      return { limited: undefined, counted: false };
    }
  }

  /** The attempt logged in: its address takes it back, and the account's failures are cleared. */
  async succeeded(key: LoginKey, admission: LoginAdmission): Promise<void> {
    if (admission.limited || !admission.counted) return;
    const keys = this.#keys(key);
    const ip = keys.find((k) => k.scope === 'ip');
    const account = keys.find((k) => k.scope === 'account');
    try {
      await Promise.all([
        ip ? this.#redis.eval(TAKE_BACK, 1, ip.key) : undefined,
        account ? this.#redis.del(account.key) : undefined,
      ]);
    } catch (err) {
      this.#failOpen(err);
    }
  }

  /** The attempt ended in an error other than wrong credentials: it counts nowhere. */
  async abandoned(key: LoginKey, admission: LoginAdmission): Promise<void> {
    if (admission.limited || !admission.counted) return;
    const keys = this.#keys(key);
    try {
      await this.#redis.eval(TAKE_BACK, keys.length, ...keys.map((k) => k.key));
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

/**
 * The email as the account's counter knows it. PostgreSQL's lower() (how login finds the
 * user) folds some non-ASCII capitals to ASCII where JavaScript's does not: lower('alİce') is
 * 'alice' in PostgreSQL but 'ali̇ce' (i and a combining dot) in JavaScript, so each such
 * spelling had a counter of its own while finding the same account. Registered emails are
 * ASCII (the `email` format), so any other input is reduced to its ASCII skeleton
 * (compatibility decomposition, lower case, marks and other non-ASCII dropped): every
 * spelling that can match an account counts against that account's counter.
 */
export function accountSkeleton(email: string): string {
  const lowered = email.trim().toLowerCase();
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(lowered) ? lowered : email.trim().normalize('NFKD').toLowerCase().replace(/[^\x00-\x7f]/g, '');
}
