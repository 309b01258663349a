import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** The one path that upgrades to a WebSocket (src/http/routes/realtime.routes.ts). */
export const UPGRADE_PATH = '/api/realtime';

/**
 * Refuses an upgrade of any path but UPGRADE_PATH (400, the API's error shape, connection
 * closed). Node hands a request with `Connection: Upgrade` to the server's 'upgrade'
 * listeners, not to 'request', once any exists; @fastify/websocket's (added while the routes
 * load, so in place by onReady) routes every such request through Fastify whatever its path.
 * Any API request sent with an Upgrade header then skipped the admission guard, which sees
 * only 'request' events (src/http/overload-guard.ts): never queued, never shed.
 */
export function refuseStrayUpgrades(app: FastifyInstance): void {
  app.addHook('onReady', async () => {
    const server = app.server;
    const upgraders = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
    if (upgraders.length === 0) return;
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req.url) === UPGRADE_PATH) { for (const u of upgraders) u.call(server, req, socket, head); return; }
      socket.end(STRAY_UPGRADE_ANSWER);
    });
  });
}

/** A request URL's path, without its query. */
function pathOf(url: string | undefined): string {
  const u = url ?? '';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

const STRAY_UPGRADE_BODY = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: `Only ${UPGRADE_PATH} upgrades to a WebSocket; send other requests without an Upgrade header` } });
const STRAY_UPGRADE_ANSWER = 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n'
  + `Content-Length: ${Buffer.byteLength(STRAY_UPGRADE_BODY)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${STRAY_UPGRADE_BODY}`;
