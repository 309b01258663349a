import fc from 'fast-check';
import { anyJson, cursor, enc, nastyString, pathId, queryValue } from './arbitraries.ts';

/**
 * Every route of the public API, with a valid example of its input, and the fuzzer's
 * arbitrary for a request to it: valid-by-chance, near-valid (one field broken), or
 * garbage; with or without a valid token; with odd content types, malformed and
 * oversized bodies, invalid ids and tampered cursors.
 */
export interface World {
  readonly tokens: { readonly a: string; readonly b: string };
  readonly users: { readonly a: string; readonly b: string; readonly c: string };
  readonly login: { readonly email: string; readonly password: string };
  readonly conversationId: string;
  readonly roomId: string;
  readonly postId: string;
  /** A public group of a's with a post, a private one of a's with a pending request, a private one of b's. */
  readonly groupIds: readonly string[];
  readonly groupPostId: string;
  /** A post of c's that a reported (its open case is moderationCaseId; b is a moderator). */
  readonly reportedPostId: string;
  readonly moderationCaseId: string;
  /** A photo of a's. */
  readonly photoId: string;
  /** An image a sent in conversationId. */
  readonly chatImageId: string;
  /** Image upload bodies: valid JPEG/PNG/WebP, a GIF, truncated, a decompression bomb, garbage. */
  readonly images: readonly Buffer[];
  readonly cursors: readonly string[];
}

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify form, e.g. /api/profiles/:id */
  readonly path: string;
  readonly auth: boolean;
  /** A valid body, or undefined for routes without one. */
  readonly body?: (w: World, n: number) => Record<string, unknown>;
  readonly query?: readonly string[];
  /** Keys the body schema knows beyond the example's (so mutations also hit them). */
  readonly extraKeys?: readonly string[];
  /** The body is an image (World.images, or any of the JSON payloads), sent with an image or other content type. */
  readonly image?: boolean;
}

const PAGE = ['cursor', 'limit'];
const PROFILE_KEYS = ['display_name', 'bio', 'birthdate', 'gender', 'ethnicity', 'height_cm', 'body_type', 'relationship_status', 'city', 'state', 'lat', 'lng', 'roles', 'interests', 'metadata', 'privacy_level'];

export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/healthz', auth: false },
  { method: 'GET', path: '/readyz', auth: false },
  { method: 'GET', path: '/docs', auth: false },
  { method: 'POST', path: '/api/auth/register', auth: false, body: (_w, n) => ({ email: `fz${n}@example.test`, username: `fz_${n}`, password: 'Fuzzing pass 42' }) },
  { method: 'POST', path: '/api/auth/login', auth: false, body: (w) => ({ email: w.login.email, password: w.login.password }) },
  { method: 'POST', path: '/api/auth/logout', auth: true },
  { method: 'GET', path: '/api/auth/session', auth: true },
  { method: 'GET', path: '/api/profiles/:id', auth: true },
  { method: 'PUT', path: '/api/profiles/me', auth: true, extraKeys: PROFILE_KEYS, body: () => ({ bio: 'fuzz', city: 'Austin', interests: ['chess'], metadata: { smoker: false }, lat: 30.2, lng: -97.7 }) },
  { method: 'GET', path: '/api/search', auth: true, query: ['q', 'city', 'state', 'ethnicity', 'min_age', 'max_age', 'interests', 'roles', 'metadata', 'lat', 'lng', 'radius_km', ...PAGE] },
  { method: 'GET', path: '/api/chat/rooms', auth: true, query: PAGE },
  { method: 'GET', path: '/api/chat/rooms/:id/history', auth: true, query: PAGE },
  { method: 'POST', path: '/api/chat/rooms/:id/messages', auth: true, body: () => ({ content: 'hello room' }) },
  { method: 'GET', path: '/api/chat/conversations', auth: true, query: PAGE },
  { method: 'POST', path: '/api/chat/conversations', auth: true, body: (w) => ({ recipient_id: w.users.b }) },
  { method: 'GET', path: '/api/chat/conversations/:id/history', auth: true, query: PAGE },
  { method: 'POST', path: '/api/chat/conversations/:id/messages', auth: true, body: () => ({ content: 'hello' }) },
  { method: 'POST', path: '/api/chat/conversations/:id/read', auth: true },
  { method: 'GET', path: '/api/feed', auth: true, query: ['type', ...PAGE] },
  { method: 'POST', path: '/api/feed', auth: true, body: () => ({ content: 'a status' }) },
  { method: 'GET', path: '/api/feed/:postId/comments', auth: true, query: PAGE },
  { method: 'POST', path: '/api/feed/:postId/comments', auth: true, body: () => ({ content: 'a comment' }) },
  { method: 'POST', path: '/api/social/favorite/:userId', auth: true },
  { method: 'DELETE', path: '/api/social/favorite/:userId', auth: true },
  { method: 'POST', path: '/api/social/friend-request/:userId', auth: true },
  { method: 'POST', path: '/api/social/friend-request/:userId/accept', auth: true },
  { method: 'POST', path: '/api/social/block/:userId', auth: true },
  { method: 'DELETE', path: '/api/social/block/:userId', auth: true },
  { method: 'GET', path: '/api/social/relationships', auth: true, query: PAGE },
  { method: 'GET', path: '/api/reports/most-active', auth: true, query: ['days', 'limit'] },
  { method: 'GET', path: '/api/reports/top-posts', auth: true, query: ['days', 'limit'] },
  { method: 'GET', path: '/api/profiles/:id/rating', auth: true },
  { method: 'GET', path: '/api/profiles/:id/presence', auth: true },
  { method: 'PUT', path: '/api/profiles/:id/rating', auth: true, body: (_w, n) => ({ score: (n % 5) + 1 }) },
  { method: 'DELETE', path: '/api/profiles/:id/rating', auth: true },
  { method: 'GET', path: '/api/groups', auth: true, query: ['q', 'mine', ...PAGE] },
  { method: 'POST', path: '/api/groups', auth: true, extraKeys: ['description', 'visibility'], body: (_w, n) => ({ name: `fuzz group ${n}`, description: 'about', visibility: n % 2 ? 'public' : 'private' }) },
  { method: 'GET', path: '/api/groups/:id', auth: true },
  { method: 'POST', path: '/api/groups/:id/join', auth: true },
  { method: 'POST', path: '/api/groups/:id/leave', auth: true },
  { method: 'GET', path: '/api/groups/:id/members', auth: true, query: PAGE },
  { method: 'GET', path: '/api/groups/:id/requests', auth: true, query: PAGE },
  { method: 'POST', path: '/api/groups/:id/requests/:userId/approve', auth: true },
  { method: 'DELETE', path: '/api/groups/:id/requests/:userId', auth: true },
  { method: 'GET', path: '/api/groups/:id/feed', auth: true, query: PAGE },
  { method: 'POST', path: '/api/groups/:id/feed', auth: true, body: () => ({ content: 'a group post' }) },
  { method: 'GET', path: '/api/groups/:id/feed/:postId/comments', auth: true, query: PAGE },
  { method: 'POST', path: '/api/groups/:id/feed/:postId/comments', auth: true, body: () => ({ content: 'a group comment' }) },
  { method: 'POST', path: '/api/moderation/reports', auth: true, extraKeys: ['details'], body: (w, n) => ({ target_type: n % 3 ? 'post' : 'profile', target_id: n % 3 ? w.reportedPostId : w.users.c, reason: 'spam', details: 'fuzz' }) },
  { method: 'GET', path: '/api/moderation/queue', auth: true, query: PAGE },
  { method: 'GET', path: '/api/moderation/cases/:id', auth: true },
  { method: 'POST', path: '/api/photos', auth: true, image: true },
  { method: 'GET', path: '/api/photos/:id', auth: true },
  { method: 'GET', path: '/api/photos/:id/thumb', auth: true },
  { method: 'DELETE', path: '/api/photos/:id', auth: true },
  { method: 'GET', path: '/api/profiles/:id/photos', auth: true, query: PAGE },
  { method: 'POST', path: '/api/chat/conversations/:id/images', auth: true, image: true, query: ['caption'] },
  { method: 'POST', path: '/api/chat/rooms/:id/images', auth: true, image: true, query: ['caption'] },
  { method: 'GET', path: '/api/chat/images/:id', auth: true },
  { method: 'GET', path: '/api/chat/images/:id/thumb', auth: true },
  { method: 'DELETE', path: '/api/chat/images/:id', auth: true },
  { method: 'POST', path: '/api/moderation/cases/:id/resolve', auth: true, extraKeys: ['note'], body: (_w, n) => ({ action: (['dismiss', 'hide', 'suspend'] as const)[n % 3], note: 'fuzz' }) },
];

export interface FuzzRequest {
  readonly route: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload?: string | Buffer;
}

const CONTENT_TYPES = ['application/json', 'application/json', 'application/json', 'application/json; charset=utf-8',
  'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''];

function idsFor(param: string, w: World, path: string): string[] {
  if (path.startsWith('/api/groups/') && param === 'id') return [...w.groupIds];
  if (path.startsWith('/api/moderation/cases/')) return [w.moderationCaseId];
  if (path.startsWith('/api/photos/')) return [w.photoId];
  if (path.startsWith('/api/chat/images/')) return [w.chatImageId];
  if (path.startsWith('/api/groups/') && param === 'postId') return [w.groupPostId, w.postId];
  if (param === 'postId') return [w.postId];
  if (param === 'userId' || path.startsWith('/api/profiles/:id')) return [w.users.b, w.users.c, w.users.a];
  return [w.conversationId, w.roomId];
}

function authHeader(w: World): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 14, arbitrary: fc.constant(`Bearer ${w.tokens.a}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${w.tokens.b}`) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: nastyString.map((s) => `Bearer ${s.replace(/[\r\n]/g, '')}`.slice(0, 2000)) },
    { weight: 1, arbitrary: fc.constantFrom(`Basic ${w.tokens.a}`, `bearer ${w.tokens.a}`, `Bearer  ${w.tokens.a} `, `Bearer ${w.tokens.a}x`, 'Bearer', '') },
  );
}

/** One field of a valid body broken, a key removed or added, or the whole body replaced. */
function mutatedBody(valid: Record<string, unknown>, extraKeys: readonly string[]): fc.Arbitrary<unknown> {
  const keys = [...new Set([...Object.keys(valid), ...extraKeys])];
  const setKey = fc.tuple(fc.constantFrom(...keys), anyJson).map(([k, v]) => ({ ...valid, [k]: v }));
  const setNasty = fc.tuple(fc.constantFrom(...keys), nastyString).map(([k, v]) => ({ ...valid, [k]: v }));
  const dropKey = fc.constantFrom(...Object.keys(valid)).map((k) => { const c = { ...valid }; delete c[k]; return c; });
  const addKey = fc.tuple(nastyString, anyJson).map(([k, v]) => ({ ...valid, [k]: v }));
  const arrays = fc.tuple(fc.constantFrom(...keys), fc.array(nastyString, { maxLength: 60 })).map(([k, v]) => ({ ...valid, [k]: v }));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(valid) },
    { weight: 4, arbitrary: setNasty },
    { weight: 3, arbitrary: setKey },
    { weight: 1, arbitrary: arrays },
    { weight: 1, arbitrary: dropKey },
    { weight: 1, arbitrary: addKey },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant([valid]) },
  );
}

const IMAGE_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/jpeg', 'image/gif', 'application/json', 'application/octet-stream', ''];

/** An image upload's body: one of World.images (mostly), a slice of one, or a JSON/garbage payload. */
function imagePayload(w: World): fc.Arbitrary<string | Buffer | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...w.images) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...w.images), fc.nat()).map(([img, cut]) => img.subarray(0, cut % img.length)) },
    { weight: 1, arbitrary: payloadFor(undefined, []) },
  );
}

/** The raw payload: JSON of a (mutated) body, malformed JSON, an oversized body, or none. */
function payloadFor(valid: Record<string, unknown> | undefined, extraKeys: readonly string[]): fc.Arbitrary<string | undefined> {
  const base = valid ?? { any: 'thing' };
  const json = mutatedBody(base, extraKeys).map((b) => JSON.stringify(b) ?? 'null');
  const malformed = fc.tuple(fc.nat(), nastyString).map(([cut, tail]) => {
    const s = JSON.stringify(base);
    return s.slice(0, cut % s.length) + tail;
  });
  const oversized = fc.constantFrom(...Object.keys(base)).map((k) => JSON.stringify({ ...base, [k]: 'x'.repeat(66 * 1024) }));
  const options: Array<fc.WeightedArbitrary<string | undefined>> = [
    { weight: valid ? 12 : 1, arbitrary: json },
    { weight: 2, arbitrary: malformed },
    { weight: 1, arbitrary: oversized },
    { weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '{}', '"x"', '0', '{"a":1,"a":2}', '\uFEFF{}', '{"__proto__":{"admin":true}}') },
    { weight: valid ? 1 : 6, arbitrary: fc.constant(undefined) },
  ];
  return fc.oneof(...options);
}

function queryFor(keys: readonly string[] | undefined, w: World): fc.Arbitrary<string> {
  if (!keys) return fc.oneof(fc.constant(''), fc.tuple(nastyString, queryValue).map(([k, v]) => `?${enc(k)}=${enc(v)}`));
  const value = (k: string) => (k === 'cursor' ? fc.oneof({ weight: 3, arbitrary: cursor(w.cursors) }, { weight: 1, arbitrary: fc.constantFrom(...w.cursors) }) : queryValue);
  const pair = fc.constantFrom(...keys).chain((k) => value(k).map((v) => `${enc(k)}=${enc(v)}`));
  const unknown = fc.tuple(nastyString, queryValue).map(([k, v]) => `${enc(k)}=${enc(v)}`);
  return fc.array(fc.oneof({ weight: 6, arbitrary: pair }, { weight: 1, arbitrary: unknown }), { maxLength: 5 })
    .map((pairs) => (pairs.length ? `?${pairs.join('&')}` : ''));
}

export function requestFor(spec: RouteSpec, w: World): fc.Arbitrary<FuzzRequest> {
  const params = [...spec.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
  const paramValues = fc.tuple(...params.map((p) => pathId(idsFor(p, w, spec.path))));
  return fc.record({
    ids: params.length ? paramValues : fc.constant([] as string[]),
    query: queryFor(spec.query, w),
    auth: spec.auth ? authHeader(w) : fc.oneof(fc.constant(undefined), authHeader(w)),
    n: fc.integer({ min: 1, max: 2 ** 30 }),
    payloadSeed: fc.nat(),
    contentType: fc.constantFrom(...CONTENT_TYPES),
    lsn: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.oneof(fc.constant('0/0'), fc.constant('FFFFFFFF/FFFFFFFF'), nastyString.map((s) => s.replace(/[\r\n]/g, '').slice(0, 200))) }),
  }).chain((r) => (spec.image ? imagePayload(w) : payloadFor(spec.body?.(w, r.n), spec.extraKeys ?? [])).map((payload) => {
    let i = 0;
    const url = spec.path.replace(/:(\w+)/g, () => r.ids[i++] ?? '') + r.query;
    const headers: Record<string, string> = {};
    if (r.auth !== undefined) headers.authorization = r.auth;
    if (r.lsn !== undefined) headers['x-bgc-lsn'] = r.lsn;
    const contentType = spec.image ? IMAGE_CONTENT_TYPES[r.payloadSeed % IMAGE_CONTENT_TYPES.length] ?? '' : r.contentType;
    if (payload !== undefined && contentType !== '') headers['content-type'] = contentType;
    // GET and DELETE carry a body only sometimes, as a client bug would.
    const sendBody = payload !== undefined && (spec.method === 'POST' || spec.method === 'PUT' || r.payloadSeed % 8 === 0);
    return { route: `${spec.method} ${spec.path}`, method: spec.method, url, headers, ...(sendBody ? { payload } : {}) };
  }));
}

/** Requests to no route at all, or with a method the route does not have. */
export function strayRequest(): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: fc.constantFrom('PATCH', 'PUT', 'DELETE', 'OPTIONS', 'POST', 'GET'),
    path: fc.oneof(
      fc.constantFrom('/api/feed/', '/api/profiles', '/api/chat', '/api/auth/register', '/api', '/', '/docs/json', '/metrics'),
      nastyString.map((s) => `/api/${enc(s.slice(0, 200))}`),
    ),
  }).map(({ method, path }) => ({ route: 'stray', method, url: path, headers: {} }));
}
