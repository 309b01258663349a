import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { MAX_UPLOAD_BYTES } from '../../services/photos/image-processing.ts';
import { IdempotencyHeaders, idempotencyErrors, idempotencyKey, uploadIdentity } from '../idempotency.ts';
import { authenticate } from './support/authenticate.ts';
import { sendImage } from './support/image-reply.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { ErrorBody, errors, IdParams, Page, PageQuery, secured, Timestamp, Uuid } from './support/schemas.ts';

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
const ImageType = Type.Union(IMAGE_TYPES.map((t) => Type.Literal(t)));
const Photo = Type.Object({
  id: Uuid, owner_id: Uuid, content_type: ImageType, bytes: Type.Integer(), width: Type.Integer(), height: Type.Integer(),
  url: Type.String(), thumb_url: Type.String(), created_at: Timestamp,
});
const Deleted = Type.Object({ id: Uuid, deleted: Type.Boolean() });
const Binary = Type.String({ format: 'binary', description: 'The image bytes' });

type Id = { Params: Static<typeof IdParams> };


/**
 * Photos: the image bytes are the request body (Content-Type image/jpeg, image/png or
 * image/webp), parsed as a Buffer in this plugin's scope only, with its own body limit.
 */
export async function photoRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { photos } = deps.services;
  const onRequest = authenticate(deps.services);

  await app.register(async (scope) => {
    scope.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_request, body, done) => done(null, body));

    scope.post('/api/photos', {
      schema: secured('photos', 'Upload a photo to your gallery (the image as the body)', {
        description: `JPEG, PNG or WebP, at most ${MAX_UPLOAD_BYTES} bytes; the type is read from the bytes. Stored re-encoded without metadata (no EXIF location), with a thumbnail. With an Idempotency-Key (the same bytes), a retry answers the first upload again and keeps nothing of its own.`,
        consumes: IMAGE_TYPES, headers: IdempotencyHeaders,
        response: { 201: Photo, ...errors(401), 413: ErrorBody, 415: ErrorBody, ...idempotencyErrors },
      }),
      onRequest,
    }, async (request, reply) => written(reply, await photos.upload(viewerOf(request).userId, request.body, idempotencyKey(request, { bodyOf: uploadIdentity })), 201));

    scope.get<Id>('/api/photos/:id', {
      schema: secured('photos', 'A photo (who may see its owner\'s profile may see it)', {
        params: IdParams, produces: IMAGE_TYPES, response: { 200: Binary, ...errors(401, 403, 404) },
      }),
      onRequest,
    }, async (request, reply) => sendImage(request, reply, await photos.file(viewerOf(request).userId, uuidParam(request.params.id), false, queryContext(request))));

    scope.get<Id>('/api/photos/:id/thumb', {
      schema: secured('photos', 'A photo\'s thumbnail (WebP, 320×320)', {
        params: IdParams, produces: ['image/webp'], response: { 200: Binary, ...errors(401, 403, 404) },
      }),
      onRequest,
    }, async (request, reply) => sendImage(request, reply, await photos.file(viewerOf(request).userId, uuidParam(request.params.id), true, queryContext(request))));

    scope.delete<Id>('/api/photos/:id', {
      schema: secured('photos', 'Delete one of your photos', { params: IdParams, response: { 200: Deleted, ...errors(401, 404) } }),
      onRequest,
    }, async (request, reply) => written(reply, await photos.remove(viewerOf(request).userId, uuidParam(request.params.id))));

    scope.get<Id & { Querystring: Static<typeof PageQuery> }>('/api/profiles/:id/photos', {
      schema: secured('photos', "A profile's photos, newest first (the profile's privacy applies)", {
        params: IdParams, querystring: PageQuery, response: { 200: Page(Photo), ...errors(401, 403, 404) },
      }),
      onRequest,
    }, async (request) => photos.gallery(viewerOf(request).userId, uuidParam(request.params.id), request.query.cursor, request.query.limit, queryContext(request)));
  });
}
