import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { parkAdmissionSlot } from '../../overload-guard.ts';

/**
 * preHandler of the routes whose work is a grouped write (a send, a post, a comment:
 * src/services/group-commit.ts). Validation and authentication are done; what remains is
 * waiting for the group's commit, which one pool connection makes for every member, so the
 * request gives its admission slot to the next one while it waits (src/http/overload-guard.ts).
 */
export function parkForGroupCommit(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  parkAdmissionSlot(request.raw);
  done();
}
