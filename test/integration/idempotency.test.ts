import crypto from 'node:crypto';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireIdempotencyKeys } from '../../src/jobs/idempotency-expiry.job.ts';
import { IdempotencyRepository } from '../../src/repositories/idempotency.repository.ts';
import { KEY_TTL_HOURS } from '../../src/services/idempotency.ts';
import { expectError, registerUser, startTestApp, type ApiResponse, type AuthBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Idempotency-Key on every creating POST (issue 16), over HTTP on the real stack: replay,
 * conflict (422), validation (400), per-user scope, expiry, and duplicates racing on one
 * key. Counts are read from PostgreSQL directly, so "exactly one row" means one row.
 */
let t: TestApp;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let roomId: string;
let conversationId: string;
let postId: string;
let groupId: string;
let groupPostId: string;

const newKey = () => crypto.randomUUID();

async function sql<R>(text: string, params: unknown[] = []): Promise<R[]> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query(text, params)).rows as R[];
  } finally {
    await admin.end();
  }
}

async function count(text: string, params: unknown[]): Promise<number> {
  const rows = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM (${text}) x`, params);
  return rows[0]?.n ?? -1;
}

function keyed(key: string, token?: string) {
  return { token, headers: { 'idempotency-key': key } };
}

function replayed(res: ApiResponse): boolean {
  return res.headers['idempotent-replayed'] === 'true';
}

beforeAll(async () => {
  t = await startTestApp('idempotency');
  alice = await registerUser(t, 'idem_a');
  bob = await registerUser(t, 'idem_b');
  carol = await registerUser(t, 'idem_c');
  roomId = uuidv7();
  await sql(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'idempotency')`, [roomId]);
  const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: alice.token, body: { recipient_id: bob.id } });
  conversationId = open.body.id;
  const post = await t.call<{ id: string }>('POST', '/api/feed', { token: bob.token, body: { content: 'a post to comment on' } });
  postId = post.body.id;
  const group = await t.call<{ id: string }>('POST', '/api/groups', { token: bob.token, body: { name: 'idempotency group' } });
  groupId = group.body.id;
  expect((await t.call('POST', `/api/groups/${groupId}/join`, { token: alice.token })).status).toBe(200);
  const groupPost = await t.call<{ id: string }>('POST', `/api/groups/${groupId}/feed`, { token: bob.token, body: { content: 'a group post to comment on' } });
  groupPostId = groupPost.body.id;
});
afterAll(async () => {
  await t?.close();
});

interface Case {
  readonly name: string;
  readonly url: () => string;
  readonly body: () => unknown;
  /** A different request for the same route (422 with the same key). */
  readonly otherBody: () => unknown;
  /** For bodiless routes: another path parameter. */
  readonly otherUrl?: () => string;
  readonly status: number;
  readonly user: () => TestUser;
  /** Rows this request creates, found by the response body. */
  readonly rows: (body: { id: string }) => Promise<number>;
}

const CASES: Case[] = [
  {
    name: 'direct message', url: () => `/api/chat/conversations/${conversationId}/messages`, status: 201, user: () => alice,
    body: () => ({ content: 'exactly once' }), otherBody: () => ({ content: 'something else' }),
    rows: () => count(`SELECT 1 FROM messages WHERE conversation_id = $1 AND content = 'exactly once'`, [conversationId]),
  },
  {
    name: 'room message', url: () => `/api/chat/rooms/${roomId}/messages`, status: 201, user: () => alice,
    body: () => ({ content: 'room once' }), otherBody: () => ({ content: 'room twice' }),
    rows: () => count(`SELECT 1 FROM messages WHERE room_id = $1 AND content = 'room once'`, [roomId]),
  },
  {
    name: 'post', url: () => '/api/feed', status: 201, user: () => alice,
    body: () => ({ content: 'post once' }), otherBody: () => ({ content: 'post twice' }),
    rows: () => count(`SELECT 1 FROM status_updates WHERE author_id = $1 AND content = 'post once'`, [alice.id]),
  },
  {
    name: 'comment', url: () => `/api/feed/${postId}/comments`, status: 201, user: () => alice,
    body: () => ({ content: 'comment once' }), otherBody: () => ({ content: 'comment twice' }),
    rows: () => count(`SELECT 1 FROM post_comments WHERE author_id = $1 AND content = 'comment once'`, [alice.id]),
  },
  {
    name: 'group post', url: () => `/api/groups/${groupId}/feed`, status: 201, user: () => alice,
    body: () => ({ content: 'group post once' }), otherBody: () => ({ content: 'group post twice' }),
    rows: () => count(`SELECT 1 FROM status_updates WHERE author_id = $1 AND content = 'group post once'`, [alice.id]),
  },
  {
    name: 'group comment', url: () => `/api/groups/${groupId}/feed/${groupPostId}/comments`, status: 201, user: () => alice,
    body: () => ({ content: 'group comment once' }), otherBody: () => ({ content: 'group comment twice' }),
    rows: () => count(`SELECT 1 FROM post_comments WHERE author_id = $1 AND content = 'group comment once'`, [alice.id]),
  },
  {
    name: 'conversation', url: () => '/api/chat/conversations', status: 201, user: () => carol,
    body: () => ({ recipient_id: alice.id }), otherBody: () => ({ recipient_id: bob.id }),
    rows: (b) => count(`SELECT 1 FROM conversations WHERE id = $1`, [b.id]),
  },
  {
    name: 'group', url: () => '/api/groups', status: 201, user: () => alice,
    body: () => ({ name: 'keyed group once', visibility: 'private' }), otherBody: () => ({ name: 'keyed group twice' }),
    rows: () => count(`SELECT 1 FROM community_groups WHERE owner_id = $1 AND name = 'keyed group once'`, [alice.id]),
  },
  {
    name: 'friend request', url: () => `/api/social/friend-request/${bob.id}`, status: 200, user: () => carol,
    body: () => undefined, otherBody: () => undefined, otherUrl: () => `/api/social/friend-request/${alice.id}`,
    rows: () => count(`SELECT 1 FROM relationships WHERE user_id = $1 AND target_id = $2 AND kind = 'friend'`, [carol.id, bob.id]),
  },
];

describe('Idempotency-Key: replay and conflict on every creating POST', () => {
  for (const c of CASES) {
    it(`${c.name}: same key and body → the first response again, one row; other body → 422, nothing written`, async () => {
      const key = newKey();
      const user = c.user();
      const first = await t.call<{ id: string }>('POST', c.url(), { ...keyed(key, user.token), body: c.body() });
      expect(first.status, JSON.stringify(first.body)).toBe(c.status);
      expect(replayed(first)).toBe(false);
      const second = await t.call<{ id: string }>('POST', c.url(), { ...keyed(key, user.token), body: c.body() });
      expect(second.status, JSON.stringify(second.body)).toBe(c.status);
      expect(second.body).toEqual(first.body);
      expect(replayed(second)).toBe(true);
      // The sf-string form of the same key is the same key.
      const quoted = await t.call<{ id: string }>('POST', c.url(), { ...keyed(`"${key}"`, user.token), body: c.body() });
      expect(quoted.body).toEqual(first.body);
      expect(await c.rows(first.body)).toBe(1);

      const other = await t.call('POST', c.otherUrl?.() ?? c.url(), { ...keyed(key, user.token), body: c.otherBody() });
      expectError(other, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(await c.rows(first.body)).toBe(1);
      // The same key on another route is another request too.
      const elsewhere = await t.call('POST', '/api/feed', { ...keyed(key, user.token), body: { content: `elsewhere ${c.name}` } });
      expectError(elsewhere, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(await count(`SELECT 1 FROM status_updates WHERE content = $1`, [`elsewhere ${c.name}`])).toBe(0);
    });
  }

  it('friend request: a body the route ignores is not part of the request (a retry with `{}` replays)', async () => {
    const [from, to] = await Promise.all([registerUser(t, 'idem_fr_a'), registerUser(t, 'idem_fr_b')]);
    const key = newKey();
    const first = await t.call('POST', `/api/social/friend-request/${to.id}`, keyed(key, from.token));
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    // Before: 422 IDEMPOTENCY_KEY_REUSED, the body was in the fingerprint.
    const retry = await t.call('POST', `/api/social/friend-request/${to.id}`, { ...keyed(key, from.token), body: {} });
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    expect(replayed(retry)).toBe(true);
    expect(retry.body).toEqual(first.body);
  });

  it('register: a replay is the same user with a NEW session token (tokens are never stored); a wrong password or other name is 422', async () => {
    const key = newKey();
    const body = { email: `idem_reg_${process.pid}@example.test`, username: `idem_reg_${process.pid}`, password: 'correct Horse 42' };
    const first = await t.call<AuthBody>('POST', '/api/auth/register', { ...keyed(key), body });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await t.call<AuthBody>('POST', '/api/auth/register', { ...keyed(key), body });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(replayed(again)).toBe(true);
    expect(again.body.user).toEqual(first.body.user);
    expect(again.body.token).not.toBe(first.body.token);
    for (const token of [first.body.token, again.body.token]) {
      const session = await t.call<{ user: { id: string } }>('GET', '/api/auth/session', { token });
      expect(session.body.user.id).toBe(first.body.user.id);
    }
    expectError(await t.call('POST', '/api/auth/register', { ...keyed(key), body: { ...body, password: 'another Horse 43' } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expectError(await t.call('POST', '/api/auth/register', { ...keyed(key), body: { ...body, username: `${body.username}x` } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    // Without the key, the same body is today's duplicate: 409.
    expectError(await t.call('POST', '/api/auth/register', { body }), 409, 'EMAIL_TAKEN');
    expect(await count(`SELECT 1 FROM users WHERE lower(email) = $1`, [body.email])).toBe(1);
    // The record holds neither the token nor anything derived from the password.
    const stored = await sql<{ response: Record<string, unknown> }>(`SELECT response FROM idempotency_keys WHERE key = $1`, [key]);
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored[0]?.response)).not.toContain(first.body.token);
    expect(Object.keys(stored[0]?.response ?? {}).sort()).toEqual(['expires_at', 'user']);
  });
});

describe('Idempotency-Key: rules around the replay', () => {
  it('no key keeps today\'s behaviour: two identical posts are two posts', async () => {
    const content = `twice without a key ${newKey()}`;
    for (let i = 0; i < 2; i++) expect((await t.call('POST', '/api/feed', { token: alice.token, body: { content } })).status).toBe(201);
    expect(await count(`SELECT 1 FROM status_updates WHERE content = $1`, [content])).toBe(2);
  });

  it('a malformed key is 400 IDEMPOTENCY_KEY_INVALID and writes nothing', async () => {
    const content = `bad key ${newKey()}`;
    for (const bad of ['short', 'has spaces in it', 'x'.repeat(256)]) {
      expectError(await t.call('POST', '/api/feed', { ...keyed(bad, alice.token), body: { content } }), 400, 'IDEMPOTENCY_KEY_INVALID');
    }
    expect(await count(`SELECT 1 FROM status_updates WHERE content = $1`, [content])).toBe(0);
  });

  it('keys are per user: the same key from two users is two independent requests', async () => {
    const key = newKey();
    const a = await t.call<{ id: string; author: { id: string } }>('POST', '/api/feed', { ...keyed(key, alice.token), body: { content: 'same key, alice' } });
    const b = await t.call<{ id: string; author: { id: string } }>('POST', '/api/feed', { ...keyed(key, bob.token), body: { content: 'same key, bob' } });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect([replayed(a), replayed(b)]).toEqual([false, false]);
    expect(a.body.author.id).toBe(alice.id);
    expect(b.body.author.id).toBe(bob.id);
    expect(await sql(`SELECT scope FROM idempotency_keys WHERE key = $1 ORDER BY scope`, [key])).toEqual(
      [{ scope: alice.id }, { scope: bob.id }].sort((x, y) => x.scope.localeCompare(y.scope)),
    );
  });

  it('a refused write records nothing: the same key runs again once the request can succeed', async () => {
    const key = newKey();
    // carol is not a member of alice and bob's conversation.
    expectError(await t.call('POST', `/api/chat/conversations/${conversationId}/messages`, { ...keyed(key, carol.token), body: { content: 'not mine' } }), 403, 'FORBIDDEN');
    expect(await count(`SELECT 1 FROM idempotency_keys WHERE key = $1`, [key])).toBe(0);
    const ok = await t.call('POST', '/api/feed', { ...keyed(key, carol.token), body: { content: 'after a refusal' } });
    expect(ok.status).toBe(201);
    expect(replayed(ok)).toBe(false);
  });

  it(`expiry: a record older than ${KEY_TTL_HOURS} h is ignored and its key reusable; the job deletes exactly the expired ones`, async () => {
    const oldKey = newKey();
    const liveKey = newKey();
    const first = await t.call<{ id: string }>('POST', '/api/feed', { ...keyed(oldKey, alice.token), body: { content: 'expiring' } });
    expect(first.status).toBe(201);
    expect((await t.call('POST', '/api/feed', { ...keyed(liveKey, alice.token), body: { content: 'still live' } })).status).toBe(201);
    await sql(`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2) - interval '1 minute' WHERE key = $1`, [oldKey, KEY_TTL_HOURS]);

    // Past the TTL the key is free again: a different body is a new request, not 422.
    const reuse = await t.call<{ id: string }>('POST', '/api/feed', { ...keyed(oldKey, alice.token), body: { content: 'expired key reused' } });
    expect(reuse.status, JSON.stringify(reuse.body)).toBe(201);
    expect(replayed(reuse)).toBe(false);
    expect(reuse.body.id).not.toBe(first.body.id);
    // ...and it now holds the new record.
    const again = await t.call<{ id: string }>('POST', '/api/feed', { ...keyed(oldKey, alice.token), body: { content: 'expired key reused' } });
    expect(replayed(again)).toBe(true);
    expect(again.body.id).toBe(reuse.body.id);

    // The job: three aged records go (in batches of 2), the live one stays.
    const doomed = [newKey(), newKey(), newKey()];
    for (const k of doomed) expect((await t.call('POST', '/api/feed', { ...keyed(k, bob.token), body: { content: `doomed ${k}` } })).status).toBe(201);
    await sql(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = ANY($1)`, [doomed]);
    const before = await count(`SELECT 1 FROM idempotency_keys`, []);
    const deleted = await expireIdempotencyKeys(new IdempotencyRepository(t.rt.deps.db), KEY_TTL_HOURS, undefined, 2);
    expect(deleted, 'deleted in batches of 2').toBe(3);
    expect(await count(`SELECT 1 FROM idempotency_keys`, [])).toBe(before - 3);
    expect(await count(`SELECT 1 FROM idempotency_keys WHERE key = ANY($1)`, [doomed])).toBe(0);
    expect(await count(`SELECT 1 FROM idempotency_keys WHERE key = $1`, [liveKey])).toBe(1);
  });
});

describe('Idempotency-Key: duplicates racing on one key (real PostgreSQL, concurrent requests)', () => {
  const RACERS = 12;

  it(`${RACERS} identical sends at once: one message, every answer the same body, all but one replayed`, async () => {
    for (let round = 0; round < 3; round++) {
      const key = newKey();
      const content = `race ${round} ${key}`;
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: RACERS }, () =>
        t.call<{ id: string }>('POST', `/api/chat/conversations/${conversationId}/messages`, { ...keyed(key, alice.token), body: { content } })));
      console.log(`race round ${round}: ${RACERS} concurrent requests answered in ${Date.now() - started} ms`);
      expect(answers.map((a) => a.status), JSON.stringify(answers.map((a) => a.body))).toEqual(Array(RACERS).fill(201));
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      expect(answers.filter((a) => !replayed(a))).toHaveLength(1);
      expect(await count(`SELECT 1 FROM messages WHERE conversation_id = $1 AND content = $2`, [conversationId, content])).toBe(1);
    }
  });

  it('racing registrations with one key: one user, every answer that user; racing opens of one conversation: one conversation', async () => {
    const key = newKey();
    const body = { email: `idem_race_${process.pid}@example.test`, username: `idem_race_${process.pid}`, password: 'correct Horse 42' };
    const regs = await Promise.all(Array.from({ length: 6 }, () => t.call<AuthBody>('POST', '/api/auth/register', { ...keyed(key), body })));
    expect(regs.map((r) => r.status), JSON.stringify(regs.map((r) => r.body))).toEqual(Array(6).fill(201));
    expect(new Set(regs.map((r) => r.body.user.id)).size).toBe(1);
    expect(regs.filter((r) => !replayed(r))).toHaveLength(1);
    expect(await count(`SELECT 1 FROM users WHERE lower(email) = $1`, [body.email])).toBe(1);
    const dave = regs[0]?.body as AuthBody;

    const openKey = newKey();
    const opens = await Promise.all(Array.from({ length: 6 }, () =>
      t.call<{ id: string; created: boolean }>('POST', '/api/chat/conversations', { ...keyed(openKey, dave.token), body: { recipient_id: bob.id } })));
    expect(opens.map((o) => o.status), JSON.stringify(opens.map((o) => o.body))).toEqual(Array(6).fill(201));
    expect(opens.every((o) => o.body.created)).toBe(true);
    expect(new Set(opens.map((o) => o.body.id)).size).toBe(1);
    expect(await count(`SELECT 1 FROM conversations WHERE user_low = LEAST($1::uuid, $2::uuid) AND user_high = GREATEST($1::uuid, $2::uuid)`, [dave.user.id, bob.id])).toBe(1);
  });
});
