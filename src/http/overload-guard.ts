import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE } from '../errors/app-error.ts';
import { sendError } from './error-handler.ts';

/**
 * Admission control: at most `limit` requests in progress; a request beyond it gets
 * 503 OVERLOADED with Retry-After at once, before any authentication, cache or database
 * work.
 *
 * Why: offered more than it can serve (the benchmark's 10,000 clients at 2,000 req/s
 * against a mixed capacity near 500 req/s), the server used to accept everything, every
 * request waited behind all the others, and throughput collapsed to 211 req/s with a
 * p50 of 10 s and client timeouts (docs/PERFORMANCE.md, "Concurrency"). A bounded amount
 * of work in progress keeps the accepted requests' latency bounded (Little's law: limit /
 * throughput) and turns the excess into fast, retryable refusals instead of hangs.
 *
 * Off by default: measured on the 2-core benchmark machine at 2,000 req/s offered, it
 * turned p50 10 s into 0.6–0.8 s and client timeouts into fast 503s, but the refusals
 * cost CPU and successful answers fell from 226/s to 83/s (limit 256) and 127/s
 * (limit 1024). Where more cores or a load balancer that retries elsewhere are available,
 * bounded latency is usually worth more; the operator chooses (docs/OPERATIONS.md).
 *
 * Liveness and readiness probes are exempt: an overloaded instance is alive, and a load
 * balancer must not take every instance out at once because all of them are busy.
 */
// /api/realtime has its own limit (BGC_REALTIME_MAX_CONNECTIONS): an upgraded socket's
// response only 'close's when the socket does, so counting it would hold a slot for hours.
const EXEMPT = new Set(['/healthz', '/readyz', '/api/realtime']);

export function installOverloadGuard(app: FastifyInstance, limit: number): void {
  if (limit <= 0) return;
  let inflight = 0;
  app.addHook('onRequest', (request, reply, done) => {
    if (EXEMPT.has(request.url)) { done(); return; }
    if (inflight >= limit) {
      sendError(reply, 'OVERLOADED', ERROR_CATALOGUE.OVERLOADED.message);
      return;
    }
    inflight++;
    // 'close' follows every response, and also a client that went away mid-request,
    // so the count cannot leak (Fastify's onResponse does not run for the latter).
    reply.raw.once('close', () => { inflight--; });
    done();
  });
}
