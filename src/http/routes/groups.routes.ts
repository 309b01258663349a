import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { errors, IdParams, Nullable, NullableString, OrNull, Page, PageQuery, PageQueryProps, secured, Timestamp, UserSummary, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);
const Role = Type.Union([Type.Literal('owner'), Type.Literal('moderator'), Type.Literal('member')]);
const Standing = Type.Union([Role, Type.Literal('pending'), Type.Literal('none')], { description: "A role, 'pending' (asked to join a private group) or 'none'" });

const GroupBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  description: Type.Optional(OrNull(Type.String({ maxLength: 2000 }))),
  visibility: Type.Optional(Visibility),
}, { additionalProperties: false });

const GroupListQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200, description: 'Free text over name and description' })),
  mine: Type.Optional(Type.Boolean({ description: 'Only groups you are a member of' })),
  ...PageQueryProps,
}, { additionalProperties: false });

const Group = Type.Object({
  id: Uuid, name: Type.String(), description: NullableString, visibility: Visibility, owner_id: Nullable(Uuid),
  member_count: Type.Integer(),
  membership: Standing,
  created_at: Timestamp,
});
const Membership = Type.Object({
  group_id: Uuid, user_id: Uuid, status: Standing,
  changed: Type.Boolean({ description: 'false when it already was so' }),
});
const Member = Type.Object({ user: UserSummary, role: Role, joined_at: Timestamp });
const JoinRequest = Type.Object({ user: UserSummary, created_at: Timestamp });
const GroupUserParams = Type.Object({ id: Uuid, userId: Uuid }, { additionalProperties: false });

type Id = { Params: Static<typeof IdParams> };

export async function groupRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { groups } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<{ Querystring: Static<typeof GroupListQuery> }>('/api/groups', {
    schema: secured('groups', 'Groups by name, optionally searched (q) or only yours (mine)', {
      querystring: GroupListQuery, response: { 200: Page(Group), ...errors(401) },
    }),
    onRequest,
  }, async (request) => groups.list(viewerOf(request).userId, request.query, queryContext(request)));

  app.post<{ Body: Static<typeof GroupBody> }>('/api/groups', {
    schema: secured('groups', 'Create a group (you become its owner)', { headers: IdempotencyHeaders, body: GroupBody, response: { 201: Group, ...errors(401), ...idempotencyErrors } }),
    onRequest,
    preValidation: strictBody(GroupBody),
  }, async (request, reply) => written(reply, await groups.create(viewerOf(request).userId, request.body, idempotencyKey(request)), 201));

  app.get<Id>('/api/groups/:id', {
    schema: secured('groups', 'One group', { params: IdParams, response: { 200: Group, ...errors(401, 404) } }),
    onRequest,
  }, async (request) => groups.get(viewerOf(request).userId, uuidParam(request.params.id), queryContext(request)));

  app.post<Id>('/api/groups/:id/join', {
    schema: secured('groups', 'Join a public group, or ask to join a private one (status pending; refused across a block with its owner)', {
      params: IdParams, response: { 200: Membership, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request, reply) => written(reply, await groups.join(viewerOf(request).userId, uuidParam(request.params.id))));

  app.post<Id>('/api/groups/:id/leave', {
    schema: secured('groups', 'Leave a group or withdraw your join request (the owner cannot leave: 409)', {
      params: IdParams, response: { 200: Membership, ...errors(401, 404, 409) },
    }),
    onRequest,
  }, async (request, reply) => written(reply, await groups.leave(viewerOf(request).userId, uuidParam(request.params.id))));

  app.get<Id & { Querystring: Static<typeof PageQuery> }>('/api/groups/:id/members', {
    schema: secured('groups', "A group's members (a private group's to its members only)", {
      params: IdParams, querystring: PageQuery, response: { 200: Page(Member), ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => groups.members(viewerOf(request).userId, uuidParam(request.params.id), request.query.cursor, request.query.limit, queryContext(request)));

  app.get<Id & { Querystring: Static<typeof PageQuery> }>('/api/groups/:id/requests', {
    schema: secured('groups', 'Pending join requests (owner and moderators only)', {
      params: IdParams, querystring: PageQuery, response: { 200: Page(JoinRequest), ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => groups.requests(viewerOf(request).userId, uuidParam(request.params.id), request.query.cursor, request.query.limit, queryContext(request)));

  app.post<{ Params: Static<typeof GroupUserParams> }>('/api/groups/:id/requests/:userId/approve', {
    schema: secured('groups', 'Approve a join request (owner and moderators only)', {
      params: GroupUserParams, response: { 200: Membership, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request, reply) => written(reply, await groups.decide(viewerOf(request).userId, uuidParam(request.params.id), uuidParam(request.params.userId), true)));

  app.delete<{ Params: Static<typeof GroupUserParams> }>('/api/groups/:id/requests/:userId', {
    schema: secured('groups', 'Reject a join request (owner and moderators only)', {
      params: GroupUserParams, response: { 200: Membership, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request, reply) => written(reply, await groups.decide(viewerOf(request).userId, uuidParam(request.params.id), uuidParam(request.params.userId), false)));
}
