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
 * Liveness and readiness probes are exempt: an overloaded instance is alive, and a load
 * balancer must not take every instance out at once because all of them are busy.
 */
const EXEMPT = new Set(['/healthz', '/readyz']);

export interface OverloadGuard {
  readonly inflight: () => number;
  readonly refused: () => number;
}

export function installOverloadGuard(app: FastifyInstance, limit: number): OverloadGuard {
  let inflight = 0;
  let refused = 0;
  if (limit > 0) {
    app.addHook('onRequest', (request, reply, done) => {
      if (EXEMPT.has(request.url)) { done(); return; }
      if (inflight >= limit) {
        refused++;
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
  return { inflight: () => inflight, refused: () => refused };
}
