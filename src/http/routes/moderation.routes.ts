import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { REPORT_REASONS } from '../../services/moderation/moderation.service.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { errors, IdParams, Nullable, NullableString, OrNull, Page, PageQuery, secured, Timestamp, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const TargetType = Type.Union([Type.Literal('profile'), Type.Literal('message'), Type.Literal('post'), Type.Literal('comment')]);
const Reason = Type.Union(REPORT_REASONS.map((r) => Type.Literal(r)));
const Action = Type.Union([Type.Literal('dismiss'), Type.Literal('hide'), Type.Literal('suspend')]);
const Status = Type.Union([Type.Literal('open'), Type.Literal('dismissed'), Type.Literal('hidden'), Type.Literal('suspended')]);

const ReportBody = Type.Object({
  target_type: TargetType,
  target_id: Uuid,
  reason: Reason,
  details: Type.Optional(OrNull(Type.String({ maxLength: 1000 }))),
}, { additionalProperties: false });
const ReportResponse = Type.Object({
  target_type: TargetType, target_id: Uuid, reason: Reason,
  created: Type.Boolean({ description: 'false when you had already reported this (the first report stands)' }),
});

const ResolveBody = Type.Object({
  action: Action,
  note: Type.Optional(OrNull(Type.String({ maxLength: 1000 }))),
}, { additionalProperties: false, description: 'dismiss: no action; hide: the content disappears for everyone; suspend: hide it and suspend its author (sessions end, no login)' });

const Case = Type.Object({
  id: Uuid,
  target: Type.Object({ type: TargetType, id: Uuid, preview: NullableString }),
  user: Type.Object({ id: Uuid, username: Type.String() }, { description: 'The profile owner or the author of the content' }),
  report_count: Type.Integer(), first_reported_at: Timestamp, last_reported_at: Timestamp,
  status: Status, resolved_by: Nullable(Uuid), resolved_at: Nullable(Timestamp),
});
const CaseDetail = Type.Object({
  ...Case.properties,
  reports: Type.Array(Type.Object({ reporter_id: Uuid, reporter_username: Type.String(), reason: Reason, details: NullableString, created_at: Timestamp })),
  actions: Type.Array(Type.Object({ id: Uuid, action: Action, moderator_id: Nullable(Uuid), moderator_username: NullableString, note: NullableString, created_at: Timestamp })),
});
const Resolution = Type.Object({
  case_id: Uuid, action: Action, status: Status, hidden: Type.Boolean(), suspended: Type.Boolean(),
  sessions_revoked: Type.Integer(), moderator_id: Uuid, acted_at: Timestamp,
});

export async function moderationRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { moderation } = deps.services;
  const onRequest = authenticate(deps.services);

  app.post<{ Body: Static<typeof ReportBody> }>('/api/moderation/reports', {
    schema: secured('moderation', 'Report a profile, message, post or comment you can see', {
      description: '201 for a new report, 200 when you had already reported it.',
      body: ReportBody, response: { 200: ReportResponse, 201: ReportResponse, ...errors(401, 404) },
    }),
    onRequest,
    preValidation: strictBody(ReportBody),
  }, async (request, reply) => {
    const w = await moderation.report(viewerOf(request).userId, { ...request.body, target_id: uuidParam(request.body.target_id) });
    return written(reply, w, w.value.created ? 201 : 200);
  });

  app.get<{ Querystring: Static<typeof PageQuery> }>('/api/moderation/queue', {
    schema: secured('moderation', 'Open cases, most reported first, then oldest (moderators only)', {
      querystring: PageQuery, response: { 200: Page(Case), ...errors(401, 403) },
    }),
    onRequest,
  }, async (request) => moderation.queue(viewerOf(request), request.query.cursor, request.query.limit, queryContext(request)));

  app.get<{ Params: Static<typeof IdParams> }>('/api/moderation/cases/:id', {
    schema: secured('moderation', 'A case with its reports and the actions taken (moderators only)', {
      params: IdParams, response: { 200: CaseDetail, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => moderation.getCase(viewerOf(request), uuidParam(request.params.id), queryContext(request)));

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ResolveBody> }>('/api/moderation/cases/:id/resolve', {
    schema: secured('moderation', 'Resolve a case: dismiss, hide the content, or suspend its author (moderators only)', {
      params: IdParams, body: ResolveBody, response: { 200: Resolution, ...errors(401, 403, 404) },
    }),
    onRequest,
    preValidation: strictBody(ResolveBody),
  }, async (request, reply) => written(reply, await moderation.resolve(viewerOf(request), uuidParam(request.params.id), request.body.action, request.body.note)));
}
