import crypto from 'node:crypto';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import type { CacheProvider } from 'bentocache/types';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logging/logger.ts';
import type { Metrics } from '../metrics/registry.ts';
import { CACHE_NAMES, cacheMetricsFor, type CacheMetrics, type CacheName, type InvalidationSource } from '../metrics/cache.metrics.ts';
import { NotifyListener } from '../db/notify-listener.ts';
import { CacheKeys } from './keys.ts';
import { createRedis, closeRedis, RedisHealth } from './redis-connection.ts';
import { ByteLru, byteLruDriver } from './l1-store.ts';
import { RedisBusHub } from './bus-transport.ts';
import { FleetLease } from './lease.ts';
import { L2Janitor } from './l2-janitor.ts';
import { ListenerCoverage } from './listener-coverage.ts';
import { RedisLsnStore } from './lsn-store.ts';
import { TypedCache } from './typed-cache.ts';
import { INVALIDATION_CHANNEL, parseInvalidation } from './invalidation-message.ts';
import { RedisMemoryPoller } from './redis-memory.ts';
import { MasterGuard } from './master-guard.ts';
import { AckedInvalidation, type AckOutcome } from './acked-invalidation.ts';
import type { WarmReport } from './types.ts';

/**
 * The cache layer of one app instance (DESIGN §1: the only module that talks to Redis).
 * It owns the Redis connections, the bentocache instance (L1 + L2 + bus), the three typed
 * caches (profile views, sessions, relationship sets), the database invalidation listener and the read-your-writes LsnStore.
 * See docs/ARCHITECTURE.md, "Cache", for the design and what is ours vs bentocache's.
 */

/** A listener loss noticed this long after the connection last worked went unseen for a while (a silent socket). */
const LATE_LOSS_MS = 1_000;
export interface CacheLayerOptions {
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Listen for database invalidations (default true; one-shot CLI reads may skip it). */
  readonly listen?: boolean;
  readonly name?: string;
}

const LEASE_TTL_MS = 3_000;
const LEASE_MAX_WAIT_MS = 2_000;
const L2_BREAKER_MS = 1_000;
const BUS_RETRY_QUEUE = 1_000;
/**
 * How long a session revocation waits for every instance to acknowledge that it dropped
 * the session (acked-invalidation.ts). Peers ack in a few ms; this bounds a stalled one.
 */
export const REVOKE_ACK_TIMEOUT_MS = 500;
/** Largest single L1 entry: a profile with a big bio and metadata is a few KB. */
const MAX_L1_ENTRY_BYTES = 256 * 1024;

export class CacheLayer {
  readonly keys: CacheKeys;
  readonly redis: Redis;
  readonly health: RedisHealth;
  readonly lru: ByteLru;
  readonly lease: FleetLease;
  readonly janitor: L2Janitor;
  readonly profiles: TypedCache;
  readonly sessions: TypedCache;
  readonly relationships: TypedCache;
  readonly lsnStore: RedisLsnStore;
  readonly instanceId = crypto.randomBytes(6).toString('hex');
  readonly listener: NotifyListener | undefined;
  readonly memory: RedisMemoryPoller;
  /** Flushes the namespace when Redis' master changed (Sentinel failover, a restarted node). */
  readonly masterGuard: MasterGuard;
  readonly metrics: CacheMetrics | undefined;
  readonly #bento: BentoCache<Record<CacheName, ReturnType<typeof bentostore>>>;
  readonly #hub: RedisBusHub;
  readonly #acked: AckedInvalidation;
  readonly #coverage: ListenerCoverage;
  readonly #log: Logger;
  readonly #caches: Record<CacheName, TypedCache>;
  /** The listener is connected and its (re)connect flush is done: loads may go to Redis. */
  #listenerInSync = false;
  /** Counts the listener's connects: only the latest one's flush may set #listenerInSync. */
  #listenerGeneration = 0;
  ignoredNotifications = 0;
  l1Flushes = 0;
  readonly #keyObservers: Array<(cache: CacheName, ids: readonly string[]) => void> = [];
  readonly #flushObservers: Array<(cache: CacheName) => void> = [];
  lastWarm: WarmReport | undefined;
  #closed = false;
  /** Settles when the first listener connect's check (and any L2 flush it decided) is done. */
  #firstSync: Promise<void> | undefined;
  #firstSyncDone: (() => void) | undefined;

  constructor(readonly config: Config, opts: CacheLayerOptions) {
    const name = opts.name ?? 'api';
    this.#log = opts.logger.child({ component: 'cache' });
    this.metrics = opts.metrics ? cacheMetricsFor(opts.metrics) : undefined;
    this.keys = new CacheKeys(config.cache.namespace);
    this.redis = createRedis(config.redis, 'command', name);
    this.health = new RedisHealth(this.redis);
    this.health.onLost(() => { if (!this.#closed) this.#log.warn('redis unreachable: serving from L1 and PostgreSQL (fail-open)'); });
    this.health.onRecovered((ms) => this.#log.info({ downMs: ms }, 'redis is back: L2 in use again'));
    this.lru = new ByteLru(config.cache.l1MaxBytes, Math.min(MAX_L1_ENTRY_BYTES, config.cache.l1MaxBytes));
    this.#hub = new RedisBusHub(this.redis, config.redis, name, `${config.cache.namespace}:bus`, () => this.health.ready);
    this.#acked = new AckedInvalidation(this.#hub, this.instanceId,
      // The same keys also come as bentocache's bus delete, counted there (source 'bus').
      (cache, ids) => this.#caches[cache].dropL1(ids),
      (what, err) => { if (this.health.ready) this.#log.warn({ err: errText(err) }, `${what} failed`); });
    this.lease = new FleetLease(this.redis, this.health, LEASE_TTL_MS, LEASE_MAX_WAIT_MS);
    this.janitor = new L2Janitor(this.redis, this.health,
      (what, err) => this.#log.warn({ err: errText(err) }, `${what} failed`),
      // L1 too: reads may have copied the Redis values into L1 while the flush waited.
      (pattern) => this.#cacheByPattern(pattern)?.flush(true) ?? this.janitor.flush(pattern),
      (fullKeys) => this.#dropL1Copies(fullKeys));
    this.#coverage = new ListenerCoverage(this.redis, this.health, this.keys.listeners, this.instanceId);
    this.lsnStore = new RedisLsnStore(this.redis, this.health, this.keys);
    this.memory = new RedisMemoryPoller(this.redis, this.health, this.metrics);
    this.memory.onPoll = () => this.metrics?.l1Bytes.set(this.lru.bytes);

    const store = (cache: CacheName) => bentostore({ prefix: this.keys.storePrefix(cache) })
      .useL1Layer(byteLruDriver(this.lru))
      .useL2Layer(redisDriver({ connection: this.redis }))
      .useBus(this.#hub.driver(BUS_RETRY_QUEUE));
    this.#bento = new BentoCache({
      default: 'profile',
      stores: { profile: store('profile'), session: store('session'), relationship: store('relationship') },
      l2CircuitBreakerDuration: L2_BREAKER_MS,
      // bentocache's L2 and bus calls pass through here: a failure there also opens our own
      // breaker (lease, LSN marks, deletes), so a hung Redis costs one timeout, not several.
      internalOperationWrapper: <T>(fn: () => T): T => {
        const out = fn();
        if (out instanceof Promise) out.catch((err: unknown) => this.health.noteFailure(err));
        return out;
      },
      // bentocache logs every factory run at info and every skipped L2 call at error;
      // outages are reported once by RedisHealth instead.
      logger: opts.logger.child({ component: 'bentocache' }, { level: 'fatal' }),
    });
    const freshWindowMs = config.replicas.maxLagMs + config.replicas.pollMs;
    const graceMs = config.cache.graceSeconds * 1000;
    const negativeTtlMs = config.cache.negativeTtlSeconds * 1000;
    const deps = (cache: CacheName) => ({
      keys: this.keys, store: this.#bento.use(cache) as CacheProvider, lru: this.lru, lease: this.lease, janitor: this.janitor,
      // Missing NOTIFYs while the listener is down: loads then stay out of Redis (typed-cache.ts),
      // and until its (re)connect's flush has finished: a load that read old data in the gap and
      // finished after LISTEN was back would otherwise land in Redis, for the whole TTL.
      l2Writable: () => this.listener === undefined || (this.listener.connected && this.#listenerInSync),
    });
    this.profiles = new TypedCache({
      name: 'profile', ttlMs: config.cache.profileTtlSeconds * 1000, negativeTtlMs, graceMs,
      staleWhileRevalidate: true, freshWindowMs,
    }, deps('profile'));
    this.sessions = new TypedCache({
      name: 'session', ttlMs: config.cache.sessionTtlSeconds * 1000, negativeTtlMs, graceMs,
      // A session is re-validated before use once its TTL passed; stale only if PostgreSQL fails.
      staleWhileRevalidate: false, freshWindowMs, distrustL2AfterInvalidation: true,
      expiresAt: sessionExpiry,
    }, deps('session'));
    // Relationship sets change only through writes that invalidate them (hooks, 0008
    // triggers), like profile views: same TTL, stale-while-revalidate. An empty set is a
    // normal value with the full TTL: "no relationship" is the common answer.
    this.relationships = new TypedCache({
      name: 'relationship', ttlMs: config.cache.profileTtlSeconds * 1000, negativeTtlMs, graceMs,
      staleWhileRevalidate: true, freshWindowMs,
    }, deps('relationship'));
    this.#caches = { profile: this.profiles, session: this.sessions, relationship: this.relationships };
    this.masterGuard = new MasterGuard({
      redis: this.redis, health: this.health, markKey: this.keys.masterMark,
      caches: Object.values(this.#caches),
      // The load leases too: one taken on the old master whose release never reached it made
      // every reader of that key wait out the lease (2 s) after the change.
      patterns: [...CACHE_NAMES.map((c) => this.keys.itemPattern(c)), this.keys.leasePattern],
      janitor: this.janitor, log: this.#log,
      onFlush: (cache) => this.metrics?.invalidations.inc({ cache, source: 'flush' }),
    });
    this.#countEvents();
    this.#hub.observe((channel, payload) => this.#onPeerMessage(channel, payload));
    // Bus messages sent while our subscriber was away are lost: our L1 may be stale.
    this.#hub.onResubscribed(() => { void this.#flushL1('bus reconnected'); });

    this.listener = opts.listen === false ? undefined : new NotifyListener({
      url: config.database.primaryUrl,
      channel: INVALIDATION_CHANNEL,
      applicationName: `bgc-${name}-cache-listener`,
      onNotify: (payload) => this.onNotify(payload),
      onConnected: (info) => this.#onListenerConnected(info.reconnect, info.lostAt, info.noticedAt),
      onDisconnected: (err) => {
        this.#listenerInSync = false;
        // Loads in flight read before the gap was known: none of them may fill L1 now.
        for (const cache of Object.values(this.#caches)) cache.recent.noteAll();
        this.#coverage.stopped();
        this.#log.warn({ err: err?.message }, 'invalidation listener disconnected; will flush on reconnect');
      },
    });
  }

  cache(name: CacheName): TypedCache { return this.#caches[name]; }

  /** Connects (bounded waits: Redis 1 s, listener 2 s) and starts background polls. Never throws for Redis. */
  async start(): Promise<void> {
    if (this.listener && !this.#firstSync) this.#firstSync = new Promise<void>((resolve) => { this.#firstSyncDone = resolve; });
    // Then the master check (master-guard.ts), so a fresh instance uses its cache at once.
    if (await this.health.waitReady(1_000)) await this.masterGuard.whenVerified(1_000);
    if (this.listener) await this.listener.start(2_000);
    this.memory.start();
  }

  /** A committed app write changed these keys (WriteHooks). */
  async invalidate(cache: CacheName, ids: readonly string[], source: InvalidationSource = 'app'): Promise<void> {
    this.metrics?.invalidations.inc({ cache, source }, ids.length);
    await this.#caches[cache].invalidateFromApp(ids);
    this.#observed(cache, ids);
  }

  /**
   * `invalidate`, then waits until every live instance has dropped the keys from its L1
   * (each acknowledges on the bus), at most REVOKE_ACK_TIMEOUT_MS. For session revocation:
   * the logout is answered when no instance would still accept the token. Never throws
   * for Redis: without it nothing is sent and nothing is awaited (NOTIFY still reaches
   * every instance).
   */
  async invalidateAcknowledged(cache: CacheName, ids: readonly string[]): Promise<AckOutcome> {
    await this.invalidate(cache, ids);
    const out = await this.#acked.invalidate(cache, ids, REVOKE_ACK_TIMEOUT_MS);
    if (out.expected !== undefined && !out.complete) {
      this.#log.warn({ cache, expected: out.expected, acked: out.acked, ms: Math.round(out.ms) }, 'not every instance acknowledged an invalidation in time');
    }
    return out;
  }

  /** Acknowledged invalidations: ours, ours that timed out, and peers' acknowledged here. */
  get ackStats(): { readonly requested: number; readonly timeouts: number; readonly sent: number } {
    return { requested: this.#acked.requested, timeouts: this.#acked.timeouts, sent: this.#acked.acksSent };
  }

  /**
   * Hears every key this instance drops, whatever the path (app hook, NOTIFY, a peer's bus
   * message): the real-time layer re-checks the sockets of an invalidated session, so a
   * session revoked by any means closes its sockets on every instance.
   */
  onKeysInvalidated(fn: (cache: CacheName, ids: readonly string[]) => void): void { this.#keyObservers.push(fn); }

  /**
   * Hears a cache flushed for a change this instance was not told key by key: a NOTIFY flush
   * (a statement that touched more rows than the triggers name, a TRUNCATE) or a gap in the
   * invalidation listener. The real-time layer then re-checks every socket's session: a bulk
   * revocation (`UPDATE sessions SET revoked_at = now()` of every session, after a breach) names no key.
   */
  onFlushed(fn: (cache: CacheName) => void): void { this.#flushObservers.push(fn); }

  #flushed(cache: CacheName): void {
    for (const fn of this.#flushObservers) {
      try { fn(cache); } catch (err) { this.#log.warn({ err: errText(err) }, 'flush observer failed'); }
    }
  }

  #observed(cache: CacheName, ids: readonly string[]): void {
    for (const fn of this.#keyObservers) {
      try { fn(cache, ids); } catch (err) { this.#log.warn({ err: errText(err) }, 'invalidation observer failed'); }
    }
  }

  /** One NOTIFY payload from migrations/0004 triggers. */
  onNotify(payload: string): void {
    const msg = parseInvalidation(payload);
    if (!msg) {
      this.ignoredNotifications++;
      return;
    }
    const cache = this.#caches[msg.cache];
    if (msg.kind === 'flush') {
      this.metrics?.invalidations.inc({ cache: msg.cache, source: 'flush' });
      // Observers hear it once the cache is empty, so a re-check cannot read the old entry.
      void cache.flush(true).catch((err: unknown) => this.#log.warn({ err: errText(err) }, 'cache flush failed')).finally(() => this.#flushed(msg.cache));
      return;
    }
    this.metrics?.invalidations.inc({ cache: msg.cache, source: 'db_notify' }, msg.keys.length);
    cache.invalidateLocal(msg.keys);
    this.#observed(msg.cache, msg.keys);
  }

  async #onListenerConnected(reconnect: boolean, lostAt: number | undefined, noticedAt: number | undefined): Promise<void> {
    const connectedAt = Date.now();
    const generation = ++this.#listenerGeneration;
    for (const cache of Object.values(this.#caches)) cache.recent.noteAll();
    // Start-up (lostAt undefined): is anyone else keeping Redis in step? Reconnect: did
    // someone listen through our whole gap? If not, L2 may hold what we missed. A loss found
    // late (a silent socket, found by a ping) is flushed whoever listened: until it was found
    // this instance went on writing loads to Redis that its missed NOTIFYs had made stale,
    // and no peer's listening undoes those.
    const foundLate = reconnect && lostAt !== undefined && noticedAt !== undefined && noticedAt - lostAt > LATE_LOSS_MS;
    const covered = foundLate ? false : await this.#coverage.coveredSince(reconnect ? lostAt : undefined);
    // Dropped again while we asked Redis: claiming coverage now would make peers that
    // reconnect skip their Redis flush for a gap nobody listened through.
    if (this.listener?.connected === true) this.#coverage.listening(connectedAt);
    if (reconnect) this.#log.warn({ downMs: lostAt ? connectedAt - lostAt : null, l2Flush: !covered }, 'invalidation listener reconnected; flushing');
    // The caches' flushes SCAN the same keyspace: run them side by side, not one after another.
    await Promise.all(Object.values(this.#caches).map(async (cache) => {
      if (reconnect) this.metrics?.invalidations.inc({ cache: cache.name, source: 'flush' });
      await cache.flush(!covered, reconnect);
      // Whatever changed in the gap was not named to us.
      if (reconnect) this.#flushed(cache.name);
    }));
    if (reconnect) this.l1Flushes++;
    // Dropped again meanwhile (or reconnected again, with its own flush still running): that
    // later connect's flush decides.
    if (generation === this.#listenerGeneration) this.#listenerInSync = this.listener?.connected === true;
    this.#firstSyncDone?.();
  }

  /**
   * Waits (at most `timeoutMs`) until the start-up check of the invalidation listener is
   * done. `start()` returns after 2 s even if that check is still flushing Redis; warming
   * meanwhile would have its writes deleted by the flush, so warm-up waits here first.
   */
  async whenSynced(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    // The first master check may flush the namespace too (master-guard.ts); with Redis down it never comes.
    if (this.health.ready) await this.masterGuard.whenVerified(timeoutMs);
    if (!this.#firstSync) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      this.#firstSync.then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now())); }),
    ]);
    clearTimeout(timer);
    return done;
  }

  async #flushL1(reason: string): Promise<void> {
    this.l1Flushes++;
    this.#log.info({ reason }, 'clearing L1');
    for (const cache of Object.values(this.#caches)) {
      this.metrics?.invalidations.inc({ cache: cache.name, source: 'flush' });
      await cache.flush(false);
    }
  }

  #onPeerMessage(channel: string, payload: unknown): void {
    // bentocache's channel per store: "bentocache.notifications:<store>".
    const store = channel.slice(channel.lastIndexOf(':') + 1);
    const cacheName = CACHE_NAMES.find((c) => c === store);
    if (!cacheName || typeof payload !== 'object' || payload === null) return;
    const { type, keys } = payload as { type?: unknown; keys?: unknown };
    if (type !== 'delete' || !Array.isArray(keys)) return;
    const ids = keys.filter((k): k is string => typeof k === 'string');
    this.metrics?.invalidations.inc({ cache: cacheName, source: 'bus' }, ids.length);
    this.#caches[cacheName].notePeerInvalidation(ids);
    this.#observed(cacheName, ids);
  }

  /** Drops these keys' L1 copies (full keys, of any cache), noted as just invalidated. */
  #dropL1Copies(fullKeys: readonly string[]): void {
    for (const cache of Object.values(this.#caches)) {
      const prefix = `${this.keys.storePrefix(cache.name)}:`;
      const ids = fullKeys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
      if (ids.length > 0) cache.dropL1(ids);
    }
  }

  #cacheByPattern(pattern: string): TypedCache | undefined {
    return Object.values(this.#caches).find((c) => this.keys.itemPattern(c.name) === pattern);
  }

  /** Per-tier hit/miss/stale counting from bentocache's events (docs: bgc_cache_requests_total). */
  #countEvents(): void {
    const m = this.metrics;
    if (!m) return;
    // Bound children: no labels to build per event (prom-client still hashes them per inc;
    // the fast path's L1 hits, most lookups, are plain numbers: CacheMetrics.noteL1Hit).
    const children = new Map<string, { inc(): void }>();
    for (const cache of CACHE_NAMES) {
      for (const tier of ['l1', 'l2'] as const) for (const result of ['hit', 'miss', 'stale'] as const) children.set(`${cache}|${tier}|${result}`, m.requests.labels(cache, tier, result));
    }
    const inc = (cache: CacheName, tier: 'l1' | 'l2', result: 'hit' | 'miss' | 'stale') => children.get(`${cache}|${tier}|${result}`)?.inc();
    for (const cache of Object.values(this.#caches)) {
      const name = cache.name;
      cache.onL1Hit = () => m.noteL1Hit(name);
    }
    this.#bento.on('cache:hit', (e) => {
      const cache = this.#caches[e.store as CacheName];
      if (!cache || !cache.counts(e.key, 'hit')) return;
      if (e.layer === 'l1') inc(cache.name, 'l1', e.graced ? 'stale' : 'hit');
      else {
        inc(cache.name, 'l1', 'miss');
        inc(cache.name, 'l2', e.graced ? 'stale' : 'hit');
      }
    });
    this.#bento.on('cache:miss', (e) => {
      const cache = this.#caches[e.store as CacheName];
      if (!cache || !cache.counts(e.key, 'miss')) return;
      inc(cache.name, 'l1', 'miss');
      inc(cache.name, 'l2', 'miss');
    });
  }

  /** Status for readiness and the admin API. */
  get status(): { redis: boolean; bus: boolean; listener: boolean | null } {
    return { redis: this.health.ready, bus: this.#hub.subscribed, listener: this.listener ? this.listener.connected : null };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.memory.stop();
    this.masterGuard.close();
    this.janitor.stop();
    this.#coverage.close();
    await this.listener?.close();
    await this.#bento.disconnectAll().catch(() => undefined);
    this.#hub.disconnect();
    await closeRedis(this.redis);
  }
}

function sessionExpiry(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || !('expiresAt' in value)) return undefined;
  const t = Date.parse(String(value.expiresAt));
  return Number.isFinite(t) ? t : undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
