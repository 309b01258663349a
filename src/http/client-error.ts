import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors/app-error.ts';

/** What Node's parser reports, as the API's codes; anything else it cannot parse is a 400. */
function codeFor(err: NodeJS.ErrnoException): ErrorCode {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT';
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE';
  return 'VALIDATION_FAILED';
}

/** The one response written straight to the socket: no route, hook or reply object exists yet. */
export function clientErrorResponse(code: ErrorCode): string {
  const { status, message } = ERROR_CATALOGUE[code];
  const body = JSON.stringify({ error: { code, message } });
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused (headers over the size
 * limit, a request slower than requestTimeout, bytes that are not HTTP) never reaches a route,
 * and Fastify's default answered it in Fastify's own shape (`{"error":"Request Timeout",
 * "statusCode":408}`), not the API's `{error:{code,message}}`.
 */
export function makeClientErrorHandler(log: FastifyBaseLogger): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has no one to answer (Node's own rule, as Fastify's default).
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code = codeFor(err);
    log.debug({ code, parserCode: err.code }, 'request refused by the HTTP parser');
    // Not into a response already under way on this connection (a keep-alive client's next
    // request refused while the previous answer is still being sent), as Node's own rule.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inProgress?.headersSent) socket.write(clientErrorResponse(code));
    // Ends once the answer is flushed (Fastify's default destroyed at once, which can cut it).
    socket.destroySoon();
  };
}
