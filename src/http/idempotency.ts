import crypto from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.ts';
import { ANONYMOUS_SCOPE, type IdempotencyKey } from '../services/idempotency.ts';
import { ErrorBody } from './routes/support/schemas.ts';

/**
 * The HTTP side of idempotent creating POSTs (src/services/idempotency.ts has the rules):
 * reading and validating the `Idempotency-Key` header, and the request fingerprint that
 * decides whether a second request with the key is "the same request".
 */

const HEADER = 'idempotency-key';
/** Set on a response that is the stored answer to an earlier request with the same key. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * 8–255 characters: UUIDs, ULIDs, base64/base64url and hex all fit. At least 8 because
 * register's keys share one anonymous scope, where a short key would collide by chance.
 * No spaces or commas: two Idempotency-Key headers arrive joined by ", " and must fail.
 */
const KEY_PATTERN = /^[A-Za-z0-9._:~+/=-]{8,255}$/;

const DESCRIPTION = 'Makes this POST safe to retry (IETF Idempotency-Key draft, as Stripe uses it): the same key with the same request '
  + 'within 24 h returns the first response again (header `Idempotent-Replayed: true`) and writes nothing; the same key with a different '
  + 'request is 422 IDEMPOTENCY_KEY_REUSED. 8–255 characters of A–Z a–z 0–9 . _ : ~ + / = - (a random UUID is ideal), bare or as a '
  + 'structured-field string ("…"). Keys are per user; register uses one shared anonymous scope.';

/** The request header, for route schemas (OpenAPI). Checked by `idempotencyKey`, not by Ajv, for its own error code. */
export const IdempotencyHeaders = Type.Object({ [HEADER]: Type.Optional(Type.String({ description: DESCRIPTION })) });

/** Error responses a keyed POST can add: 409 still in flight (after a bounded wait), 422 key reused. */
export const idempotencyErrors = { 409: ErrorBody, 422: ErrorBody } as const;

/**
 * The key of this request, or undefined without the header (today's behaviour).
 * `omit` names body fields left out of the fingerprint (register's password: the record
 * must hold nothing that helps guess it; the replay checks the password instead).
 */
export function idempotencyKey(request: FastifyRequest, opts: { readonly omit?: readonly string[]; readonly bodyOf?: (request: FastifyRequest) => unknown } = {}): IdempotencyKey | undefined {
  const raw = request.headers[HEADER];
  if (raw === undefined) return undefined;
  // `bodyOf` runs only with a key: an upload's hash is not paid by requests without one.
  const body = opts.bodyOf ? opts.bodyOf(request) : omitFields(request.body, opts.omit ?? []);
  return {
    scope: request.viewer?.userId ?? ANONYMOUS_SCOPE,
    key: parseKey(raw),
    fingerprint: requestFingerprint(request.method, request.routeOptions.url ?? request.url, request.params, body),
  };
}

/**
 * What identifies an upload for its key: its caption (the one query parameter any upload
 * route reads) and the sha256 of the bytes. Not the whole query: a retry that adds a
 * parameter the route ignores (a cache-buster) was a different request, 422. Not the Buffer
 * itself: canonical JSON of 10 MB would be an object of ten million entries.
 */
export function uploadIdentity(request: FastifyRequest): unknown {
  const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const caption = (request.query as { caption?: unknown } | undefined)?.caption;
  return { caption: caption ?? null, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

export function parseKey(raw: string | string[]): string {
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  // The draft sends an sf-string ("…"); most clients (Stripe's) send the bare value. Same key.
  const bare = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  if (!KEY_PATTERN.test(bare)) {
    throw new AppError('IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 8–255 characters of A–Z a–z 0–9 . _ : ~ + / = -');
  }
  return bare;
}

/**
 * sha256 of method, route pattern, path parameters and body, each as canonical JSON
 * (object keys sorted at every level), so key order and whitespace never make two equal
 * requests differ, while any change of value, path or route does.
 */
export function requestFingerprint(method: string, route: string, params: unknown, body: unknown): Buffer {
  const text = JSON.stringify([method.toUpperCase(), route, canonical(idsLowerCased(params ?? null)), canonical(idsLowerCased(body ?? null, ID_FIELD))]);
  return crypto.createHash('sha256').update(text).digest();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Body fields that name a row (recipient_id, user_id): read as UUIDs by the routes. */
const ID_FIELD = /(^|_)id$/;

/**
 * Path parameters (and the body's id fields) with their UUIDs lower-cased, as the routes read
 * them (uuidParam): the same conversation or recipient named in capitals on a retry is the
 * same request, not a 422. Other body text keeps its case: it is what gets stored.
 */
function idsLowerCased(fields: unknown, only: RegExp = /.*/): unknown {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return fields;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' && only.test(k) && UUID.test(v) ? v.toLowerCase() : v]));
}

/** The value with every object's keys in sorted order (arrays keep their order). */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

function omitFields(body: unknown, omit: readonly string[]): unknown {
  if (omit.length === 0 || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([k]) => !omit.includes(k)));
}
