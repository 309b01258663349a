import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envSchema, LOCAL_STACK, DEFAULT_ADMIN_TOKEN, type RawEnv } from './schema.ts';
import { photoStorageFrom, type PhotoStorageConfig } from './photo-storage.ts';
import { databaseConfig, type DatabaseConfig } from './database-urls.ts';

export type { PhotoStorageConfig } from './photo-storage.ts';
export type { DatabaseConfig } from './database-urls.ts';

export { LOCAL_STACK } from './schema.ts';

export type NodeEnv = 'development' | 'test' | 'production';

export interface PoolConfig {
  /** Connections opened at start-up and kept (SQLAlchemy's pool_size). */
  readonly size: number;
  /** Extra connections allowed under load, closed again when idle (max_overflow). */
  readonly maxOverflow: number;
  readonly acquireTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** A connection idle longer than this is pinged before use (pre-ping). */
  readonly prePingAfterMs: number;
  readonly maxLifetimeSeconds: number;
  readonly statementTimeoutMs: number;
}

/** The most connections a pool with these settings may hold open at once. */
export function poolCapacity(pool: Pick<PoolConfig, 'size' | 'maxOverflow'>): number {
  return pool.size + pool.maxOverflow;
}

/**
 * The pool every node gets. The baseline mode (the benchmark's "before") uses node-postgres'
 * defaults instead of the tuned settings: at most 10 connections, opened lazily, never pinged
 * or recycled. Derived here once so the pools, the gauges and the overload guard agree.
 */
function poolFor(raw: RawEnv): PoolConfig {
  const tuned: PoolConfig = {
    size: raw.BGC_POOL_SIZE,
    maxOverflow: raw.BGC_POOL_MAX_OVERFLOW,
    acquireTimeoutMs: raw.BGC_POOL_ACQUIRE_TIMEOUT_MS,
    idleTimeoutMs: raw.BGC_POOL_IDLE_TIMEOUT_MS,
    prePingAfterMs: raw.BGC_POOL_PREPING_AFTER_MS,
    maxLifetimeSeconds: raw.BGC_POOL_MAX_LIFETIME_S,
    statementTimeoutMs: raw.BGC_STATEMENT_TIMEOUT_MS,
  };
  return raw.BGC_BASELINE ? { ...tuned, size: 0, maxOverflow: 10, prePingAfterMs: Number.MAX_SAFE_INTEGER, maxLifetimeSeconds: 0 } : tuned;
}

/** The local stack's ports: DESIGN §2's, moved by BGC_STACK_PORT_OFFSET. */
export interface StackPorts {
  readonly portOffset: number;
  readonly primaryPort: number;
  readonly replicaPorts: readonly [number, number];
  readonly redisPort: number;
  /** `bgc stack up --pgbouncer`: one PgBouncer per node, primary first (DESIGN §7: 64320-64322). */
  readonly pgbouncerPorts: readonly [number, number, number];
}

export interface RedisSentinelAddress { readonly host: string; readonly port: number }

export interface Config {
  readonly env: NodeEnv;
  readonly projectRoot: string;
  readonly usesLocalStack: boolean;
  /** Where `bgc stack` runs its servers; the default URLs below point at them. */
  readonly stack: StackPorts;
  /** Which address each kind of database work uses; behind PgBouncer see src/config/database-urls.ts. */
  readonly database: DatabaseConfig;
  readonly redis: {
    readonly url: string;
    readonly maxmemory: string;
    readonly policy: string;
    /** REDIS_SENTINELS: where to ask for the master; empty = connect to `url` directly. */
    readonly sentinels: readonly RedisSentinelAddress[];
    /** REDIS_SENTINEL_NAME: the master's name in the sentinels' `sentinel monitor` line. */
    readonly sentinelName: string;
  };
  readonly http: {
    readonly host: string; readonly port: number; readonly adminPort: number; readonly adminToken: string;
    /**
     * Where the admin port listens. Outside production its paths need no token, so by default
     * it stays on 127.0.0.1 whatever HOST says: a staging host with HOST=0.0.0.0 and the
     * default NODE_ENV served the admin API (pool errors, statement texts, reports) to anyone.
     */
    readonly adminHost: string;
  };
  readonly log: { readonly level: string; readonly sql: boolean };
  /** The pool settings in force (the baseline mode's node-postgres defaults included). */
  readonly pool: PoolConfig;
  readonly cache: {
    readonly enabled: boolean;
    /** Versioned key prefix: bump the version to orphan every old key at once. */
    readonly namespace: string;
    readonly l1MaxBytes: number;
    readonly profileTtlSeconds: number;
    readonly sessionTtlSeconds: number;
    readonly warmCount: number;
    /** Profiles warmed before ready; the rest of warmCount after it, in the background. */
    readonly warmBeforeReady: number;
    readonly warmTimeoutMs: number;
    /** Relationship sets (every node) of this many most recently active users warmed at start-up. */
    readonly warmSetsCount: number;
    /** TTL of a cached "no such id" (negative caching). */
    readonly negativeTtlSeconds: number;
    /** How long past its TTL a value may still be served if reloading it fails (0 = never). */
    readonly graceSeconds: number;
    /**
     * How long a cached first page (inbox, history, feeds; src/cache/page-cache.ts) serves
     * readers who need no newer position: the staleness others' writes may show, like a
     * replica read's lag. 0 turns first-page caching off.
     */
    readonly pageTtlMs: number;
    /**
     * How long a cached inbox or history first page may serve (BGC_CACHE_CHAT_PAGE_TTL_MS): a
     * message or a read invalidates it at once (src/cache/page-versions.ts), so this bounds
     * only what raises no change position (another member's new name). 10 s by default (mixed
     * +21% on `large`, +5-14% on `medium`: docs/PERFORMANCE.md, "Chat pages at the replicas'
     * position"). 0: the chat pages use pageTtlMs and the read-your-writes marks, like the feeds.
     */
    readonly chatPageTtlMs: number;
    /**
     * Heap each first-page store (the feeds', the chat pages') may hold, estimated
     * (src/cache/heap-size.ts), in bytes (BGC_CACHE_PAGE_MAX_BYTES, 128 MB). A page of 50
     * short messages is about 20 KB, of 50 at the length limit about 200 KB.
     */
    readonly pageMaxBytes: number;
  };
  readonly replicas: { readonly maxLagMs: number; readonly pollMs: number; readonly readYourWritesWaitMs: number };
  readonly partitions: {
    readonly premakeMonths: number;
    readonly retentionMonths: number;
    readonly archiveMode: 'file' | 'schema';
    /** Per-table retention overrides; a missing table uses retentionMonths. */
    readonly retentionByTable: { readonly messages?: number; readonly status_updates?: number };
    readonly maintenanceIntervalSeconds: number;
  };
  readonly jobsEnabled: boolean;
  readonly sessionTtlHours: number;
  /** Failed-login limits per client IP and per account (0 = off), in a fixed window. */
  readonly loginRateLimit: { readonly perIp: number; readonly perAccount: number; readonly windowSeconds: number };
  /** Origins allowed by CORS (exact match); empty = no cross-origin access. */
  readonly corsOrigins: readonly string[];
  /** Fastify's trustProxy: false (default), true, a hop count, or a list of addresses/CIDRs. */
  readonly trustProxy: boolean | number | readonly string[];
  /** Queue-delay admission control: target and interval in ms (target 0 = off). */
  readonly overload: { readonly targetMs: number; readonly intervalMs: number; readonly slotsPerConnection: number };
  /** SIGTERM: how long /readyz fails while requests are still served, before the server stops accepting. */
  readonly drainMs: number;
  /** Group commit of direct-message sends: members per group (1 = off) and groups at once; the baseline sends each alone. */
  readonly sendGrouping: { readonly maxGroup: number; readonly maxInFlight: number };
  /** Workload history snapshots (src/ops/history) and monthly reports (src/ops/report). */
  readonly history: {
    readonly intervalSeconds: number;
    /** Snapshots older than this are deleted; keep ≥ 62 so a report can compare with the month before. */
    readonly retentionDays: number;
    /** Statements kept per node per snapshot (by time spent since the previous one). */
    readonly topStatements: number;
    /** Table/index/partition statistics are captured at most this often (0: every snapshot). */
    readonly relationStatsMinutes: number;
    readonly alertmanagerUrl: string;
  };
  /** Real-time delivery (src/realtime); off in the baseline mode. */
  readonly realtime: {
    readonly enabled: boolean;
    readonly maxConnections: number;
    readonly maxBufferedBytes: number;
    readonly heartbeatMs: number;
    readonly idleTimeoutMs: number;
    readonly authTimeoutMs: number;
    readonly typingPerSecond: number;
    /** Prefix of real-time channels and presence keys: the cache namespace without its version, unless set. */
    readonly namespace: string;
  };
  /** The naive "before phase 1" mode used by the benchmark's baseline. */
  readonly baseline: boolean;
  readonly dataDir: string;
  /** Where photo and chat-image bytes live (BGC_PHOTO_STORAGE_URL): the data directory by default, or S3. */
  readonly photoStorage: PhotoStorageConfig;
}

/** Start-up refuses to continue; the message names every bad variable. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function localUrl(port: number): string {
  return `postgres://${LOCAL_STACK.user}@127.0.0.1:${port}/${LOCAL_STACK.database}`;
}

function sentinelAddresses(raw: string | undefined, problems: string[]): RedisSentinelAddress[] {
  const items = (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const out: RedisSentinelAddress[] = [];
  for (const item of items) {
    const m = /^([^:\s]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || port < 1 || port > 65535) problems.push(`REDIS_SENTINELS: "${item}" is not host:port such as 127.0.0.1:26379`);
    else out.push({ host: m[1], port });
  }
  return out;
}

function splitUrls(raw: string | undefined, problems: string[], name = 'DATABASE_REPLICA_URLS'): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const urls = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const u of urls) {
    if (!URL.canParse(u)) problems.push(`${name}: "${u}" is not a URL`);
  }
  return urls;
}

function patroniUrls(raw: string | undefined, problems: string[]): string[] {
  const urls = (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const u of urls) {
    if (!URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol)) problems.push(`BGC_PATRONI_URLS: "${u}" is not an http(s) URL such as http://127.0.0.1:8008`);
  }
  return urls;
}

function corsOrigins(raw: string | undefined, problems: string[]): string[] {
  const origins = (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const o of origins) {
    // An origin is scheme://host[:port], nothing more (what browsers send in Origin).
    if (!URL.canParse(o) || new URL(o).origin !== o) problems.push(`BGC_CORS_ORIGINS: "${o}" is not an origin such as https://app.example.com`);
  }
  return origins;
}

/** The names proxy-addr (Fastify's trustProxy) takes for address ranges. */
const PROXY_ADDR_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function trustProxy(raw: string | undefined, problems: string[]): boolean | number | string[] {
  const v = (raw ?? '').trim();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const entries = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  // Checked here, not by Fastify at start-up after the pools opened: an address or a CIDR range.
  for (const e of entries) {
    if (PROXY_ADDR_NAMES.has(e)) continue;
    const [addr = '', bits, extra] = e.split('/');
    const family = net.isIP(addr);
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || extra !== undefined || !bitsOk) problems.push(`BGC_TRUST_PROXY: "${e}" is not an IP address or CIDR range (or use true, false or a hop count)`);
  }
  return entries;
}

function httpPorts(raw: RawEnv, stack: StackPorts, problems: string[]): Config['http'] {
  const port = raw.PORT ?? 3000 + stack.portOffset;
  const adminPort = raw.ADMIN_PORT ?? 3001 + stack.portOffset;
  // Found here, not when the second listen fails after the API port is serving.
  if (port !== 0 && port === adminPort) problems.push(`PORT and ADMIN_PORT are both ${port}: the API and the admin port need ports of their own`);
  const adminHost = raw.ADMIN_HOST ?? (raw.NODE_ENV === 'production' ? raw.HOST : '127.0.0.1');
  return { host: raw.HOST, port, adminPort, adminToken: raw.ADMIN_TOKEN, adminHost };
}

function stackPorts(offset: number): StackPorts {
  return {
    portOffset: offset,
    primaryPort: LOCAL_STACK.primaryPort + offset,
    replicaPorts: [LOCAL_STACK.replicaPorts[0] + offset, LOCAL_STACK.replicaPorts[1] + offset],
    redisPort: LOCAL_STACK.redisPort + offset,
    pgbouncerPorts: [LOCAL_STACK.pgbouncerPorts[0] + offset, LOCAL_STACK.pgbouncerPorts[1] + offset, LOCAL_STACK.pgbouncerPorts[2] + offset],
  };
}

function build(raw: RawEnv, problems: string[]): Config {
  const usesLocalStack = raw.DATABASE_URL === undefined;
  const stack = stackPorts(raw.BGC_STACK_PORT_OFFSET);
  // With Patroni naming the replicas, the plain local stack's replicas are not added by default.
  const replicaUrls = usesLocalStack && raw.DATABASE_REPLICA_URLS === undefined && raw.BGC_PATRONI_URLS === undefined
    ? stack.replicaPorts.map(localUrl)
    : splitUrls(raw.DATABASE_REPLICA_URLS, problems);
  const production = raw.NODE_ENV === 'production';
  if (production && raw.ADMIN_TOKEN === DEFAULT_ADMIN_TOKEN) {
    problems.push('ADMIN_TOKEN: the default development token is refused in production; set a secret');
  }
  if (production && raw.ADMIN_TOKEN.length < 16) problems.push('ADMIN_TOKEN: must be at least 16 characters in production');
  if (raw.BGC_REALTIME_IDLE_TIMEOUT_MS <= raw.BGC_REALTIME_HEARTBEAT_MS) {
    problems.push('BGC_REALTIME_IDLE_TIMEOUT_MS: must be longer than BGC_REALTIME_HEARTBEAT_MS (a live client answers each heartbeat ping)');
  }
  const defaultLevel = raw.NODE_ENV === 'test' ? 'warn' : 'info';
  return {
    env: raw.NODE_ENV,
    projectRoot,
    usesLocalStack,
    stack,
    database: databaseConfig({
      poolUrl: raw.DATABASE_URL ?? localUrl(stack.primaryPort), poolUrlGiven: raw.DATABASE_URL !== undefined, sessionUrl: raw.DATABASE_SESSION_URL,
      replicaUrls, replicaSessionUrls: splitUrls(raw.DATABASE_REPLICA_SESSION_URLS, problems, 'DATABASE_REPLICA_SESSION_URLS'), patroniUrls: patroniUrls(raw.BGC_PATRONI_URLS, problems), namedStatements: raw.BGC_DB_NAMED_STATEMENTS,
    }, problems),
    redis: {
      url: raw.REDIS_URL ?? `redis://127.0.0.1:${stack.redisPort}`,
      sentinels: sentinelAddresses(raw.REDIS_SENTINELS, problems),
      sentinelName: raw.REDIS_SENTINEL_NAME,
      maxmemory: raw.BGC_REDIS_MAXMEMORY,
      policy: raw.BGC_REDIS_POLICY,
    },
    // A second checkout moved by BGC_STACK_PORT_OFFSET serves beside the first without more settings.
    http: httpPorts(raw, stack, problems),
    // FR-002: statement logging is never on in production, whatever LOG_SQL says.
    log: { level: raw.LOG_LEVEL ?? defaultLevel, sql: production ? false : (raw.LOG_SQL ?? false) },
    pool: poolFor(raw),
    cache: {
      enabled: raw.BGC_CACHE_ENABLED && !raw.BGC_BASELINE,
      namespace: raw.BGC_CACHE_NAMESPACE,
      l1MaxBytes: raw.BGC_CACHE_L1_MAX_BYTES,
      profileTtlSeconds: raw.BGC_CACHE_PROFILE_TTL_S,
      sessionTtlSeconds: raw.BGC_CACHE_SESSION_TTL_S,
      warmCount: raw.BGC_CACHE_WARM_COUNT,
      warmBeforeReady: raw.BGC_CACHE_WARM_BEFORE_READY,
      warmTimeoutMs: raw.BGC_CACHE_WARM_TIMEOUT_MS,
      warmSetsCount: raw.BGC_CACHE_WARM_SETS_COUNT,
      negativeTtlSeconds: raw.BGC_CACHE_NEGATIVE_TTL_S,
      graceSeconds: raw.BGC_CACHE_GRACE_S,
      pageTtlMs: raw.BGC_CACHE_PAGE_TTL_MS,
      chatPageTtlMs: raw.BGC_CACHE_CHAT_PAGE_TTL_MS,
      pageMaxBytes: raw.BGC_CACHE_PAGE_MAX_BYTES,
    },
    replicas: {
      maxLagMs: raw.BGC_REPLICA_MAX_LAG_MS,
      pollMs: raw.BGC_REPLICA_POLL_MS,
      readYourWritesWaitMs: raw.BGC_RYW_WAIT_MS,
    },
    partitions: {
      premakeMonths: raw.BGC_PARTITION_PREMAKE_MONTHS,
      retentionMonths: raw.BGC_PARTITION_RETENTION_MONTHS,
      archiveMode: raw.BGC_PARTITION_ARCHIVE_MODE,
      retentionByTable: {
        ...(raw.BGC_PARTITION_RETENTION_MONTHS_MESSAGES !== undefined ? { messages: raw.BGC_PARTITION_RETENTION_MONTHS_MESSAGES } : {}),
        ...(raw.BGC_PARTITION_RETENTION_MONTHS_STATUS_UPDATES !== undefined ? { status_updates: raw.BGC_PARTITION_RETENTION_MONTHS_STATUS_UPDATES } : {}),
      },
      maintenanceIntervalSeconds: raw.BGC_PARTITION_MAINTENANCE_INTERVAL_S,
    },
    jobsEnabled: raw.BGC_JOBS_ENABLED,
    sessionTtlHours: raw.BGC_SESSION_TTL_HOURS,
    loginRateLimit: { perIp: raw.BGC_LOGIN_RATE_LIMIT_IP, perAccount: raw.BGC_LOGIN_RATE_LIMIT_ACCOUNT, windowSeconds: raw.BGC_LOGIN_RATE_WINDOW_S },
    corsOrigins: corsOrigins(raw.BGC_CORS_ORIGINS, problems),
    trustProxy: trustProxy(raw.BGC_TRUST_PROXY, problems),
    overload: { targetMs: raw.BGC_OVERLOAD_TARGET_MS ?? (raw.NODE_ENV === 'test' ? 0 : 5), intervalMs: raw.BGC_OVERLOAD_INTERVAL_MS, slotsPerConnection: raw.BGC_OVERLOAD_SLOTS_PER_CONNECTION },
    drainMs: raw.BGC_DRAIN_MS,
    sendGrouping: raw.BGC_BASELINE ? { maxGroup: 1, maxInFlight: 1 } : { maxGroup: raw.BGC_SEND_GROUP_MAX, maxInFlight: raw.BGC_SEND_GROUP_IN_FLIGHT },
    history: {
      intervalSeconds: raw.BGC_HISTORY_INTERVAL_S,
      retentionDays: raw.BGC_HISTORY_RETENTION_DAYS,
      topStatements: raw.BGC_HISTORY_TOP_STATEMENTS,
      relationStatsMinutes: raw.BGC_HISTORY_RELATION_STATS_MIN,
      alertmanagerUrl: raw.BGC_ALERTMANAGER_URL ?? `http://127.0.0.1:${9093 + stack.portOffset}`,
    },
    realtime: {
      enabled: raw.BGC_REALTIME_ENABLED && !raw.BGC_BASELINE,
      maxConnections: raw.BGC_REALTIME_MAX_CONNECTIONS,
      maxBufferedBytes: raw.BGC_REALTIME_MAX_BUFFERED_BYTES,
      heartbeatMs: raw.BGC_REALTIME_HEARTBEAT_MS,
      idleTimeoutMs: raw.BGC_REALTIME_IDLE_TIMEOUT_MS,
      authTimeoutMs: raw.BGC_REALTIME_AUTH_TIMEOUT_MS,
      typingPerSecond: raw.BGC_REALTIME_TYPING_PER_S,
      namespace: raw.BGC_REALTIME_NAMESPACE ?? raw.BGC_CACHE_NAMESPACE.replace(/:v\d+$/, ''),
    },
    baseline: raw.BGC_BASELINE,
    dataDir: path.resolve(projectRoot, raw.BGC_DATA_DIR ?? '.data'),
    photoStorage: photoStorageFrom(raw.BGC_PHOTO_STORAGE_URL, path.resolve(projectRoot, raw.BGC_DATA_DIR ?? '.data'), problems),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Parses and validates an environment; throws ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(problems);
  }
  const problems: string[] = [];
  const config = build(parsed.data, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

let cached: Config | undefined;

/** The process configuration, parsed once from process.env. */
export function loadConfig(overrides: Record<string, string | undefined> = {}): Config {
  if (Object.keys(overrides).length > 0) return parseConfig({ ...process.env, ...overrides });
  cached ??= parseConfig(process.env);
  return cached;
}

/** Values of process.env to hand to a child process (the only other env access). */
export function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { ...process.env, ...extra };
}

/**
 * The environment of the local stack's servers (PostgreSQL, Redis): a fixed PATH and locale,
 * nothing else of ours, except libfaketime's variables when they are set. The date sweep
 * (`npm run test:dates`) runs the app and its servers on one fake clock, and pg_ctl, the
 * postmaster and the tests must agree on the date. Redis is kept off the fake clock
 * (`fakeClock: false`): its jemalloc reads the clock while libfaketime initialises and the
 * server dies at start, and the app only ever gives Redis relative TTLs, so its clock never
 * decides a date.
 */
export function serverEnv(opts: { fakeClock?: boolean } = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  if (opts.fakeClock === false) return env;
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (k.startsWith('FAKETIME') || (k === 'LD_PRELOAD' && v.includes('faketime')))) env[k] = v;
  }
  return env;
}
