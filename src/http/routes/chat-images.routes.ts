import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { MAX_UPLOAD_BYTES } from '../../services/photos/image-processing.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey, uploadIdentity } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { sendImage } from './support/image-reply.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { ErrorBody, errors, IdParams, NullableString, NullableUsername, secured, Timestamp, Uuid } from './support/schemas.ts';

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
const ChatImage = Type.Object({
  id: Uuid, conversation_id: Type.Union([Uuid, Type.Null()]), room_id: Type.Union([Uuid, Type.Null()]), uploader_id: Uuid,
  content_type: Type.Union(IMAGE_TYPES.map((t) => Type.Literal(t))), bytes: Type.Integer(), width: Type.Integer(), height: Type.Integer(),
  url: Type.String(), thumb_url: Type.String(), created_at: Timestamp,
});
const DirectMessage = Type.Object({ id: Uuid, conversation_id: Uuid, sender_id: Uuid, content: Type.String(), created_at: Timestamp });
const RoomMessage = Type.Object({
  id: Uuid, room_id: Uuid, sender: Type.Object({ id: Uuid, username: NullableUsername, display_name: NullableString }), content: Type.String(), created_at: Timestamp,
});
const CaptionQuery = Type.Object({
  caption: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'Text sent with the image (the message carries it before the image URL)' })),
}, { additionalProperties: false });
const Deleted = Type.Object({ id: Uuid, deleted: Type.Boolean() });
const Binary = Type.String({ format: 'binary', description: 'The image bytes' });

type Upload = { Params: Static<typeof IdParams>; Querystring: Static<typeof CaptionQuery> };
type Id = { Params: Static<typeof IdParams> };

const UPLOAD_NOTE = `The image is the body: JPEG, PNG or WebP, at most ${MAX_UPLOAD_BYTES} bytes; the type is read from the bytes. Stored re-encoded without metadata (no EXIF location), with a 320×320 WebP thumbnail, and announced by a message whose content is the caption (if any) and the image's URL on its own line. With an Idempotency-Key (the same bytes and caption), a retry answers the first upload again and keeps nothing of its own.`;

/**
 * Chat images (issue 20): send an image in a conversation or a room, fetch it and its
 * thumbnail, delete your own. Image bodies are parsed as a Buffer in this plugin's scope only.
 */
export async function chatImageRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { chatImages } = deps.services;
  const onRequest = authenticate(deps.services);

  await app.register(async (scope) => {
    scope.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_request, body, done) => done(null, body));

    scope.post<Upload>('/api/chat/conversations/:id/images', {
      schema: secured('chat', 'Send an image in one of your conversations (the image as the body)', {
        description: UPLOAD_NOTE, consumes: IMAGE_TYPES, headers: IdempotencyHeaders, params: IdParams, querystring: CaptionQuery,
        response: { 201: Type.Object({ image: ChatImage, message: DirectMessage }), ...errors(401, 403, 404), 413: ErrorBody, 415: ErrorBody, ...idempotencyErrors },
      }),
      onRequest,
    }, async (request, reply) => written(reply, await chatImages.sendToConversation(
      uuidParam(request.params.id), viewerOf(request).userId, request.body, request.query.caption,
      idempotencyKey(request, { bodyOf: uploadIdentity })), 201));

    scope.post<Upload>('/api/chat/rooms/:id/images', {
      schema: secured('chat', 'Send an image to a room (the image as the body)', {
        description: UPLOAD_NOTE, consumes: IMAGE_TYPES, headers: IdempotencyHeaders, params: IdParams, querystring: CaptionQuery,
        response: { 201: Type.Object({ image: ChatImage, message: RoomMessage }), ...errors(401, 404), 413: ErrorBody, 415: ErrorBody, ...idempotencyErrors },
      }),
      onRequest,
    }, async (request, reply) => written(reply, await chatImages.sendToRoom(
      uuidParam(request.params.id), viewerOf(request).userId, request.body, request.query.caption,
      idempotencyKey(request, { bodyOf: uploadIdentity })), 201));

    scope.get<Id>('/api/chat/images/:id', {
      schema: secured('chat', "A chat image (its conversation's members; anyone for a room)", {
        params: IdParams, produces: IMAGE_TYPES, response: { 200: Binary, ...errors(401, 404) },
      }),
      onRequest,
    }, async (request, reply) => sendImage(request, reply, await chatImages.file(viewerOf(request).userId, uuidParam(request.params.id), false, queryContext(request))));

    scope.get<Id>('/api/chat/images/:id/thumb', {
      schema: secured('chat', "A chat image's thumbnail (WebP, 320×320)", {
        params: IdParams, produces: ['image/webp'], response: { 200: Binary, ...errors(401, 404) },
      }),
      onRequest,
    }, async (request, reply) => sendImage(request, reply, await chatImages.file(viewerOf(request).userId, uuidParam(request.params.id), true, queryContext(request))));

    scope.delete<Id>('/api/chat/images/:id', {
      schema: secured('chat', 'Delete an image you sent (its message stays, the image URL then answers 404)', {
        params: IdParams, response: { 200: Deleted, ...errors(401, 404) },
      }),
      onRequest,
    }, async (request, reply) => written(reply, await chatImages.remove(viewerOf(request).userId, uuidParam(request.params.id))));
  });
}
