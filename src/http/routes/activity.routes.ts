import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { MAX_ACTIVITY_DAYS } from '../../services/activity/activity.service.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, viewerOf } from './support/request-context.ts';
import { errors, NullableString, Page, secured, Timestamp, Uuid } from './support/schemas.ts';

const ReportQuery = Type.Object({
  days: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ACTIVITY_DAYS, default: 7, description: 'The period: the last N days' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
}, { additionalProperties: false });

const ActiveUser = Type.Object({
  rank: Type.Integer(), user_id: Uuid, username: Type.String(), display_name: NullableString,
  messages: Type.Integer(), posts: Type.Integer(), total: Type.Integer(),
  share_pct: Type.Number({ description: 'Share of all activity in the period, %' }),
  cumulative_share_pct: Type.Number({ description: 'Share of all activity by this user and everyone above, %' }),
});
const TopPost = Type.Object({
  rank: Type.Integer(), id: Uuid, author_id: Uuid, author_username: Type.String(), author_display_name: NullableString,
  content: Type.String(), comment_count: Type.Integer(),
  author_posts: Type.Integer({ description: "The author's posts in the period" }),
  top_pct: Type.Number({ description: "Share of the period's best-per-author posts ranked above this one, %" }), created_at: Timestamp,
});

/** User-activity reports (services/activity); the URLs keep their published /api/reports paths. */
export async function activityRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { activity } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<{ Querystring: Static<typeof ReportQuery> }>('/api/reports/most-active', {
    schema: secured('reports', 'Most active users (messages + posts) over the last N days', {
      querystring: ReportQuery, response: { 200: Page(ActiveUser), ...errors(401) },
    }),
    onRequest,
  }, async (request) => activity.mostActive(viewerOf(request).userId, request.query.days, request.query.limit, queryContext(request)));

  app.get<{ Querystring: Static<typeof ReportQuery> }>('/api/reports/top-posts', {
    schema: secured('reports', 'Most commented posts over the last N days, one per author', {
      querystring: ReportQuery, response: { 200: Page(TopPost), ...errors(401) },
    }),
    onRequest,
  }, async (request) => activity.topPosts(viewerOf(request).userId, request.query.days, request.query.limit, queryContext(request)));
}
