import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOGUE, isErrorCode, type ErrorCode } from '../errors/app-error.ts';

/** Seconds a client should wait after a 503; short, the pool or a replica usually recovers quickly. */
const RETRY_AFTER_SECONDS = 2;

/** Fastify's own error codes, mapped into our catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
};

function classify(err: unknown): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
  if (err instanceof AppError) return { code: err.code, message: err.message, details: err.details };
  const e = err as Partial<FastifyError> & { validation?: unknown };
  if (e.validation) return { code: 'VALIDATION_FAILED', message: e.message ?? ERROR_CATALOGUE.VALIDATION_FAILED.message };
  if (typeof e.code === 'string') {
    const mapped = FASTIFY_CODES[e.code];
    if (mapped) return { code: mapped, message: ERROR_CATALOGUE[mapped].message };
    // Typed errors from the db layer (DbUnavailableError) carry catalogue codes.
    if (isErrorCode(e.code)) return { code: e.code, message: ERROR_CATALOGUE[e.code].message };
    if (e.code === '22P02' || e.code === '22007' || e.code === '22008') return { code: 'VALIDATION_FAILED', message: 'A value has an invalid format' };
    // PostgreSQL cannot store U+0000 in text (22021 character_not_in_repertoire: "invalid byte
    // sequence for encoding UTF8: 0x00") nor in jsonb (22P05 untranslatable_character). Valid
    // JSON and query strings can carry it, so it is the client's input, not our fault: 400.
    // Found by the route fuzzer (test/fuzz/routes.fuzz.test.ts); the statement failed, so
    // nothing was written.
    if (e.code === '22021' || e.code === '22P05') return { code: 'VALIDATION_FAILED', message: 'A text value contains a character that cannot be stored (such as U+0000)' };
    if (e.code === '57014') return { code: 'DB_POOL_TIMEOUT', message: 'The database took too long; retry shortly' }; // query_canceled (statement_timeout)
    if (/^(08|57P0)/.test(e.code) || e.code === '53300') return { code: 'DB_UNAVAILABLE', message: ERROR_CATALOGUE.DB_UNAVAILABLE.message }; // connection failure, shutdown, too_many_connections
    if (e.code === '25006') return { code: 'DB_READ_ONLY', message: ERROR_CATALOGUE.DB_READ_ONLY.message };
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { code: e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : e.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'VALIDATION_FAILED', message: e.message ?? 'Bad request' };
  }
  if (err instanceof Error && /ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect/i.test(err.message)) {
    return { code: 'DB_UNAVAILABLE', message: ERROR_CATALOGUE.DB_UNAVAILABLE.message };
  }
  return { code: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL.message };
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>): FastifyReply {
  const status = ERROR_CATALOGUE[code].status;
  if (status === 503) reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
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
