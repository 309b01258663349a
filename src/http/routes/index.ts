import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';

/** Registers every /api route plugin. */
export async function apiRoutes(_app: FastifyInstance, _deps: AppDeps): Promise<void> {
  // filled in by the API routes
}
