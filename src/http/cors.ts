import type { FastifyInstance } from 'fastify';
import { sendError } from './error-handler.ts';

/**
 * CORS for the public API, as a small onRequest hook (no dependency): only the origins in
 * BGC_CORS_ORIGINS (exact `scheme://host[:port]` match) may call the API from a browser;
 * none by default. Authentication is a bearer token, never a cookie, so credentials are not
 * allowed and no origin can make a browser send one on a user's behalf.
 *
 *  - A request with an allowed Origin gets Access-Control-Allow-Origin: <that origin>
 *    (never `*`), and can read X-BGC-LSN and Retry-After.
 *  - A preflight (OPTIONS + Access-Control-Request-Method) from an allowed origin is
 *    answered 204 with the methods and headers the API uses; from any other origin 403
 *    FORBIDDEN, with no CORS headers, so the browser blocks the call.
 *  - Every response varies by Origin, so a shared cache never serves one origin's answer
 *    to another.
 */
const METHODS = 'GET, POST, PUT, DELETE';
const HEADERS = 'authorization, content-type, x-bgc-lsn, idempotency-key';
const EXPOSED = 'X-BGC-LSN, Retry-After, Idempotent-Replayed';
const PREFLIGHT_MAX_AGE_S = '600';

/**
 * The CORS headers of an answer made before Fastify (the admission guard's 503): without
 * them a browser on an allowed origin sees a network error instead of a 503 it can read,
 * and cannot read its Retry-After.
 */
export function corsHeadersFor(allowedOrigins: ReadonlySet<string>, origin: string | undefined): Record<string, string> {
  if (origin === undefined || !allowedOrigins.has(origin)) return { vary: 'Origin' };
  return { vary: 'Origin', 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED };
}

export function installCors(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  const allowed = new Set(allowedOrigins);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('Vary', 'Origin');
    const origin = request.headers.origin;
    const isAllowed = typeof origin === 'string' && allowed.has(origin);
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (preflight) {
      if (!isAllowed) return sendError(reply, 'FORBIDDEN', 'This origin may not call the API');
      reply.header('Access-Control-Allow-Origin', origin);
      reply.header('Access-Control-Allow-Methods', METHODS);
      reply.header('Access-Control-Allow-Headers', HEADERS);
      reply.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_S);
      return reply.code(204).send();
    }
    if (isAllowed) {
      reply.header('Access-Control-Allow-Origin', origin);
      reply.header('Access-Control-Expose-Headers', EXPOSED);
    }
  });
}
