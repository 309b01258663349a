import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { AppDeps } from '../app/deps.ts';
import { frameworkErrorHandler, installErrorHandler } from './error-handler.ts';
import { installCors } from './cors.ts';
import { makeClientErrorHandler } from './client-error.ts';
import { installOverloadGuard, parkedBound } from './overload-guard.ts';
import { guardUpgrades } from './stray-upgrades.ts';
import { toOpenApi30 } from './openapi-30.ts';
import { healthRoutes } from './routes/health.ts';
import { apiRoutes } from './routes/index.ts';
import { poolCapacity } from '../config/index.ts';

/** Largest JSON body any route accepts; profile metadata is the biggest legitimate one. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** Config's trustProxy in Fastify's typed form (a hop count becomes the hop predicate Fastify builds from one). */
function trustProxyOption(v: boolean | number | readonly string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof v === 'number') return (_address, hop) => hop < v;
  return typeof v === 'boolean' ? v : [...v];
}

/** Builds the public API (never listens, so tests can use inject). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: deps.config.env !== 'development' }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind a reverse proxy (BGC_TRUST_PROXY) request.ip is the client from X-Forwarded-For,
    // which the per-IP login limit needs; otherwise the socket's peer.
    trustProxy: trustProxyOption(deps.config.trustProxy),
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
    // A request accepted before close() (one queued for an admission slot, or the next on a
    // keep-alive connection) is served, not answered with Fastify's own 503 body, which has
    // neither the API's error shape nor Retry-After: the pools stay open until close() ends.
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler: makeClientErrorHandler(deps.logger as FastifyBaseLogger),
  });
  installErrorHandler(app);
  installCors(app, deps.config.corsOrigins);
  // Event-loop lag sheds only with more requests in progress than the primary pool can serve at once.
  guardUpgrades(app);
  installOverloadGuard(app, {
    ...deps.config.overload,
    loopQueueFloor: poolCapacity(deps.config.pool),
    maxParked: parkedBound(deps.config.sendGrouping),
    corsOrigins: deps.config.corsOrigins,
  }, deps);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe(
      { route, method: request.method, status_class: `${Math.floor(reply.statusCode / 100)}xx` },
      reply.elapsedTime / 1000,
    );
  });
  // Closing: every answer ends its connection. server.close() closes only the connections idle
  // when it is called, so a response in flight then went out keep-alive and its connection
  // held the close open until the client's idle timeout (65 s: past the forced exit).
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('Connection', 'close');
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Referrer-Policy', 'no-referrer');
    // Nothing is cached unless its route says so (photos: private, immutable).
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
    // The API serves JSON only: no content of ours should ever load anything or be framed,
    // and no other site should embed our responses (docs/SECURITY.md).
    reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (deps.config.env === 'production') reply.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'BGC Replica API', version: '1.0.0', description: 'Profiles, chat, feed and social graph (DESIGN §2)' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // The document says 3.0.3: keep its schemas in 3.0's dialect (src/http/openapi-30.ts).
    transformObject: (d) => ('openapiObject' in d ? toOpenApi30(d.openapiObject) : d.swaggerObject),
  });
  await app.register(async (scope) => healthRoutes(scope, deps));
  await app.register(async (scope) => apiRoutes(scope, deps));
  // /docs/json is the conventional address; /docs answers the same JSON for existing clients.
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
