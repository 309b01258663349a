/**
 * The OpenAPI document is 3.0.3 (what @fastify/swagger writes, and what most code generators
 * take), but route schemas are JSON Schema for Ajv, which validates requests: Ajv (draft-07)
 * wants the numeric `exclusiveMinimum: 0`, while OpenAPI 3.0's schema dialect (draft-04) only
 * has the boolean form next to `minimum`. Rewriting the route schemas would break validation,
 * so the document is rewritten instead, once, as @fastify/swagger's `transformObject`:
 * every schema in it, whatever route adds it later.
 *
 *   exclusiveMinimum: n             ->  minimum: n, exclusiveMinimum: true
 *   exclusiveMaximum: n             ->  maximum: n, exclusiveMaximum: true
 *   const: v                        ->  enum: [v]
 *
 * (Nullable types are already written the 3.0 way by @fastify/swagger.)
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of `doc` with the JSON Schema forms OpenAPI 3.0 lacks rewritten in its own terms. */
export function toOpenApi30<T>(doc: T): T {
  return rewrite(doc as Json) as T;
}

/** Keys whose value maps names to schemas: a property called `const` there is a name, not a keyword. */
const NAME_MAPS = new Set(['properties', 'patternProperties', 'definitions', 'schemas', '$defs', 'paths', 'responses']);

function rewrite(value: Json, isNameMap = false): Json {
  if (Array.isArray(value)) return value.map((v) => rewrite(v));
  if (!isObject(value)) return value;
  const out: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(value)) out[key] = rewrite(child, !isNameMap && NAME_MAPS.has(key));
  if (isNameMap) return out;
  bound(out, 'exclusiveMinimum', 'minimum', (a, b) => a >= b);
  bound(out, 'exclusiveMaximum', 'maximum', (a, b) => a <= b);
  if ('const' in out && !('enum' in out)) {
    out.enum = [out.const ?? null];
    delete out.const;
  }
  return out;
}

/**
 * A numeric exclusive bound becomes the inclusive keyword plus the boolean flag. When the
 * schema also has the inclusive bound, the tighter of the two wins (`tighter(exclusive,
 * inclusive)` says whether the exclusive one is at least as tight).
 */
function bound(schema: { [key: string]: Json }, exclusive: string, inclusive: string, tighter: (a: number, b: number) => boolean): void {
  const e = schema[exclusive];
  if (typeof e !== 'number') return;
  const i = schema[inclusive];
  if (typeof i === 'number' && !tighter(e, i)) {
    delete schema[exclusive];
    return;
  }
  schema[inclusive] = e;
  schema[exclusive] = true;
}
