import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { ContentBody, errors, Nullable, Page, PageQuery, PageQueryProps, PostIdParams, secured, Timestamp, Uuid, UserSummary } from './support/schemas.ts';
import { parkForGroupCommit } from './support/park-for-group-commit.ts';
import { strictBody } from './support/strict-body.ts';

const PostBody = ContentBody(5000);
const CommentBody = ContentBody(2000);

const FeedQuery = Type.Object({
  type: Type.Optional(Type.Union([Type.Literal('global'), Type.Literal('following')], { default: 'global' })),
  ...PageQueryProps,
}, { additionalProperties: false });

const Post = Type.Object({ id: Uuid, author: UserSummary, content: Type.String(), comment_count: Type.Integer(), created_at: Timestamp });
const Comment = Type.Object({ id: Uuid, post_id: Uuid, author: UserSummary, content: Type.String(), created_at: Timestamp });
const CreatedComment = Type.Object({ ...Comment.properties, comment_count: Nullable(Type.Integer({ description: "The post's comment count after this one" })) });

export async function feedRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { feed } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<{ Querystring: Static<typeof FeedQuery> }>('/api/feed', {
    schema: secured('feed', 'Status updates, newest first: everyone\'s (global) or yours, your friends\' and favourites\' (following)', {
      description: 'A page may hold fewer than `limit` posts while next_cursor is set (time-windowed pages); follow next_cursor until it is null.',
      querystring: FeedQuery, response: { 200: Page(Post), ...errors(401) },
    }),
    onRequest,
  }, async (request) => {
    const q = request.query;
    return feed.feed(viewerOf(request).userId, q.type ?? 'global', q.cursor, q.limit, queryContext(request));
  });

  app.post<{ Body: Static<typeof PostBody> }>('/api/feed', {
    schema: secured('feed', 'Post a status update', { headers: IdempotencyHeaders, body: PostBody, response: { 201: Post, ...errors(401), ...idempotencyErrors } }),
    onRequest,
    preValidation: strictBody(PostBody),
    preHandler: parkForGroupCommit,
  }, async (request, reply) => written(reply, await feed.post(viewerOf(request).userId, request.body.content, idempotencyKey(request)), 201));

  app.get<{ Params: Static<typeof PostIdParams>; Querystring: Static<typeof PageQuery> }>('/api/feed/:postId/comments', {
    schema: secured('feed', 'Comments on a post, oldest first', {
      params: PostIdParams, querystring: PageQuery, response: { 200: Page(Comment), ...errors(401, 404) },
    }),
    onRequest,
  }, async (request) => feed.comments(viewerOf(request).userId, uuidParam(request.params.postId), request.query.cursor, request.query.limit, queryContext(request)));

  app.post<{ Params: Static<typeof PostIdParams>; Body: Static<typeof CommentBody> }>('/api/feed/:postId/comments', {
    schema: secured('feed', 'Comment on a post', {
      headers: IdempotencyHeaders, params: PostIdParams, body: CommentBody, response: { 201: CreatedComment, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(CommentBody),
    preHandler: parkForGroupCommit,
  }, async (request, reply) => written(reply, await feed.addComment(uuidParam(request.params.postId), viewerOf(request).userId, request.body.content, idempotencyKey(request)), 201));
}
