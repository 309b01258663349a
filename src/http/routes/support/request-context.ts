import type { FastifyReply, FastifyRequest } from 'fastify';
import type { QueryContext } from '../../../db/query-context.ts';
import { isValidLsn } from '../../../db/lsn.ts';
import { AppError } from '../../../errors/app-error.ts';
import type { SessionInfo } from '../../../services/index.ts';
import type { Written } from '../../../services/support.ts';
import { REPLAYED_HEADER } from '../../idempotency.ts';

export const LSN_HEADER = 'x-bgc-lsn';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated session, set by the authenticate preHandler. */
    viewer: SessionInfo | null;
    bearerToken: string | null;
  }
}

/** The signed-in user; routes behind `authenticate` always have one. */
export function viewerOf(request: FastifyRequest): SessionInfo {
  if (!request.viewer) throw new AppError('UNAUTHENTICATED');
  return request.viewer;
}

/**
 * Routing context for reads: the viewer (whose own last write the router waits for) and
 * the LSN the client says it has seen (X-BGC-LSN from an earlier write response, possibly
 * another user's, e.g. the sender's message). An invalid header is ignored.
 */
export function queryContext(request: FastifyRequest): QueryContext {
  const raw = request.headers[LSN_HEADER];
  const minLsn = typeof raw === 'string' && isValidLsn(raw) ? raw : undefined;
  return { userId: request.viewer?.userId, minLsn };
}

/** Sets status, X-BGC-LSN (when the write produced one) and Idempotent-Replayed (on a replay), and returns the body. */
export function written<T>(reply: FastifyReply, w: Written<T>, status = 200): T {
  if (w.lsn) reply.header('X-BGC-LSN', w.lsn);
  if (w.replayed) reply.header(REPLAYED_HEADER, 'true');
  reply.code(status);
  return w.value;
}

/** UUIDs are compared as text in places (cursors, self checks); PostgreSQL returns lower case. */
export function uuidParam(value: string): string {
  return value.toLowerCase();
}
