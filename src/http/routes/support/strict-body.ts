import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../../errors/app-error.ts';

/**
 * The app's Ajv coerces types (right for query strings: "?limit=5"), but for a JSON body
 * coercion would accept `{"content": 123}` as "123" and `{"interests": "x"}` as ["x"].
 * Body routes therefore check the raw body against the same TypeBox schema, without
 * coercion, in preValidation (before Ajv sees it): a wrong JSON type is a 400.
 */
if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', (v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v));
if (!FormatRegistry.Has('date')) FormatRegistry.Set('date', (v) => /^\d{4}-\d{2}-\d{2}$/.test(v));

export function strictBody(schema: TSchema): (request: FastifyRequest) => Promise<void> {
  const check = TypeCompiler.Compile(schema);
  return async (request) => {
    if (check.Check(request.body)) return;
    const first = check.Errors(request.body).First();
    const where = first?.path ? `body${first.path.replace(/\//g, '.')}` : 'body';
    throw new AppError('VALIDATION_FAILED', `${where}: ${first?.message ?? 'invalid'}`);
  };
}
