import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { Database } from '../db/database.ts';
import { Metrics } from '../metrics/registry.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import { createServices } from '../services/index.ts';
import { buildApp } from '../http/app.ts';
import { buildAdminApp } from '../ops/admin/admin-app.ts';
import type { AppDeps, ReadinessReport } from './deps.ts';
import { startBackground } from '../jobs/index.ts';
import { startCache } from '../cache/wiring.ts';
import { LoginRateLimiter } from '../cache/rate-limit.ts';
import { dashboardRoutes } from '../ops/dashboard/routes.ts';
import { registerHistoryJobs } from '../ops/history/wiring.ts';
import { startRealtime } from '../realtime/index.ts';

export interface Runtime {
  readonly deps: AppDeps;
  readonly app: FastifyInstance;
  readonly admin: FastifyInstance;
  /** Ports actually bound (0 in the config means "any free port"). */
  readonly ports: { readonly api: number; readonly admin: number };
  /**
   * First step of a graceful drain: /readyz answers 503 from now on so the load balancer
   * stops sending, while requests (new ones included) are still served until close().
   */
  startDraining(): void;
  close(): Promise<void>;
}

/**
 * Builds and starts one app instance: pools (pre-filled), services, the public API and
 * the admin port. `close()` is the graceful shutdown: stop accepting, drain in-flight
 * requests, then close pools.
 */
export async function startRuntime(config: Config, opts: { logger?: Logger; listen?: boolean } = {}): Promise<Runtime> {
  // What is open so far, closed in reverse if a later step fails: a start that failed after the
  // pools opened (the admin port taken, a bad trusted-proxy list) left a half-started process
  // serving the API, never ready, with no drain handler and nothing to make it exit.
  const opened: Array<() => Promise<unknown>> = [];
  try {
    return await startInstance(config, opts, opened);
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}

async function startInstance(config: Config, opts: { logger?: Logger; listen?: boolean }, opened: Array<() => Promise<unknown>>): Promise<Runtime> {
  const logger = opts.logger ?? createLogger(config);
  const metrics = new Metrics();
  const db = new Database(config, {
    onPoolError: (err, node) => logger.warn({ node, err: err.message }, 'idle connection dropped'),
    // Used only when LOG_SQL is on, which config never allows in production.
    sqlLog: logger,
    // A node that stops answering must not hold a request past statement_timeout + 1 s.
    clientQueryTimeout: true,
  });
  db.setObserver({
    onQuery: (name, node, role, seconds, ok) => {
      metrics.dbQueryDuration.observe({ query: name, role }, seconds);
      metrics.dbQueriesByNode.inc({ node, role });
      if (!ok) metrics.dbQueryErrors.inc({ query: name, role });
    },
    onRoute: (_name, d) => metrics.dbRouted.inc({ node: d.node, reason: d.reason }),
  });
  opened.push(() => db.close());
  await db.start();
  // Cache layer (Redis, L1, invalidation listener); fail-open, and a pass-through when disabled.
  const cache = await startCache(config, { db, metrics, logger });
  opened.push(() => cache.close());
  // Login rate limits live in Redis: on the cache's connection, or its own when the cache is off.
  const loginLimiter = new LoginRateLimiter(config, { shared: cache.layer ? { redis: cache.layer.redis, health: cache.layer.health } : undefined, logger });
  opened.push(() => loginLimiter.close());
  const services = createServices({ config, db, logger, wrapReaders: cache.wrapReaders, firstPages: cache.firstPages });
  cache.attach(services);
  // Real-time delivery (/api/realtime): after-commit hooks → Redis pub/sub → sockets.
  const realtime = await startRealtime(config, {
    db, services, metrics, logger, shared: cache.layer ? { redis: cache.layer.redis, health: cache.layer.health } : undefined,
  });
  cache.layer?.onKeysInvalidated((name, ids) => { if (name === 'session') realtime?.hub.sessionKeysInvalidated(ids); });
  cache.layer?.onFlushed((name) => { if (name === 'session') realtime?.hub.sessionsFlushed(); });
  let warmedUp = false;
  let draining = false;

  // /readyz is public and outside admission: concurrent probes share one ping (a flood of
  // them took a primary connection each, and the pool's waits tripped the admission's shedding).
  let ping: { at: number; value: Promise<ReadinessReport['primary']> } | undefined;
  const readiness = async (): Promise<ReadinessReport> => {
    if (!ping || Date.now() - ping.at > READINESS_PING_SHARED_MS) ping = { at: Date.now(), value: pingPrimary(db) };
    const primary = await ping.value;
    const snapshot = db.router.snapshot();
    const replicas = snapshot.map((r) => ({
      node: r.node, state: r.available ? 'streaming' : r.reachable ? 'lagging' : 'down',
      available: r.available, lag_ms: r.lagMs, lag_bytes: r.lagBytes, in_flight: r.inFlight, error: r.lastError ?? null,
    }));
    const redis = cache.redisStatus();
    // Ready when this instance can serve: warmed up, not draining, and some database node
    // answers. The primary and the replicas are shared by every instance: requiring the primary
    // took the whole fleet out of HAProxy at once while it failed over (reads included, which
    // the replicas serve), or while its pool was busy past the check's timeout.
    const database = primary.ok || snapshot.some((r) => r.available);
    return { ready: database && warmedUp && !draining, primary, replicas, redis, warmedUp, draining };
  };

  const deps: AppDeps = { config, logger, db, metrics, services, readiness, loginLimiter, realtime };
  opened.push(async () => realtime?.close());
  const app = await buildApp(deps);
  opened.push(() => app.close());
  const admin = await buildAdminApp(deps, [cache.adminRoute, dashboardRoutes(deps)]);
  opened.push(() => admin.close());
  let ports = { api: 0, admin: 0 };
  if (opts.listen !== false) {
    await app.listen({ host: config.http.host, port: config.http.port });
    await admin.listen({ host: config.http.adminHost, port: config.http.adminPort });
    ports = { api: portOf(app), admin: portOf(admin) };
  }
  // FR-012: warm before /readyz turns ready (bounded by BGC_CACHE_WARM_COUNT / _TIMEOUT_MS).
  await cache.warm();
  warmedUp = true;
  // Partition health metrics on every instance; the job scheduler only when config.jobsEnabled.
  const background = startBackground({ config, db, metrics, logger });
  // Workload history snapshots and the monthly report (FR-020), leader-only on the same scheduler.
  if (background.scheduler) registerHistoryJobs(background.scheduler, { db, config, metrics });
  let closing: Promise<void> | undefined;
  return {
    deps, app, admin, ports,
    startDraining: () => { draining = true; },
    close: () => {
      closing ??= (async () => {
        await Promise.allSettled([app.close(), admin.close()]);
        await background.stop();
        await realtime?.close();
        await cache.close();
        await loginLimiter.close();
        await db.close();
      })();
      return closing;
    },
  };
}

function portOf(app: FastifyInstance): number {
  const addr = app.server.address();
  return addr && typeof addr === 'object' ? addr.port : 0;
}

/**
 * The primary answers a ping within READINESS_PING_MS, on the health checks' own connection
 * (Database.pingPrimary), so a pool busy with the app's reads does not delay it. A slow node's
 * answer would come after the balancer's check timed out (HAProxy's is 1 s): past the bound the
 * primary is reported as not answering, and the ping goes on by itself (its connection bounds it).
 */
const READINESS_PING_MS = 750;
/** Readiness checks within this long of a ping share it. */
const READINESS_PING_SHARED_MS = 250;
async function pingPrimary(db: Database): Promise<ReadinessReport['primary']> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${READINESS_PING_MS} ms`)), READINESS_PING_MS); });
  try {
    await Promise.race([db.pingPrimary(), late]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
