import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import {
  ContentBody, errors, IdParams, Nullable, NullableString, NullableUsername, Page, PageQuery, secured, Timestamp, Uuid, UserSummary,
} from './support/schemas.ts';
import { parkForGroupCommit } from './support/park-for-group-commit.ts';
import { strictBody } from './support/strict-body.ts';

const MessageBody = ContentBody(4000);
const OpenBody = Type.Object({ recipient_id: Uuid }, { additionalProperties: false });

const Room = Type.Object({ id: Uuid, name: Type.String(), topic: NullableString, created_at: Timestamp });
const RoomMessage = Type.Object({
  id: Uuid,
  room_id: Uuid,
  sender: Type.Object({ id: Uuid, username: NullableUsername, display_name: NullableString }),
  content: Type.String(),
  created_at: Timestamp,
});
const DirectMessage = Type.Object({ id: Uuid, conversation_id: Uuid, sender_id: Uuid, content: Type.String(), created_at: Timestamp });
const Conversation = Type.Object({
  id: Uuid, recipient_id: Uuid, created_at: Timestamp,
  created: Type.Boolean({ description: 'false when the pair already had this conversation' }),
});
const InboxItem = Type.Object({
  id: Uuid,
  other_user: UserSummary,
  unread_count: Type.Integer({ minimum: 0 }),
  last_read_at: NullableString,
  last_message_at: Timestamp,
  last_message: Type.Union([
    Type.Object({ id: Uuid, sender_id: Uuid, content: Type.String(), created_at: Timestamp }),
    Type.Null(),
  ]),
});
const ReadState = Type.Object({ conversation_id: Uuid, unread_count: Type.Integer(), last_read_at: Nullable(Type.String()) });

const HISTORY_NOTE = 'Newest first. A page may hold fewer than `limit` messages while next_cursor is set (time-windowed pages); follow next_cursor until it is null.';

export async function chatRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { rooms, conversations } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<{ Querystring: Static<typeof PageQuery> }>('/api/chat/rooms', {
    schema: secured('chat', 'Active chat rooms by name', { querystring: PageQuery, response: { 200: Page(Room), ...errors(401) } }),
    onRequest,
  }, async (request) => rooms.list(request.query.cursor, request.query.limit, queryContext(request)));

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof PageQuery> }>('/api/chat/rooms/:id/history', {
    schema: secured('chat', 'Messages of a room', {
      description: HISTORY_NOTE, params: IdParams, querystring: PageQuery, response: { 200: Page(RoomMessage), ...errors(401, 404) },
    }),
    onRequest,
  }, async (request) => rooms.history(uuidParam(request.params.id), viewerOf(request).userId, request.query.cursor, request.query.limit, queryContext(request)));

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof MessageBody> }>('/api/chat/rooms/:id/messages', {
    schema: secured('chat', 'Post a message to a room', {
      headers: IdempotencyHeaders, params: IdParams, body: MessageBody, response: { 201: RoomMessage, ...errors(401, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(MessageBody),
  }, async (request, reply) => written(reply, await rooms.send(uuidParam(request.params.id), viewerOf(request).userId, request.body.content, idempotencyKey(request)), 201));

  app.get<{ Querystring: Static<typeof PageQuery> }>('/api/chat/conversations', {
    schema: secured('chat', 'Inbox: your conversations with their last message and unread count, newest activity first', {
      description: 'Lists conversations that have at least one message.',
      querystring: PageQuery, response: { 200: Page(InboxItem), ...errors(401) },
    }),
    onRequest,
  }, async (request) => conversations.inbox(viewerOf(request).userId, request.query.cursor, request.query.limit, queryContext(request)));

  app.post<{ Body: Static<typeof OpenBody> }>('/api/chat/conversations', {
    schema: secured('chat', 'Open (or get) the conversation with another user', {
      headers: IdempotencyHeaders, body: OpenBody, response: { 200: Conversation, 201: Conversation, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(OpenBody),
  }, async (request, reply) => {
    const w = await conversations.open(viewerOf(request).userId, uuidParam(request.body.recipient_id), idempotencyKey(request));
    return written(reply, w, w.value.created ? 201 : 200);
  });

  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof PageQuery> }>('/api/chat/conversations/:id/history', {
    schema: secured('chat', 'Messages of one of your conversations', {
      description: HISTORY_NOTE, params: IdParams, querystring: PageQuery, response: { 200: Page(DirectMessage), ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => conversations.history(uuidParam(request.params.id), viewerOf(request).userId, request.query.cursor, request.query.limit, queryContext(request)));

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof MessageBody> }>('/api/chat/conversations/:id/messages', {
    schema: secured('chat', 'Send a message in one of your conversations', {
      headers: IdempotencyHeaders, params: IdParams, body: MessageBody, response: { 201: DirectMessage, ...errors(401, 403, 404), ...idempotencyErrors },
    }),
    onRequest,
    preValidation: strictBody(MessageBody),
    preHandler: parkForGroupCommit,
  }, async (request, reply) => written(reply, await conversations.send(uuidParam(request.params.id), viewerOf(request).userId, request.body.content, idempotencyKey(request)), 201));

  app.post<{ Params: Static<typeof IdParams> }>('/api/chat/conversations/:id/read', {
    schema: secured('chat', 'Mark a conversation read (unread count to 0)', { params: IdParams, response: { 200: ReadState, ...errors(401, 403, 404) } }),
    onRequest,
  }, async (request, reply) => written(reply, await conversations.markRead(uuidParam(request.params.id), viewerOf(request).userId)));
}
