import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app/deps.ts';
import { MAX_SCORE, MIN_SCORE } from '../../services/ratings/ratings.service.ts';
import { authenticate } from './support/authenticate.ts';
import { queryContext, uuidParam, viewerOf, written } from './support/request-context.ts';
import { errors, IdParams, Nullable, secured, Uuid } from './support/schemas.ts';
import { strictBody } from './support/strict-body.ts';

const RatingBody = Type.Object({
  score: Type.Integer({ minimum: MIN_SCORE, maximum: MAX_SCORE, description: `${MIN_SCORE} (worst) to ${MAX_SCORE} (best)` }),
}, { additionalProperties: false });

const RatingResponse = Type.Object({
  user_id: Uuid,
  score: Nullable(Type.Integer({ description: 'Your score for this profile; null when you have not rated it' })),
  rating: Type.Object({ average: Nullable(Type.Number()), count: Type.Integer() }, { description: "The profile's rating after this call" }),
});

type Params = { Params: Static<typeof IdParams> };

export async function ratingRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { ratings } = deps.services;
  const onRequest = authenticate(deps.services);

  app.get<Params>('/api/profiles/:id/rating', {
    schema: secured('ratings', "Your score for a profile and the profile's average", {
      params: IdParams, response: { 200: RatingResponse, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request) => ratings.mine(viewerOf(request).userId, uuidParam(request.params.id), queryContext(request)));

  app.put<Params & { Body: Static<typeof RatingBody> }>('/api/profiles/:id/rating', {
    schema: secured('ratings', 'Rate a profile (one rating per profile; rating again changes it)', {
      description: 'Not your own profile, not across a block, only a profile you may see.',
      params: IdParams, body: RatingBody, response: { 200: RatingResponse, ...errors(401, 403, 404) },
    }),
    onRequest,
    preValidation: strictBody(RatingBody),
  }, async (request, reply) => written(reply, await ratings.rate(viewerOf(request).userId, uuidParam(request.params.id), request.body.score, queryContext(request))));

  app.delete<Params>('/api/profiles/:id/rating', {
    schema: secured('ratings', 'Withdraw your rating of a profile (idempotent)', {
      params: IdParams, response: { 200: RatingResponse, ...errors(401, 403, 404) },
    }),
    onRequest,
  }, async (request, reply) => written(reply, await ratings.withdraw(viewerOf(request).userId, uuidParam(request.params.id), queryContext(request))));
}
