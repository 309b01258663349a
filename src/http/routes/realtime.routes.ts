import websocket from '@fastify/websocket';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { realtimeMetricsFor } from '../../metrics/realtime.metrics.ts';
import { MAX_FRAME_BYTES, type Realtime } from '../../realtime/index.ts';
import { sendError } from '../error-handler.ts';
import { authenticate, bearerToken } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf } from './support/request-context.ts';
import { errors, IdParams, Nullable, secured, Uuid } from './support/schemas.ts';

const Presence = Type.Object({
  user_id: Uuid,
  online: Type.Boolean(),
  last_seen_at: Nullable(Type.String({ description: 'ISO-8601; the last time the user had a socket open (remembered 30 days)' })),
});

/**
 * GET /api/realtime (WebSocket; protocol in README "Real-time" and src/realtime/protocol.ts)
 * and GET /api/profiles/:id/presence. Registered only when the runtime started the
 * real-time layer (BGC_REALTIME_ENABLED).
 *
 * The upgrade request runs Fastify's normal hooks before any WebSocket exists, so a full
 * instance answers 503 OVERLOADED (with Retry-After) and a bad Authorization header 401,
 * as plain HTTP. A browser, which cannot set headers on a WebSocket, upgrades without one
 * and sends `{"type":"auth","token":…}` as its first frame. A token in the URL is never
 * read: URLs end up in proxy and access logs.
 */
export async function realtimeRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const rt = deps.realtime;
  if (!rt) return;
  app.get<{ Params: Static<typeof IdParams> }>('/api/profiles/:id/presence', {
    schema: secured('realtime', 'Online status and last seen time of a user', {
      description: 'Visible where the profile is visible (privacy level, blocks). 503 PRESENCE_UNAVAILABLE while Redis is down.',
      params: IdParams, response: { 200: Presence, ...errors(401, 403, 404) },
    }),
    onRequest: authenticate(deps.services),
  }, async (request) => rt.presence.read(viewerOf(request).userId, uuidParam(request.params.id), queryContext(request)));

  await app.register(async (scope) => {
    await scope.register(websocket, {
      options: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false },
      // On shutdown: close every socket with 1001 before the server stops accepting.
      preClose: async () => { rt.hub.closeAll(); },
      // A socket error (a reset mid-frame) ends that socket; 'close' then cleans up.
      errorHandler: (_err, socket) => { socket.terminate(); },
    });
    scope.route({
      method: 'GET',
      url: '/api/realtime',
      schema: { hide: true },
      onRequest: admitUpgrade(rt, deps),
      handler: async (_request, reply) => sendError(reply, 'UPGRADE_REQUIRED', 'Connect with a WebSocket client (Upgrade: websocket)'),
      wsHandler: (socket, request) => {
        rt.hub.accept(socket, request.viewer && request.bearerToken ? { info: request.viewer, token: request.bearerToken } : undefined);
      },
    });
  });
}

/** Before the upgrade: the per-instance limit, then the Authorization header if there is one. */
function admitUpgrade(rt: Realtime, deps: AppDeps) {
  const metrics = realtimeMetricsFor(deps.metrics);
  const limit = deps.config.realtime.maxConnections;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!request.ws) return undefined;
    const header = request.headers.authorization;
    // With a header the check below awaits: the upgrade holds its place meanwhile.
    if (header === undefined ? !rt.hub.hasCapacity : !rt.hub.reserveUpgrade()) {
      metrics.connections.inc({ result: 'over_limit' });
      return sendError(reply, 'OVERLOADED', `This instance holds its limit of ${limit} real-time connections; retry shortly or elsewhere`);
    }
    if (header === undefined) return undefined;
    const token = bearerToken(header);
    const info = await (token ? deps.services.auth.authenticate(token) : Promise.resolve(null)).finally(() => rt.hub.releaseUpgrade());
    if (!token || !info) {
      metrics.connections.inc({ result: 'unauthenticated' });
      return sendError(reply, 'UNAUTHENTICATED', 'The session token is invalid, expired or revoked');
    }
    request.viewer = info;
    request.bearerToken = token;
    return undefined;
  };
}
