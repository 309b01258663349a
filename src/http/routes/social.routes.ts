import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import type { Written } from '../../services/support.ts';
import type { SocialResult } from '../../services/social/social.service.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { errors, Page, PageQuery, secured, Timestamp, UserIdParams, Uuid, UserSummary } from './support/schemas.ts';

const Kind = Type.Union([Type.Literal('friend'), Type.Literal('favorite'), Type.Literal('block')]);
const Result = Type.Object({
  user_id: Uuid,
  kind: Kind,
  status: Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('active'), Type.Literal('removed')]),
  changed: Type.Boolean({ description: 'false when it already was so' }),
});
const Relationship = Type.Object({
  user: UserSummary,
  kind: Kind,
  status: Type.Union([Type.Literal('pending'), Type.Literal('accepted')]),
  direction: Type.Union([Type.Literal('incoming'), Type.Literal('outgoing')], { description: 'incoming: a friend request you received' }),
  created_at: Timestamp,
});

type Params = { Params: Static<typeof UserIdParams> };
type Action = (userId: string, targetId: string) => Promise<Written<SocialResult>>;

export async function socialRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { social } = deps.services;
  const onRequest = authenticate(deps.services);
  const handler = (action: Action) => async (request: FastifyRequest<Params>, reply: FastifyReply) =>
    written(reply, await action(viewerOf(request).userId, uuidParam(request.params.userId)));
  const schema = (summary: string, statuses: Array<403 | 404>) =>
    secured('social', summary, { params: UserIdParams, response: { 200: Result, ...errors(401, ...statuses) } });

  app.post<Params>('/api/social/favorite/:userId', { schema: schema('Favourite a user', [403, 404]), onRequest },
    handler((u, t) => social.favorite(u, t)));
  app.delete<Params>('/api/social/favorite/:userId', { schema: schema('Remove a favourite', [404]), onRequest },
    handler((u, t) => social.unfavorite(u, t)));
  app.post<Params>('/api/social/friend-request/:userId', {
    schema: secured('social', 'Send a friend request (accepted at once if they already asked you)', {
      headers: IdempotencyHeaders, params: UserIdParams, response: { 200: Result, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
  }, async (request, reply) => {
    // No body is read: one sent anyway must not make a retry a different request.
    const w = await social.friendRequest(viewerOf(request).userId, uuidParam(request.params.userId), idempotencyKey(request, { bodyOf: () => null }));
    return written(reply, w);
  });
  app.post<Params>('/api/social/friend-request/:userId/accept', {
    schema: schema('Accept the friend request :userId sent you', [404]), onRequest,
  }, handler((u, t) => social.acceptFriend(u, t)));
  app.post<Params>('/api/social/block/:userId', {
    schema: schema('Block a user (also ends friendship and favourites both ways)', [404]), onRequest,
  }, handler((u, t) => social.block(u, t)));
  app.delete<Params>('/api/social/block/:userId', { schema: schema('Unblock a user', [404]), onRequest },
    handler((u, t) => social.unblock(u, t)));

  app.get<{ Querystring: Static<typeof PageQuery> }>('/api/social/relationships', {
    schema: secured('social', 'Your friends, sent requests, favourites and blocks, and friend requests you received', {
      querystring: PageQuery, response: { 200: Page(Relationship), ...errors(401) },
    }),
    onRequest,
  }, async (request) => social.list(viewerOf(request).userId, request.query.cursor, request.query.limit, queryContext(request)));
}
