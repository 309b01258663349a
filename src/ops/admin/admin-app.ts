import crypto from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { installErrorHandler, sendError } from '../../http/error-handler.ts';
import { poolCapacity } from '../../config/index.ts';

function tokenMatches(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/**
 * The admin port: /metrics (Prometheus), /dashboard and the admin JSON API. In
 * production every path needs the admin token (Bearer, X-Admin-Token, or as the Basic
 * password for browsers), compared in constant time. /metrics stays open outside
 * production so local Prometheus can scrape.
 */
export async function buildAdminApp(deps: AppDeps, extra: Array<(app: FastifyInstance) => Promise<void>> = []): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 16 * 1024 });
  installErrorHandler(app);
  if (deps.config.env === 'production') {
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization;
      // Basic (any user name, the token as password) lets a browser open /dashboard: it asks
      // once on the 401 below and resends the credentials with the page's own fetches.
      const basic = header?.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : undefined;
      const given = header?.startsWith('Bearer ') ? header.slice(7)
        : basic !== undefined ? basic.slice(basic.indexOf(':') + 1)
        : (request.headers['x-admin-token'] as string | undefined) ?? '';
      if (!given || !tokenMatches(given, deps.config.http.adminToken)) {
        reply.header('www-authenticate', 'Basic realm="bgc admin", charset="UTF-8"');
        return sendError(reply, 'UNAUTHENTICATED', 'admin token required');
      }
    });
  }

  app.get('/metrics', async (_req, reply) => {
    refreshGauges(deps);
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/admin/api/status', async () => ({
    pools: deps.db.poolStats(),
    router: deps.db.router.snapshot(),
    primaryLsn: deps.db.router.primaryLsn ?? null,
    fallbacks: deps.db.router.fallbacks,
    rywWaits: deps.db.router.rywWaits,
  }));

  for (const register of extra) await app.register(async (scope) => register(scope));
  return app;
}

/** Gauges that are read on scrape rather than pushed. */
export function refreshGauges(deps: AppDeps): void {
  const m = deps.metrics;
  const maxConns = poolCapacity(deps.config.pool);
  for (const s of deps.db.poolStats()) {
    m.poolConnections.set({ node: s.node, role: s.role, state: 'total' }, s.total);
    m.poolConnections.set({ node: s.node, role: s.role, state: 'idle' }, s.idle);
    m.poolConnections.set({ node: s.node, role: s.role, state: 'waiting' }, s.waiting);
    m.poolMax.set({ node: s.node, role: s.role }, maxConns);
  }
  for (const r of deps.db.router.snapshot()) {
    m.replicaLagSeconds.set({ node: r.node }, r.lagMs / 1000);
    m.replicaLagBytes.set({ node: r.node }, r.lagBytes);
    m.replicaAvailable.set({ node: r.node }, r.available ? 1 : 0);
  }
}
