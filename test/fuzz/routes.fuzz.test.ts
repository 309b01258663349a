import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import sharp from 'sharp';
import { uuidv7 } from 'uuidv7';
import type pg from 'pg';
import { hashToken, newSessionToken } from '../../src/auth/tokens.ts';
import { registerUser, startTestApp, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';
import { auditRows, installWriteAudit, removeWriteAudit } from './support/write-audit.ts';
import { requestFor, ROUTES, strayRequest, type FuzzRequest, type World } from './support/routes.ts';

/**
 * Property-based fuzzing of every route (DESIGN §2) through the whole HTTP stack (Fastify
 * inject: hooks, schemas, services, real PostgreSQL and Redis). For every generated request:
 *  - the status is a 2xx (valid by chance) or a 4xx with `{error:{code,message}}`, never a 5xx;
 *  - no response shows a stack trace;
 *  - a rejected (4xx) request wrote nothing: every row inserted, updated or deleted in any
 *    table, and every DDL statement, happened during an accepted request (support/write-audit.ts).
 * FUZZ_RUNS (default 10,500) and FUZZ_SEED reproduce a run; the seed is printed.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_500);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

let t: TestApp;
let admin: pg.Client;
let a: TestUser;
let b: TestUser;
let c: TestUser;
let world: World;
let dataDir: string | undefined;

async function page(path: string, token: string): Promise<string | null> {
  const res = await t.call<PageBody<unknown>>('GET', path, { token });
  expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
  return res.body.next_cursor;
}

beforeAll(async () => {
  // A generous per-IP login limit: every injected request comes from 127.0.0.1, and the
  // fuzzer should reach the login handler, not only the limiter.
  // Its own data directory: the photos the fuzzer uploads go with it.
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-fuzz-'));
  t = await startTestApp('fuzz', { BGC_LOGIN_RATE_LIMIT_IP: '100000', BGC_CACHE_WARM_COUNT: '0', BGC_DATA_DIR: dataDir });
  [a, b, c] = await Promise.all([registerUser(t, 'fza'), registerUser(t, 'fzb'), registerUser(t, 'fzc')]);
  admin = await t.tdb.admin();
  // b moderates (before any request of b's, so no session of b's is cached without the flag).
  await admin.query('UPDATE users SET is_superuser = true WHERE id = $1', [b.id]);
  const rooms = [uuidv7(), uuidv7()];
  await admin.query(`INSERT INTO chat_rooms (id, name, topic) VALUES ($1, 'fuzz one', 't'), ($2, 'fuzz two', 't')`, rooms);
  const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
  const conv2 = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: c.id } });
  const post = await t.call<{ id: string }>('POST', '/api/feed', { token: a.token, body: { content: 'first' } });
  for (let i = 0; i < 3; i++) {
    await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: i % 2 ? b.token : a.token, body: { content: `m${i}` } });
    await t.call('POST', `/api/chat/conversations/${conv2.body.id}/messages`, { token: a.token, body: { content: `n${i}` } });
    await t.call('POST', `/api/chat/rooms/${rooms[0]}/messages`, { token: a.token, body: { content: `r${i}` } });
    await t.call('POST', '/api/feed', { token: b.token, body: { content: `p${i}` } });
    await t.call('POST', `/api/feed/${post.body.id}/comments`, { token: b.token, body: { content: `c${i}` } });
  }
  const groups = await Promise.all([
    t.call<{ id: string }>('POST', '/api/groups', { token: a.token, body: { name: 'fuzz public' } }),
    t.call<{ id: string }>('POST', '/api/groups', { token: a.token, body: { name: 'fuzz private', visibility: 'private' } }),
    t.call<{ id: string }>('POST', '/api/groups', { token: b.token, body: { name: 'fuzz closed', visibility: 'private' } }),
  ]);
  const groupIds = groups.map((g) => g.body.id);
  const groupPost = await t.call<{ id: string }>('POST', `/api/groups/${groupIds[0]}/feed`, { token: a.token, body: { content: 'group first' } });
  await t.call('POST', `/api/groups/${groupIds[0]}/join`, { token: b.token });
  await t.call('POST', `/api/groups/${groupIds[1]}/join`, { token: c.token });
  await t.call('POST', `/api/groups/${groupIds[0]}/feed/${groupPost.body.id}/comments`, { token: b.token, body: { content: 'gc' } });
  const reported = await t.call<{ id: string }>('POST', '/api/feed', { token: c.token, body: { content: 'report me' } });
  const filed = await t.call('POST', '/api/moderation/reports', { token: a.token, body: { target_type: 'post', target_id: reported.body.id, reason: 'spam' } });
  const queue = await t.call<PageBody<{ id: string; target: { id: string } }>>('GET', '/api/moderation/queue', { token: b.token, lsn: filed.lsn });
  const moderationCase = queue.body.items.find((x) => x.target.id === reported.body.id);
  expect(moderationCase).toBeDefined();
  const image = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#888' } }).jpeg().toBuffer();
  const photo = await t.app.inject({ method: 'POST', url: '/api/photos', payload: image, headers: { authorization: `Bearer ${a.token}`, 'content-type': 'image/jpeg' } });
  expect(photo.statusCode).toBe(201);
  const images = await fuzzImages();
  const chatImage = await t.app.inject({ method: 'POST', url: `/api/chat/conversations/${conv.body.id}/images`, payload: images[0], headers: { authorization: `Bearer ${a.token}`, 'content-type': 'image/jpeg' } });
  expect(chatImage.statusCode, chatImage.body).toBe(201);
  await t.call('POST', `/api/social/favorite/${b.id}`, { token: a.token });
  await t.call('POST', `/api/social/favorite/${c.id}`, { token: a.token });
  // Real cursors (read-your-writes routing sees the writes above even on lagging replicas) of every kind, for the tampering arbitraries.
  const cursors = (await Promise.all([
    page(`/api/chat/conversations/${conv.body.id}/history?limit=1`, a.token),
    page(`/api/chat/rooms/${rooms[0]}/history?limit=1`, a.token),
    page('/api/chat/conversations?limit=1', a.token),
    page('/api/chat/rooms?limit=1', a.token),
    page('/api/feed?type=global&limit=1', a.token),
    page('/api/feed?type=following&limit=1', a.token),
    page(`/api/feed/${post.body.id}/comments?limit=1`, a.token),
    page('/api/social/relationships?limit=1', a.token),
    page('/api/search?limit=1', a.token),
    page('/api/search?limit=1&lat=30&lng=-97&radius_km=500', a.token),
    page('/api/groups?limit=1', a.token),
    page(`/api/groups/${groupIds[0]}/members?limit=1`, a.token),
    page(`/api/groups/${groupIds[0]}/feed?limit=1`, a.token),
    page('/api/moderation/queue?limit=1', b.token),
  ])).filter((x): x is string => typeof x === 'string');
  expect(cursors.length).toBeGreaterThanOrEqual(8);
  world = {
    tokens: { a: a.token, b: b.token }, users: { a: a.id, b: b.id, c: c.id },
    login: { email: a.email, password: a.password },
    conversationId: conv.body.id, roomId: rooms[0] as string, postId: post.body.id, cursors,
    groupIds, groupPostId: groupPost.body.id,
    reportedPostId: reported.body.id, moderationCaseId: moderationCase?.id ?? '',
    photoId: (JSON.parse(photo.body) as { id: string }).id,
    chatImageId: (JSON.parse(chatImage.body) as { image: { id: string } }).image.id,
    images,
  };
  await createSpareSessions(a.id, a.token, 600);
  await createSpareSessions(b.id, b.token, 100);
  await installWriteAudit(admin);
}, 120_000);

afterAll(async () => {
  if (admin) { await removeWriteAudit(admin).catch(() => undefined); await admin.end(); }
  await t?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Upload bodies for the image routes: three valid types, a GIF, a PNG claiming 9000×9000 (a bomb), bytes that are no image. */
async function fuzzImages(): Promise<Buffer[]> {
  const base = () => sharp({ create: { width: 24, height: 16, channels: 3, background: '#468' } });
  const bomb = Buffer.from(await base().png().toBuffer());
  bomb.writeUInt32BE(9000, 16);
  bomb.writeUInt32BE(9000, 20); // the IHDR CRC no longer matches: refused as corrupt or as too large, either way a 4xx
  return [await base().jpeg().toBuffer(), await base().png().toBuffer(), await base().webp().toBuffer(), await base().gif().toBuffer(), bomb, Buffer.from('GIF89a but not really')];
}

/** Header values a real HTTP client could send (latin-1, no control characters but tab). */
function sendable(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')]));
}

/**
 * Logout would revoke the fuzzer's own tokens: logouts get spare sessions of the same users,
 * created before the write audit is installed (so they are not writes of the fuzz run).
 */
const spare: Record<string, string[]> = {};
async function createSpareSessions(userId: string, token: string, n: number): Promise<void> {
  spare[token] = Array.from({ length: n }, () => newSessionToken());
  await admin.query(
    `INSERT INTO sessions (id, user_id, token_hash, expires_at) SELECT gen_random_uuid(), $1, h, now() + interval '1 day' FROM unnest($2::bytea[]) h`,
    [userId, spare[token].map((tok) => hashToken(tok))]);
}

interface Sent { readonly start: number; readonly end: number; readonly status: number; readonly describe: () => string }

describe('fuzzing every route', () => {
  it('covers every route of the OpenAPI document', async () => {
    const docs = await t.call<{ paths: Record<string, Record<string, unknown>> }>('GET', '/docs');
    const documented = Object.entries(docs.body.paths).flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    const fuzzed = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect(documented.filter((r) => !fuzzed.has(r))).toEqual([]);
  });

  it(`${RUNS} generated requests: never a 5xx, errors carry a code, rejected requests write nothing`, async () => {
    const problems: string[] = [];
    const byStatus: Record<string, number> = {};
    const byRoute: Record<string, number> = {};
    const byCode: Record<string, number> = {};
    const sent: Sent[] = [];
    const arb: fc.Arbitrary<FuzzRequest> = fc.oneof(...ROUTES.map((r) => requestFor(r, world)), strayRequest());
    const started = Date.now();
    await fc.assert(fc.asyncProperty(arb, async (req) => {
      const headers = sendable(req.headers);
      const own = [world.tokens.a, world.tokens.b].find((tok) => headers.authorization?.includes(tok));
      if (req.route === 'POST /api/auth/logout' && own && headers.authorization) {
        const fresh = spare[own]?.pop();
        if (!fresh) throw new Error('out of spare sessions for logout');
        headers.authorization = headers.authorization.replace(own, fresh);
      }
      const start = Date.now();
      const res = await t.app.inject({ method: req.method as 'GET', url: req.url, headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) });
      const end = Date.now();
      const what = () => `${req.method} ${req.url.slice(0, 200)} [${JSON.stringify(headers).slice(0, 200)}] ${JSON.stringify(req.payload ?? '').slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
      sent.push({ start, end, status: res.statusCode, describe: what });
      byStatus[String(res.statusCode)] = (byStatus[String(res.statusCode)] ?? 0) + 1;
      byRoute[req.route] = (byRoute[req.route] ?? 0) + 1;
      if (res.statusCode >= 500 && !(req.route === 'GET /readyz' && res.statusCode === 503)) problems.push(`5xx: ${what()}`);
      if (/node_modules|\n\s+at [\w.<>]+ \(/.test(res.body)) problems.push(`stack trace in response: ${what()}`);
      if (res.statusCode >= 400) {
        let code: unknown;
        try { code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code; } catch { code = undefined; }
        if (typeof code !== 'string') problems.push(`error without a code: ${what()}`);
        else byCode[code] = (byCode[code] ?? 0) + 1;
      }
      return true;
    }), { numRuns: RUNS, seed: SEED });
    const seconds = (Date.now() - started) / 1000;

    // Every write must fall inside an accepted (2xx) request; requests run one at a time,
    // and the audit's clock_timestamp() and Date.now() read the same host clock (±2 ms).
    const writes = await auditRows(admin);
    let attributed = 0;
    for (const w of writes) {
      const during = sent.filter((r) => w.atMs >= r.start - 2 && w.atMs <= r.end + 2);
      if (during.some((r) => r.status < 300)) { attributed++; continue; }
      problems.push(`write outside any accepted request: ${w.what} at ${new Date(w.atMs).toISOString()}${during[0] ? ` during ${during[0].describe()}` : ''}`);
    }
    const rejected = sent.filter((r) => r.status >= 400).length;
    console.log(`[fuzz] seed=${SEED}: ${sent.length} requests in ${seconds.toFixed(1)} s over ${Object.keys(byRoute).length} routes; ` +
      `${rejected} rejected; by status ${JSON.stringify(byStatus)}; by code ${JSON.stringify(byCode)}; ${writes.length} writes, all inside accepted requests: ${attributed === writes.length}; problems ${problems.length}`);
    if (problems.length > 0) console.log(problems.slice(0, 40).join('\n'));
    expect(sent.length).toBe(RUNS);
    expect(Object.keys(byRoute).length).toBe(ROUTES.length + 1);
    expect(problems.slice(0, 20)).toEqual([]);
    // Still alive and serving.
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  }, 600_000);
});
