import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** The one path that upgrades to a WebSocket (src/http/routes/realtime.routes.ts). */
export const UPGRADE_PATH = '/api/realtime';

/**
 * Keeps requests with an Upgrade header on the ordinary path. Node hands a request with
 * `Connection: Upgrade` to the server's 'upgrade' listeners, not to 'request', once any exists;
 * @fastify/websocket's (added while the routes load, so in place by onReady) routed every such
 * request through Fastify whatever its path, so any API request sent with an Upgrade header
 * skipped the admission guard, which sees only 'request' events (src/http/overload-guard.ts):
 * never queued, never shed. Now:
 *  - UPGRADE_PATH goes to the WebSocket plugin, as before;
 *  - a WebSocket handshake to any other path is a client's mistake: 400;
 *  - any other upgrade (an `h2c` attempt: `curl --http2 http://…`, Java's HttpClient) is served
 *    as HTTP/1.1, as RFC 9110 §7.8 allows, through the 'request' listeners (so the guard), on a
 *    connection closed after the answer (Node has handed the socket over: no next request
 *    can be read on it). With a body it is 400: what follows the headers on a handed-over
 *    socket never reaches the request.
 */
export function guardUpgrades(app: FastifyInstance): void {
  app.addHook('onReady', async () => {
    const server = app.server;
    const upgraders = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
    if (upgraders.length === 0) return;
    server.removeAllListeners('upgrade');
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req.url) === UPGRADE_PATH) { for (const u of upgraders) u.call(server, req, socket, head); return; }
      // Node took its own error handler and timeout off the socket before handing it over:
      // without these a reset by the client is an uncaught 'error' (the process exits) and a
      // client that never closes keeps the socket, and its admission slot, for good.
      const sock = socket as Socket;
      sock.on('error', () => { sock.destroy(); });
      sock.setTimeout(HANDED_OVER_IDLE_MS, () => { sock.destroy(); });
      if (isWebSocketHandshake(req) || hasBody(req)) { closeAfter(sock, STRAY_UPGRADE_ANSWER); return; }
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      try {
        // Throws when an earlier pipelined request's response still owns the socket.
        res.assignSocket(sock);
      } catch {
        sock.destroy();
        return;
      }
      // Closed once the answer is written (not half-closed: unread bytes would keep it open).
      res.once('finish', () => { sock.destroySoon(); });
      server.emit('request', req, res);
    });
  });
}

/**
 * Idle time (no read or write) after which a handed-over socket is destroyed: Node's own
 * timeouts no longer see it. Far above the 5 s statement timeout, so a handler still waiting
 * on the database is not cut off.
 */
const HANDED_OVER_IDLE_MS = 60_000;

/** Writes `answer` and destroys the socket once it is flushed. */
function closeAfter(socket: Duplex, answer: string): void {
  socket.end(answer, () => { socket.destroy(); });
}

function isWebSocketHandshake(req: IncomingMessage): boolean {
  return /\bwebsocket\b/i.test(req.headers.upgrade ?? '');
}

/** True when the request says a body follows (a length above 0, or a chunked body). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** A request URL's path, without its query. */
function pathOf(url: string | undefined): string {
  const u = url ?? '';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

const STRAY_UPGRADE_BODY = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: `Only ${UPGRADE_PATH} upgrades to a WebSocket, and a request with a body cannot carry an Upgrade header` } });
const STRAY_UPGRADE_ANSWER = 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n'
  + `Content-Length: ${Buffer.byteLength(STRAY_UPGRADE_BODY)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${STRAY_UPGRADE_BODY}`;
