import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import type { AppDeps } from '../../app/deps.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { ContentBody, errors, IdParams, Nullable, Page, PageQuery, secured, Timestamp, UserSummary, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const PostBody = ContentBody(5000);
const CommentBody = ContentBody(2000);
const Post = Type.Object({ id: Uuid, author: UserSummary, content: Type.String(), comment_count: Type.Integer(), created_at: Timestamp });
const Comment = Type.Object({ id: Uuid, post_id: Uuid, author: UserSummary, content: Type.String(), created_at: Timestamp });
const CreatedComment = Type.Object({ ...Comment.properties, comment_count: Nullable(Type.Integer({ description: "The post's comment count after this one" })) });
const GroupPostParams = Type.Object({ id: Uuid, postId: Uuid }, { additionalProperties: false });

type Id = { Params: Static<typeof IdParams> };
type PostId = { Params: Static<typeof GroupPostParams> };

export async function groupFeedRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { groupFeed } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<Id & { Querystring: Static<typeof PageQuery> }>('/api/groups/:id/feed', {
    schema: secured('groups', "A group's posts, newest first (members only)", {
      description: 'A page may hold fewer than `limit` posts while next_cursor is set (time-windowed pages); follow next_cursor until it is null.',
      params: IdParams, querystring: PageQuery, response: { 200: Page(Post), ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => groupFeed.feed(viewerOf(request).userId, uuidParam(request.params.id), request.query.cursor, request.query.limit, queryContext(request)));

  app.post<Id & { Body: Static<typeof PostBody> }>('/api/groups/:id/feed', {
    schema: secured('groups', 'Post in a group (members only)', {
      params: IdParams, headers: IdempotencyHeaders, body: PostBody, response: { 201: Post, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(PostBody),
  }, async (request, reply) => written(reply, await groupFeed.post(viewerOf(request).userId, uuidParam(request.params.id), request.body.content, idempotencyKey(request)), 201));

  app.get<PostId & { Querystring: Static<typeof PageQuery> }>('/api/groups/:id/feed/:postId/comments', {
    schema: secured('groups', 'Comments on a group post, oldest first (members only)', {
      params: GroupPostParams, querystring: PageQuery, response: { 200: Page(Comment), ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => groupFeed.comments(viewerOf(request).userId, uuidParam(request.params.id), uuidParam(request.params.postId), request.query.cursor, request.query.limit, queryContext(request)));

  app.post<PostId & { Body: Static<typeof CommentBody> }>('/api/groups/:id/feed/:postId/comments', {
    schema: secured('groups', 'Comment on a group post (members only)', {
      params: GroupPostParams, headers: IdempotencyHeaders, body: CommentBody, response: { 201: CreatedComment, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(CommentBody),
  }, async (request, reply) => written(reply, await groupFeed.addComment(viewerOf(request).userId, uuidParam(request.params.id), uuidParam(request.params.postId), request.body.content, idempotencyKey(request)), 201));
}
