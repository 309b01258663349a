import type { FastifyInstance } from 'fastify';
import type { AppDeps, ReadinessReport } from '../../app/deps.ts';

export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'Readiness: warm-up done, not draining, and a database node answering (the primary, or a replica in rotation); each node\'s state and Redis' },
  }, async (_req, reply) => {
    const report = await deps.readiness();
    return reply.code(report.ready ? 200 : 503).send(publicView(report));
  });
}

/**
 * The report without error texts: this port is public, and a driver's message names hosts,
 * addresses and user names (`connect ECONNREFUSED 10.0.3.7:5432`, `password authentication
 * failed for user …`). The admin port's status and dashboard keep them.
 */
function publicView(r: ReadinessReport): ReadinessReport {
  const ok = <T extends { readonly ok: boolean; readonly error?: string }>(x: T) => ({ ok: x.ok, ...(x.error !== undefined ? { error: 'unavailable' } : {}) });
  return { ...r, primary: ok(r.primary), redis: ok(r.redis), replicas: r.replicas.map((x) => ({ ...x, error: x['error'] === null || x['error'] === undefined ? null : 'unavailable' })) };
}
