import { Redis, type RedisOptions } from 'ioredis';

/**
 * ioredis connections for the cache. Redis is an optimisation here, never a dependency
 * of correctness or availability, so the command connection FAILS FAST:
 *  - no offline queue: while disconnected a command rejects at once instead of waiting
 *    for a reconnect, and the caller falls through to PostgreSQL (fail-open);
 *  - a command timeout, so a stalled (not closed) Redis costs one bounded wait, after
 *    which bentocache's L2 circuit breaker skips Redis for a while;
 *  - auto-pipelining: concurrent commands issued in one tick share one round trip, which
 *    is what makes warm-up and lease polling "pipelined" without hand-built batches.
 * The subscriber connection is the opposite: it queues its SUBSCRIBE until connected and
 * resubscribes after every reconnect, because that is all it does.
 *
 * With Sentinel (REDIS_SENTINELS) every connection, of either role, asks the sentinels for
 * the master and follows it (see `sentinelOptions`); master-guard.ts then keeps a master
 * change from serving what the old master had invalidated.
 */
// Generous enough that a busy event loop (the reply read late) is not taken for a dead Redis.
export const REDIS_COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 1_000;
const MAX_RECONNECT_DELAY_MS = 2_000;
/** Behind Sentinel a reconnect asks a sentinel first: retry often, the new master is there within seconds. */
const MAX_SENTINEL_RECONNECT_DELAY_MS = 500;

export type RedisRole = 'command' | 'subscriber';
const BREAKER_MS = 1_000;

/** Where Redis is: `url` directly, or the master that `sentinels` name `sentinelName` (config.redis). */
export interface RedisEndpoint {
  readonly url: string;
  readonly sentinels: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly sentinelName: string;
}

/** A URL alone (tools, tests) or the configured endpoint. */
export type RedisTarget = string | RedisEndpoint;

/** The endpoint when it names sentinels, else undefined (connect to the URL). */
export function sentinelEndpoint(target: RedisTarget): RedisEndpoint | undefined {
  return typeof target !== 'string' && target.sentinels.length > 0 ? target : undefined;
}

export function redisUrlOf(target: RedisTarget): string {
  return typeof target === 'string' ? target : target.url;
}

/** For logs and errors: the URL, or the sentinels and the master's name. */
export function describeRedisTarget(target: RedisTarget): string {
  const sentinel = sentinelEndpoint(target);
  if (!sentinel) return redisUrlOf(target);
  return `master "${sentinel.sentinelName}" of sentinels ${sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/**
 * ioredis' Sentinel mode, set for a cache that must never wait on a dead master:
 *  - `failoverDetector`: subscribe to +switch-master on the sentinels and drop the
 *    connection when it comes. Without it a client stays on a master that hangs instead of
 *    closing (DEBUG SLEEP, a frozen VM), since nothing closes the socket (redis/ioredis #1059,
 *    #1314, fixed by #1328);
 *  - `disconnectTimeout`: that drop ends the socket politely and waits for the peer's FIN,
 *    which a hung master never sends (ioredis' default waits 2 s before destroying it);
 *  - the ready check's INFO tells ioredis the role, and a node that is no longer a master
 *    (an old master back as a replica) is left for the next one the sentinels name;
 *  - the failover detector's own sentinel connections reconnect after 1 s, not the default
 *    60 s, so a restarted sentinel is heard again before the next failover;
 *  - sentinel queries time out like commands: a hung sentinel is skipped for the next.
 * The offline queue stays off (it would not survive a failover anyway, ioredis #1164).
 */
function sentinelOptions(target: RedisEndpoint): RedisOptions {
  return {
    sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.sentinelName,
    role: 'master',
    failoverDetector: true,
    disconnectTimeout: 200,
    sentinelReconnectStrategy: () => 1_000,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
    sentinelCommandTimeout: REDIS_COMMAND_TIMEOUT_MS,
  };
}

/** Connections we closed on purpose (closeRedis, disconnectRedis): never revived. */
const closedByUs = new WeakSet<Redis>();
const REVIVE_DELAY_MS = 100;

/**
 * ioredis gives a client up for good (status "end") when its connect attempt is cut short: the
 * failover detector reacts to +switch-master by disconnecting the connector, and if that lands
 * while a reconnect is still asking the sentinels for the master, the attempt rejects with
 * "Connection is closed." and no retry is scheduled (redis/ioredis #1683 reports clients stuck
 * that way after a failover). Behind Sentinel, an end we did not ask for is a reconnect.
 */
function reviveUnlessClosedByUs(redis: Redis): void {
  redis.on('end', () => {
    if (closedByUs.has(redis)) return;
    setTimeout(() => {
      if (!closedByUs.has(redis) && redis.status === 'end') redis.connect().catch(() => undefined);
    }, REVIVE_DELAY_MS).unref();
  });
}

export function createRedis(target: RedisTarget, role: RedisRole, name: string): Redis {
  const sentinel = sentinelEndpoint(target);
  const maxDelay = sentinel ? MAX_SENTINEL_RECONNECT_DELAY_MS : MAX_RECONNECT_DELAY_MS;
  const common: RedisOptions = {
    connectionName: `bgc-${name}-${role}`,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Reconnect forever, backing off (to 2 s, 0.5 s behind Sentinel): Redis coming back must be noticed quickly.
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), maxDelay),
    enableReadyCheck: true,
    // TCP keepalive probes after 10 s idle (ioredis' default leaves the OS's two hours), so
    // a peer that vanished is noticed in about a minute even where nothing else writes.
    keepAlive: 10_000,
    ...(sentinel ? sentinelOptions(sentinel) : {}),
  };
  // Behind Sentinel the URL still gives the password and the database number; its host is unused.
  const url = redisUrlOf(target);
  const redis = role === 'subscriber'
    ? new Redis(url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true })
    : new Redis(url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      enableAutoPipelining: true,
    });
  // Without a listener an 'error' event would crash the process; outages are reported
  // through RedisHealth instead.
  redis.on('error', () => undefined);
  if (sentinel) reviveUnlessClosedByUs(redis);
  return redis;
}

/** Drops a connection for good, at once (no QUIT). */
export function disconnectRedis(redis: Redis): void {
  closedByUs.add(redis);
  redis.disconnect();
}

/**
 * Tracks whether a connection is usable and calls `onRecovered` each time it becomes
 * ready after having been lost or unreachable (not on a first connect that just worked).
 */
export class RedisHealth {
  #lostAt: number | undefined;
  #lastError: string | undefined;
  #openUntil = 0;
  readonly #recovered: Array<(downForMs: number) => void> = [];
  readonly #lost: Array<() => void> = [];

  /** `now` is the clock (Unix ms) of the breaker and the outage durations; tests pass their own. */
  constructor(readonly redis: Redis, private readonly now: () => number = Date.now) {
    redis.on('ready', () => {
      const lostAt = this.#lostAt;
      this.#lostAt = undefined;
      this.#lastError = undefined;
      // Also after a start with Redis unreachable: work deferred meanwhile must run now.
      if (lostAt !== undefined) for (const fn of this.#recovered) fn(this.now() - lostAt);
    });
    redis.on('error', (err: Error) => { this.#lastError = err.message; });
    redis.on('close', () => {
      if (this.#lostAt === undefined) {
        this.#lostAt = this.now();
        for (const fn of this.#lost) fn();
      }
    });
  }

  /**
   * Usable now: connected, and no command of ours failed in the last second. A stalled
   * (not closed) Redis keeps the socket "ready" while every command times out; this
   * breaker makes our own calls (lease, LSN marks, deletes) skip it meanwhile, as
   * bentocache's breaker does for cache reads and writes.
   */
  get ready(): boolean { return this.redis.status === 'ready' && this.now() >= this.#openUntil; }
  get lastError(): string | undefined { return this.#lastError; }

  /** A command failed: skip Redis for BREAKER_MS. */
  noteFailure(err: unknown): void {
    this.#openUntil = this.now() + BREAKER_MS;
    this.#lastError = err instanceof Error ? err.message : String(err);
  }

  onRecovered(fn: (downForMs: number) => void): void { this.#recovered.push(fn); }
  onLost(fn: () => void): void { this.#lost.push(fn); }

  /** Waits until ready or the deadline; false means "start without Redis" (fail-open). */
  async waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => { clearTimeout(timer); this.redis.off('ready', onReady); resolve(ok); };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.ready), timeoutMs);
      this.redis.on('ready', onReady);
    });
  }
}

/** Closes a connection without waiting on a Redis that may be gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  closedByUs.add(redis);
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  redis.disconnect();
}
