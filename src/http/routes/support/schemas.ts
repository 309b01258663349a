import { Type, type TSchema } from '@sinclair/typebox';

/**
 * TypeBox building blocks shared by the route files. Every route declares its request
 * and response schemas from these, so /docs is a complete OpenAPI document and the
 * responses are serialised by schema (unknown fields never leak).
 */

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const Uuid = Type.String({ pattern: UUID_PATTERN, description: 'UUID' });
export const Timestamp = Type.String({ description: 'ISO-8601 UTC timestamp (microsecond precision)' });

/** For responses: `type: [T, "null"]` rather than anyOf, which the serialiser handles without trial validation. */
export function Nullable<T extends TSchema>(schema: T) {
  const { type } = schema as { type?: string };
  return Type.Unsafe<T['static'] | null>({ ...schema, type: [type ?? 'string', 'null'] });
}

/** Nullable for request schemas: a plain union, which the strict body check (TypeBox compiler) understands. */
export function OrNull<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

export const NullableString = Nullable(Type.String());
export const JsonObject = Type.Object({}, { additionalProperties: true, description: 'Any JSON object' });

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'A code from the error catalogue (src/errors/app-error.ts)' }),
    message: Type.String(),
    details: Type.Optional(JsonObject),
  }),
}, { description: 'Error' });

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 503;

/** Error responses of a route, always including 400 and 503 (database saturated/unavailable). */
export function errors(...statuses: ErrorStatus[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = { 400: ErrorBody, 503: ErrorBody };
  for (const s of statuses) out[s] = ErrorBody;
  return out;
}

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const UserIdParams = Type.Object({ userId: Uuid }, { additionalProperties: false });
export const PostIdParams = Type.Object({ postId: Uuid }, { additionalProperties: false });

export const PageQueryProps = {
  cursor: Type.Optional(Type.String({ maxLength: 600, description: 'Opaque cursor from a previous page\'s next_cursor' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Page size (default 20; history 50)' })),
};
export const PageQuery = Type.Object(PageQueryProps, { additionalProperties: false });

export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), next_cursor: NullableString });
}

export const UserSummary = Type.Object({ id: Uuid, username: Type.String(), display_name: NullableString });
export const NullableUsername = Nullable(Type.String());

export const ContentBody = (maxLength: number) =>
  Type.Object({ content: Type.String({ minLength: 1, maxLength }) }, { additionalProperties: false });

/** Route schema with the bearer security requirement and a tag, for the OpenAPI document. */
export function secured<T extends Record<string, unknown>>(tag: string, summary: string, rest: T) {
  return { tags: [tag], summary, security: [{ bearer: [] }], ...rest };
}

