import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { eventually, RtClient, type RtEvent } from '../helpers/realtime-client.ts';

/**
 * Moderation and the real-time layer (issue 20): what a moderator hid, and what a
 * suspended account wrote, is not delivered over /api/realtime to anyone else: `sync`
 * leaves it out, and a message a suspended account still manages to send (its request
 * was past authentication when the suspension committed) is not pushed.
 */
let tdb: TestDatabase;
let rt: Runtime;
let mod: User;
const sockets: RtClient[] = [];

interface Res<T> { status: number; body: T; lsn: string | undefined }
async function call<T>(method: 'GET' | 'POST', url: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await rt.app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}) });
  const lsn = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T, lsn: typeof lsn === 'string' ? lsn : undefined };
}

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const admin = await tdb.admin();
  try {
    return (await admin.query<T>(text, params)).rows;
  } finally {
    await admin.end();
  }
}

interface User { id: string; token: string; email: string }
let seq = 0;
async function register(prefix: string): Promise<User> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const email = `${username}@example.test`;
  const res = await call<{ token: string; user: { id: string } }>('POST', '/api/auth/register', { body: { email, username, password: 'correct Horse 42' } });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token, email };
}

async function connect(user: User): Promise<RtClient> {
  const c = await RtClient.ready(rt.ports.api, user.token);
  sockets.push(c);
  return c;
}

interface Msg { id: string; created_at: string }
async function send(from: User, conversationId: string, content: string): Promise<Msg> {
  const res = await call<Msg>('POST', `/api/chat/conversations/${conversationId}/messages`, { token: from.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Files a report and resolves its case as the moderator; returns the resolution. */
async function moderate(reporter: User, targetType: string, targetId: string, action: 'hide' | 'suspend'): Promise<Record<string, unknown>> {
  expect((await call('POST', '/api/moderation/reports', { token: reporter.token, body: { target_type: targetType, target_id: targetId, reason: 'spam' } })).status).toBe(201);
  const found = await sql<{ id: string }>('SELECT id FROM moderation_cases WHERE target_id = $1', [targetId]);
  const res = await call<Record<string, unknown>>('POST', `/api/moderation/cases/${found[0]?.id ?? ''}/resolve`, { token: mod.token, body: { action } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Every item a `sync` from `since` returns (all pages). */
async function syncAll(c: RtClient, since: string, roomId?: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const requestId = crypto.randomUUID();
    c.send({ type: 'sync', request_id: requestId, ...(cursor ? { cursor } : { since }), ...(roomId ? { room_id: roomId } : {}) });
    const e = await c.waitFor((x: RtEvent) => x.type === 'sync' && x.request_id === requestId, 5_000);
    ids.push(...(e.items as Array<{ id: string }>).map((i) => i.id));
    cursor = e.next_cursor as string | null;
    if (!cursor) break;
  }
  return ids;
}

function droppedSuspended(): Promise<number> {
  return rt.deps.metrics.registry.getSingleMetric('bgc_realtime_events_dropped_total')?.get()
    .then((m) => m.values.filter((v) => v.labels.reason === 'sender_suspended').reduce((a, v) => a + v.value, 0)) ?? Promise.resolve(0);
}

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_mod');
  rt = await startRuntime(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_COUNT: '0' }));
  const m = await register('rtm_mod');
  await sql('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
  // A fresh session, so no cached session of the moderator predates the flag.
  const login = await call<{ token: string }>('POST', '/api/auth/login', { body: { email: m.email, password: 'correct Horse 42' } });
  expect(login.status).toBe(200);
  mod = { ...m, token: login.body.token };
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  await rt?.close();
  await tdb?.drop();
});

describe('moderation and real-time delivery', () => {
  it('a hidden direct or room message is not returned by sync', async () => {
    const [a, b] = await Promise.all([register('rtm_a'), register('rtm_b')]);
    const conv = await call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    const first = await send(a, conv.body.id, 'before');
    const bad = await send(a, conv.body.id, 'hide this');
    const after = await send(a, conv.body.id, 'after');
    const roomId = crypto.randomUUID();
    await sql(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'rtm room')`, [roomId]);
    const roomMsgs: Msg[] = [];
    for (const content of ['room before', 'room hide this', 'room after']) {
      const r = await call<Msg>('POST', `/api/chat/rooms/${roomId}/messages`, { token: a.token, body: { content } });
      expect(r.status).toBe(201);
      roomMsgs.push(r.body);
    }
    const bc = await connect(b);
    expect(await syncAll(bc, first.id)).toEqual(expect.arrayContaining([bad.id, after.id]));
    expect(await syncAll(bc, roomMsgs[0]?.id ?? '', roomId)).toEqual(expect.arrayContaining([roomMsgs[1]?.id, roomMsgs[2]?.id]));

    expect(await moderate(b, 'message', bad.id, 'hide')).toMatchObject({ hidden: true });
    expect(await moderate(b, 'message', roomMsgs[1]?.id ?? '', 'hide')).toMatchObject({ hidden: true });
    const direct = await syncAll(bc, first.id);
    expect(direct).toContain(after.id);
    expect(direct).not.toContain(bad.id);
    const room = await syncAll(bc, roomMsgs[0]?.id ?? '', roomId);
    expect(room).toContain(roomMsgs[2]?.id);
    expect(room).not.toContain(roomMsgs[1]?.id);
  });

  it("a deactivated room's messages are not returned by sync, as its REST history answers 404", async () => {
    const [a, b] = await Promise.all([register('rtm_room_a'), register('rtm_room_b')]);
    const roomId = crypto.randomUUID();
    await sql(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'rtm closing room')`, [roomId]);
    const msgs: Msg[] = [];
    for (const content of ['first', 'second']) {
      const r = await call<Msg>('POST', `/api/chat/rooms/${roomId}/messages`, { token: a.token, body: { content } });
      expect(r.status).toBe(201);
      msgs.push(r.body);
    }
    const bc = await connect(b);
    expect(await syncAll(bc, msgs[0]?.id ?? '', roomId)).toContain(msgs[1]?.id);
    await sql('UPDATE chat_rooms SET is_active = false WHERE id = $1', [roomId]);
    expect((await call('GET', `/api/chat/rooms/${roomId}/history`, { token: b.token })).status).toBe(404);
    // Before: sync still returned the room's messages.
    expect(await syncAll(bc, msgs[0]?.id ?? '', roomId)).toEqual([]);
  });

  it("a suspended account's messages are neither synced nor pushed, and its own socket closes", async () => {
    const [a, b, c] = await Promise.all([register('rtm_sa'), register('rtm_sb'), register('rtm_sc')]);
    const conv = await call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    const convC = await call<{ id: string }>('POST', '/api/chat/conversations', { token: c.token, body: { recipient_id: b.id } });
    const [ac, bc] = await Promise.all([connect(a), connect(b)]);
    const before = await send(c, convC.body.id, 'marker before');
    const live = await send(a, conv.body.id, 'pushed while active');
    await bc.waitFor((e) => e.type === 'message' && (e.message as { id: string }).id === live.id, 5_000);

    const started = performance.now();
    expect(await moderate(b, 'profile', a.id, 'suspend')).toMatchObject({ suspended: true });
    const closed = await ac.waitClosed(5_000);
    console.log(`[realtime-moderation] suspended account's socket closed with ${closed.code} after ${(performance.now() - started).toFixed(0)} ms`);
    expect(closed.code).toBe(4003);

    // A send that was already past authentication when the suspension committed.
    const dropsBefore = await droppedSuspended();
    const late = await rt.deps.services.conversations.send(conv.body.id, a.id, 'sent by a suspended account');
    const waited = await eventually(async () => (await droppedSuspended()) > dropsBefore, 5_000, 'the late message counted as dropped');
    const marker = await send(c, convC.body.id, 'marker after');
    await bc.waitFor((e) => e.type === 'message' && (e.message as { id: string }).id === marker.id, 5_000);
    console.log(`[realtime-moderation] late message of the suspended account dropped after ${waited.toFixed(0)} ms`);
    expect(bc.events.some((e) => e.type === 'message' && (e.message as { id: string }).id === late.value.id)).toBe(false);

    const synced = await syncAll(bc, before.id);
    expect(synced).toContain(marker.id);
    expect(synced).not.toContain(live.id);
    expect(synced).not.toContain(late.value.id);
  });
});
