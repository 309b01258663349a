import { z } from 'zod';

/**
 * Every environment variable the app reads, with its default. DESIGN §2 fixes the
 * first seven names; the BGC_* ones are ours. Defaults are development values; the
 * production profile (see profiles.ts) tightens them and refuses the default secrets.
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** DESIGN §2's ports, before BGC_STACK_PORT_OFFSET is added (config.stack has the moved ones). */
export const LOCAL_STACK = {
  primaryPort: 54320,
  replicaPorts: [54321, 54322],
  redisPort: 63790,
  pgbouncerPorts: [64320, 64321, 64322],
  database: 'bgc',
  user: 'postgres',
} as const;

export const DEFAULT_ADMIN_TOKEN = 'dev-admin-token';

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_REPLICA_URLS: z.string().optional(),
  // DESIGN §7: the primary reached directly, for what needs a session (LISTEN/NOTIFY, advisory
  // locks, migrations, partition maintenance, the CLI tools). Setting it says that DATABASE_URL
  // (and DATABASE_REPLICA_URLS) go through PgBouncer in transaction mode (src/config/database-urls.ts).
  DATABASE_SESSION_URL: z.string().url().optional(),
  // Behind PgBouncer: each replica reached directly, in the order of DATABASE_REPLICA_URLS, for
  // the health checks only, so they never queue behind the app's transactions in PgBouncer.
  DATABASE_REPLICA_SESSION_URLS: z.string().optional(),
  // Named (server-side prepared) statements. Unset: true, or false when DATABASE_SESSION_URL is set.
  BGC_DB_NAMED_STATEMENTS: bool.optional(),
  REDIS_URL: z.string().url().optional(),
  // Redis Sentinel (src/cache/redis-connection.ts): comma-separated host:port of the sentinels.
  // When set, every Redis connection asks them for the master named REDIS_SENTINEL_NAME and
  // follows failovers; REDIS_URL then only supplies credentials and the database number.
  REDIS_SENTINELS: z.string().optional(),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a Sentinel master name such as bgc').default('bgc'),
  // Unset: 3000 / 3001, moved by BGC_STACK_PORT_OFFSET like the local stack (src/config/index.ts).
  PORT: intFrom(0, 65535).optional(),
  ADMIN_PORT: intFrom(0, 65535).optional(),
  HOST: z.string().min(1).default('127.0.0.1'),
  // Unset: HOST in production (where every admin path needs ADMIN_TOKEN), 127.0.0.1 otherwise.
  ADMIN_HOST: z.string().min(1).optional(),
  ADMIN_TOKEN: z.string().min(1).default(DEFAULT_ADMIN_TOKEN),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  LOG_SQL: bool.optional(),

  BGC_DATA_DIR: z.string().min(1).optional(),
  // Where photo and chat-image bytes live: unset = the data directory; file:///dir; or
  // s3://[KEY:SECRET@]bucket[/prefix]?endpoint=…&region=… (src/config/photo-storage.ts).
  BGC_PHOTO_STORAGE_URL: z.string().optional(),
  // Moves the whole local stack (PostgreSQL 54320-54322, Redis 63790) by this many ports,
  // so a second checkout can run its own stack beside the first (src/config: config.stack).
  BGC_STACK_PORT_OFFSET: intFrom(0, 1000).default(0),
  BGC_POOL_SIZE: intFrom(1, 500).default(10),
  BGC_POOL_MAX_OVERFLOW: intFrom(0, 500).default(20),
  BGC_POOL_ACQUIRE_TIMEOUT_MS: intFrom(10, 120_000).default(3_000),
  BGC_POOL_IDLE_TIMEOUT_MS: intFrom(100, 3_600_000).default(10_000),
  BGC_POOL_PREPING_AFTER_MS: intFrom(0, 3_600_000).default(30_000),
  BGC_POOL_MAX_LIFETIME_S: intFrom(0, 86_400).default(1_800),
  BGC_STATEMENT_TIMEOUT_MS: intFrom(0, 3_600_000).default(5_000),

  BGC_REDIS_MAXMEMORY: z.string().regex(/^\d+(kb|mb|gb)?$/i, 'expected a size such as 256mb').default('256mb'),
  BGC_REDIS_POLICY: z
    .enum(['allkeys-lru', 'allkeys-lfu', 'volatile-lru', 'volatile-lfu', 'volatile-ttl', 'allkeys-random', 'volatile-random'])
    .default('allkeys-lfu'),

  BGC_CACHE_ENABLED: bool.default(true),
  BGC_CACHE_NAMESPACE: z.string().regex(/^[a-z0-9:_-]+$/i).default('bgc:v1'),
  BGC_CACHE_L1_MAX_BYTES: intFrom(0, 4_294_967_296).default(64 * 1024 * 1024),
  BGC_CACHE_PROFILE_TTL_S: intFrom(1, 604_800).default(600),
  BGC_CACHE_SESSION_TTL_S: intFrom(1, 86_400).default(300),
  // 30,000: on `large` the profile workload went from 1,952 req/s (hit 92.7%) to 3,068 (96.4%), mixed +7% and +25%
  // in two pairs; all but the first BGC_CACHE_WARM_BEFORE_READY after ready, so start-up is not longer
  // (docs/PERFORMANCE.md, "Send groups' slot, and warming 30,000 profiles").
  BGC_CACHE_WARM_COUNT: intFrom(0, 10_000_000).default(30_000),
  // Of those, how many are warmed before /readyz turns ready; the rest follow in the background,
  // so a restart is not held up by the tail (the 5,000 hottest cost 1.8 s on `large`, 30,000 7.4 s).
  BGC_CACHE_WARM_BEFORE_READY: intFrom(0, 10_000_000).default(5_000),
  BGC_CACHE_WARM_TIMEOUT_MS: intFrom(0, 600_000).default(15_000),
  BGC_CACHE_WARM_SETS_COUNT: intFrom(0, 1_000_000).default(1_000),
  BGC_CACHE_NEGATIVE_TTL_S: intFrom(1, 3_600).default(30),
  BGC_CACHE_GRACE_S: intFrom(0, 604_800).default(21_600),
  BGC_CACHE_PAGE_TTL_MS: intFrom(0, 60_000).default(1_000),
  BGC_CACHE_CHAT_PAGE_TTL_MS: intFrom(0, 600_000).default(10_000),
  BGC_CACHE_PAGE_MAX_BYTES: intFrom(1_048_576, 17_179_869_184).default(128 * 1024 * 1024),

  BGC_REPLICA_MAX_LAG_MS: intFrom(1, 3_600_000).default(2_000),
  BGC_REPLICA_POLL_MS: intFrom(50, 60_000).default(500),
  BGC_RYW_WAIT_MS: intFrom(0, 10_000).default(50),
  // Patroni REST APIs (comma-separated http URLs, DESIGN §7): the replicas then come from
  // Patroni's /cluster at run time (src/db/patroni-replicas.ts), beside any DATABASE_REPLICA_URLS.
  BGC_PATRONI_URLS: z.string().optional(),

  BGC_PARTITION_PREMAKE_MONTHS: intFrom(1, 36).default(3),
  BGC_PARTITION_RETENTION_MONTHS: intFrom(1, 1_200).default(24),
  BGC_PARTITION_ARCHIVE_MODE: z.enum(['file', 'schema']).default('file'),
  BGC_PARTITION_RETENTION_MONTHS_MESSAGES: intFrom(1, 1_200).optional(),
  BGC_PARTITION_RETENTION_MONTHS_STATUS_UPDATES: intFrom(1, 1_200).optional(),
  BGC_PARTITION_MAINTENANCE_INTERVAL_S: intFrom(1, 86_400 * 7).default(3_600),
  BGC_JOBS_ENABLED: bool.default(true),

  BGC_SESSION_TTL_HOURS: intFrom(1, 24 * 365).default(24 * 30),
  // Login rate limiting (src/cache/rate-limit.ts): failed logins per client IP and per
  // account within a fixed window; 0 turns that limit off.
  BGC_LOGIN_RATE_LIMIT_IP: intFrom(0, 10_000_000).default(50),
  BGC_LOGIN_RATE_LIMIT_ACCOUNT: intFrom(0, 10_000_000).default(10),
  BGC_LOGIN_RATE_WINDOW_S: intFrom(1, 86_400).default(900),
  // Browser origins allowed to call the API (comma-separated, exact match); none by default.
  BGC_CORS_ORIGINS: z.string().optional(),
  // Proxies whose X-Forwarded-For is believed (Fastify trustProxy): 'true', a hop count, or
  // comma-separated addresses/CIDRs. Unset: the socket's peer is the client.
  BGC_TRUST_PROXY: z.string().optional(),
  // Queue-delay admission control (src/http/overload-guard.ts): while requests' shortest wait
  // (for a pool connection, or for the event loop) over an interval stays above the target,
  // new ones get 503 OVERLOADED at once. 0 turns it off. Unset: 5 ms, or off when NODE_ENV=test
  // (bursty tests on a shared machine must not be shed unless they ask for it).
  BGC_OVERLOAD_TARGET_MS: intFrom(0, 60_000).optional(),
  BGC_OVERLOAD_INTERVAL_MS: intFrom(10, 60_000).default(100),
  // Requests run at once per connection the pool may open (size + overflow); the rest wait in
  // the admission queue, where the controlled delay and LIFO apply. Sends, posts and comments
  // waiting for their group's commit do not count (src/http/overload-guard.ts). 1 since 2026-12-05:
  // at 4x overload it answered 1,177 2xx/s with p99 239 ms against 722 and 852 ms with 2
  // (docs/PERFORMANCE.md, "Admission slots").
  BGC_OVERLOAD_SLOTS_PER_CONNECTION: intFrom(1, 16).default(1),
  // Graceful drain on SIGTERM (bgc serve): /readyz fails at once, new requests are still served
  // for this long (until the load balancer has seen it: HAProxy's fall × inter), then the
  // server stops accepting, finishes in-flight requests and exits.
  BGC_DRAIN_MS: intFrom(0, 600_000).default(0),
  // App-level group commit of direct-message sends (src/services/write-batcher.ts): concurrent
  // sends share one statement and one commit, up to this many per group (1 = each alone) ...
  BGC_SEND_GROUP_MAX: intFrom(1, 1_000).default(64),
  // ... with at most this many groups writing at once.
  BGC_SEND_GROUP_IN_FLIGHT: intFrom(1, 64).default(2),

  BGC_HISTORY_INTERVAL_S: intFrom(10, 86_400).default(300),
  BGC_HISTORY_RETENTION_DAYS: intFrom(1, 3_650).default(70),
  BGC_HISTORY_TOP_STATEMENTS: intFrom(1, 10_000).default(100),
  BGC_HISTORY_RELATION_STATS_MIN: intFrom(0, 1_440).default(60),
  BGC_ALERTMANAGER_URL: z.string().url().optional(),
  BGC_BASELINE: bool.default(false),

  // Real-time delivery over WebSocket at /api/realtime (src/realtime, docs/ARCHITECTURE.md).
  BGC_REALTIME_ENABLED: bool.default(true),
  // Sockets one instance holds at most; beyond it the upgrade is refused with 503 OVERLOADED.
  BGC_REALTIME_MAX_CONNECTIONS: intFrom(1, 1_000_000).default(20_000),
  // Bytes a socket may have queued for writing; past it the client is a slow consumer (close 4006).
  BGC_REALTIME_MAX_BUFFERED_BYTES: intFrom(1_024, 64 * 1024 * 1024).default(256 * 1024),
  BGC_REALTIME_HEARTBEAT_MS: intFrom(50, 600_000).default(25_000),
  // No frame and no pong for this long closes the socket (4005); must exceed the heartbeat.
  BGC_REALTIME_IDLE_TIMEOUT_MS: intFrom(100, 3_600_000).default(60_000),
  // A socket without an Authorization header must send {"type":"auth"} within this (4002).
  BGC_REALTIME_AUTH_TIMEOUT_MS: intFrom(100, 120_000).default(5_000),
  // Typing indicators forwarded per user per second (burst 3); the rest are dropped.
  BGC_REALTIME_TYPING_PER_S: z.coerce.number().min(0.01).max(100).default(1),
  // Prefix of the real-time channels and presence keys in Redis. Default: BGC_CACHE_NAMESPACE
  // without a trailing version (bgc:v1 → bgc), so bumping the cache's version to reset the
  // cache does not split real-time delivery between old and new instances during the roll.
  BGC_REALTIME_NAMESPACE: z.string().regex(/^[a-z0-9:_-]+$/i).optional(),
});

export type RawEnv = z.infer<typeof envSchema>;
