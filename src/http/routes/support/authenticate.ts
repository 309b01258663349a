import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../../errors/app-error.ts';
import type { Services } from '../../../services/index.ts';

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = BEARER.exec(header);
  return m?.[1] ?? null;
}

/** Declares the request decorations once per scope (Fastify wants them before any request). */
export function decorateAuth(app: FastifyInstance): void {
  app.decorateRequest('viewer', null);
  app.decorateRequest('bearerToken', null);
}

/** preHandler: `Authorization: Bearer <token>` → request.viewer, else 401 UNAUTHENTICATED. */
export function authenticate(services: Services) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new AppError('UNAUTHENTICATED', 'Send Authorization: Bearer <token>');
    const viewer = await services.auth.authenticate(token);
    if (!viewer) throw new AppError('UNAUTHENTICATED', 'The session token is invalid, expired or revoked');
    request.viewer = viewer;
    request.bearerToken = token;
  };
}
