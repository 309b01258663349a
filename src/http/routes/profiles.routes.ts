import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { errors, IdParams, JsonObject, Nullable, NullableString, OrNull, secured, Timestamp, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const Privacy = Type.Union([Type.Literal('public'), Type.Literal('friends'), Type.Literal('private')]);
const ShortText = (max: number) => Type.Optional(OrNull(Type.String({ maxLength: max })));
const Tags = Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 50 }));

export const ProfilePatchBody = Type.Object({
  display_name: Type.Optional(OrNull(Type.String({ minLength: 1, maxLength: 80 }))),
  bio: ShortText(5000),
  birthdate: Type.Optional(OrNull(Type.String({ format: 'date', description: 'YYYY-MM-DD' }))),
  gender: ShortText(40),
  ethnicity: ShortText(60),
  height_cm: Type.Optional(OrNull(Type.Integer({ minimum: 50, maximum: 260 }))),
  body_type: ShortText(40),
  relationship_status: ShortText(40),
  city: ShortText(100),
  state: ShortText(100),
  lat: Type.Optional(OrNull(Type.Number({ minimum: -90, maximum: 90 }))),
  lng: Type.Optional(OrNull(Type.Number({ minimum: -180, maximum: 180 }))),
  roles: Tags,
  interests: Tags,
  metadata: Type.Optional(Type.Object({}, { additionalProperties: true, maxProperties: 50, description: 'Free-form attributes (at most 50 keys, objects and arrays nested at most 8 levels), searchable by containment' })),
  privacy_level: Type.Optional(Privacy),
}, { additionalProperties: false, description: 'Only the keys present change; null clears a field' });

const ProfileResponse = Type.Object({
  id: Uuid,
  username: Type.String(),
  display_name: NullableString,
  bio: NullableString,
  birthdate: NullableString,
  age: Nullable(Type.Integer()),
  gender: NullableString,
  ethnicity: NullableString,
  height_cm: Nullable(Type.Integer()),
  body_type: NullableString,
  relationship_status: NullableString,
  city: NullableString,
  state: NullableString,
  lat: Nullable(Type.Number({ description: 'Owner only' })),
  lng: Nullable(Type.Number({ description: 'Owner only' })),
  roles: Type.Array(Type.String()),
  interests: Type.Array(Type.String()),
  metadata: JsonObject,
  privacy_level: Privacy,
  last_active_at: Timestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  rating: Type.Object({ average: Nullable(Type.Number()), count: Type.Integer() }),
  relationship: Type.Object({
    is_self: Type.Boolean(),
    friend_status: Type.Union([Type.Literal('none'), Type.Literal('pending_outgoing'), Type.Literal('pending_incoming'), Type.Literal('friends')]),
    is_favorite: Type.Boolean(),
    is_blocked: Type.Boolean({ description: 'You blocked this user' }),
  }),
});

export async function profileRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { profiles } = deps.services;
  const requireAuth = authenticate(deps.services);

  app.get<{ Params: Static<typeof IdParams> }>('/api/profiles/:id', {
    schema: secured('profiles', 'A profile with its rating and your relationship to it', {
      params: IdParams, response: { 200: ProfileResponse, ...errors(401, 403, 404) },
    }),
    onRequest: requireAuth,
  }, async (request) => profiles.get(viewerOf(request).userId, uuidParam(request.params.id), queryContext(request)));

  app.put<{ Body: Static<typeof ProfilePatchBody> }>('/api/profiles/me', {
    schema: secured('profiles', 'Update your own profile', { body: ProfilePatchBody, response: { 200: ProfileResponse, ...errors(401) } }),
    onRequest: requireAuth,
    preValidation: strictBody(ProfilePatchBody),
  }, async (request, reply) => written(reply, await profiles.updateMe(viewerOf(request).userId, request.body)));
}
