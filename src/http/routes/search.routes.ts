import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, viewerOf } from './support/request-context.ts';
import { errors, Nullable, NullableString, Page, PageQueryProps, secured, Timestamp, Uuid } from './support/schemas.ts';

const SearchQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200, description: 'Free text over username, display name, bio, city and state; every word must match' })),
  city: Type.Optional(Type.String({ maxLength: 100 })),
  state: Type.Optional(Type.String({ maxLength: 100 })),
  ethnicity: Type.Optional(Type.String({ maxLength: 60 })),
  min_age: Type.Optional(Type.Integer({ minimum: 0, maximum: 150 })),
  max_age: Type.Optional(Type.Integer({ minimum: 0, maximum: 150 })),
  interests: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated; all must be present (JSONB containment)' })),
  roles: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated; all must be present (JSONB containment)' })),
  metadata: Type.Optional(Type.String({ maxLength: 2000, description: 'JSON object matched by containment, e.g. {"smoker":false}' })),
  lat: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
  lng: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
  radius_km: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 500, description: 'Default 25 when lat/lng are given' })),
  ...PageQueryProps,
}, { additionalProperties: false });

const SearchItem = Type.Object({
  id: Uuid,
  username: Type.String(),
  display_name: NullableString,
  bio: Nullable(Type.String({ description: 'First 280 characters' })),
  birthdate: NullableString,
  age: Nullable(Type.Integer()),
  gender: NullableString,
  ethnicity: NullableString,
  city: NullableString,
  state: NullableString,
  roles: Type.Array(Type.String()),
  interests: Type.Array(Type.String()),
  last_active_at: Timestamp,
  distance_km: Nullable(Type.Number({ description: 'Set when lat/lng are given' })),
});

export async function searchRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { search } = deps.services;
  app.get<{ Querystring: Static<typeof SearchQuery> }>('/api/search', {
    schema: secured('search', 'Search profiles: attributes (JSONB containment), free text, location, age; most recently active first, or nearest first with lat/lng', {
      querystring: SearchQuery, response: { 200: Page(SearchItem), ...errors(401) },
    }),
    onRequest: authenticate(deps.services),
  }, async (request) => search.profiles(viewerOf(request).userId, request.query, queryContext(request)));
}
