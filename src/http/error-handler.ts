import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { classifyDbError, dbErrorCode } from '../db/errors.ts';
import { AppError, ERROR_CATALOGUE, isErrorCode, type ErrorCode } from '../errors/app-error.ts';

/** Seconds a client should wait after a 503; short, the pool or a replica usually recovers quickly. */
export const RETRY_AFTER_SECONDS = 2;

/** Fastify's own error codes, mapped into our catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
};

/** What each database condition tells the client (the classes come from db/errors.ts). */
const DB_INPUT_MESSAGES = {
  invalid_input: 'A value has an invalid format',
  // The statement failed, so nothing was written; found by the route fuzzer (test/fuzz/routes.fuzz.test.ts).
  unstorable_text: 'A text value contains a character that cannot be stored (such as U+0000)',
} as const;

function classify(err: unknown): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
  if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
  const e = err as Partial<FastifyError> & { validation?: unknown };
  if (e.validation) return { code: 'VALIDATION_FAILED', message: e.message ?? ERROR_CATALOGUE.VALIDATION_FAILED.message };
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return { code: mapped, message: ERROR_CATALOGUE[mapped].message };
  // A client error Fastify marked (a body the client aborted: ECONNRESET with statusCode 400)
  // before the database classifier, which takes ECONNRESET for a lost database connection and
  // answered 503 DB_UNAVAILABLE, logged as an outage. Database errors carry no statusCode.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && !isErrorCode(e.code)) {
    return { code: e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : e.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'VALIDATION_FAILED', message: e.message ?? 'Bad request' };
  }
  // One classifier for database errors (db/errors.ts), by SQLSTATE or error code, never by message.
  const dbCode = dbErrorCode(err);
  if (dbCode) return { code: dbCode, message: ERROR_CATALOGUE[dbCode].message };
  const dbClass = classifyDbError(err);
  if (dbClass === 'invalid_input' || dbClass === 'unstorable_text') return { code: 'VALIDATION_FAILED', message: DB_INPUT_MESSAGES[dbClass] };
  // Other typed errors that carry a catalogue code.
  if (isErrorCode(e.code)) return { code: e.code, message: ERROR_CATALOGUE[e.code].message };
  return { code: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL.message };
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>): FastifyReply {
  const status = ERROR_CATALOGUE[code].status;
  // A key still in progress (409) is answered once the first request ends: the same wait.
  if (status === 503 || code === 'IDEMPOTENCY_KEY_IN_USE') reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
  return reply.code(status).type('application/json').send({ error: { code, message, ...(details ? { details } : {}) } });
}

/**
 * Fastify's `frameworkErrors` hook: errors raised by the router before any route or hook
 * runs (a path with invalid percent-encoding, FST_ERR_BAD_URL; a path parameter over the
 * router's length limit, FST_ERR_MAX_PARAM_LENGTH). Without it Fastify answers those in its
 * own shape (`{"error":"Bad Request","code":"FST_…"}`), which breaks the API's error
 * contract; the route fuzzer (test/fuzz/routes.fuzz.test.ts) found both.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path parameter is too long' : 'The URL is not validly encoded';
  request.log.debug({ code: err.code }, 'request rejected by the router');
  void sendError(reply, 'VALIDATION_FAILED', message);
}

/** One handler for every route: `{error:{code,message}}`, never a stack trace. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { code, message, details } = classify(err);
    const status = ERROR_CATALOGUE[code].status;
    if (status >= 500) request.log.error({ err, code }, 'request failed');
    else request.log.debug({ code, message }, 'request rejected');
    return sendError(reply, code, message, details);
  });
  app.setNotFoundHandler((_request, reply) => sendError(reply, 'ROUTE_NOT_FOUND', ERROR_CATALOGUE.ROUTE_NOT_FOUND.message));
}
