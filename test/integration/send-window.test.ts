import crypto from 'node:crypto';
import type pg from 'pg';
import { UUID, uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationRepository } from '../../src/repositories/conversations.repository.ts';
import { RoomRepository } from '../../src/repositories/chat-rooms.repository.ts';
import { ConversationService } from '../../src/services/chat/conversations.service.ts';
import { RoomService } from '../../src/services/chat/rooms.service.ts';
import { WriteHooks } from '../../src/services/hooks.ts';
import type { IdempotencyKey } from '../../src/services/idempotency.ts';
import type { TimedId } from '../../src/services/ids.ts';
import { codeOf, inGroups } from '../helpers/group-commit.ts';
import { registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * The send window (src/services/chat/send-window.ts) on real PostgreSQL. A message's id and
 * created_at are made in the app before the send waits for anything, and `sync` reaches back
 * only SINCE_MARGIN_MS (src/realtime/sync.ts), so the insert statements must refuse a message
 * whose time PostgreSQL's clock finds too old (the send waited too long) or too far ahead (its
 * host's clock runs fast). A refused send stores nothing (no message, no Idempotency-Key record)
 * and gets a retryable 503; a send inside the window is stored as before.
 *
 * The services here are the app's own, on the test app's pools, with one dependency swapped:
 * the id maker (`timedId`), which dates each send by an offset the test chooses, as if the send
 * had waited that long (or its host's clock were off) between its id and its statement.
 */
/** Older than SEND_MAX_AGE_MS (15 s): a send that waited this long before its statement. */
const STALE_MS = 20_000;
/** Further ahead than SEND_MAX_LEAD_MS (2 s): a host whose clock runs this fast. */
const AHEAD_MS = 10_000;

let t: TestApp;
let probe: pg.Client;
let a: TestUser;
let b: TestUser;
let conversationId: string;
let roomId: string;
let chat: ConversationService;
let rooms: RoomService;
/** Offsets (ms from now) for the next sends' ids, in order; a send without one is dated now. */
const offsets: number[] = [];

/** A UUIDv7 (and its time) at `ms`, as newTimedId makes them. */
function timedIdAt(ms: number): TimedId {
  const r = crypto.randomBytes(10);
  const id = UUID.fromFieldsV7(ms, r.readUInt16BE(0) & 0xfff, r.readUInt32BE(2) & 0x3fffffff, r.readUInt32BE(6)).toString();
  return { id, createdAt: new Date(ms).toISOString() };
}

const datedId = (): TimedId => timedIdAt(Date.now() + (offsets.shift() ?? 0));

async function count(text: string, params: unknown[]): Promise<number> {
  const { rows } = await probe.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${text}) q`, params);
  return rows[0]?.n ?? -1;
}

const messagesWithId = (id: string): Promise<number> => count('SELECT 1 FROM messages WHERE id = $1', [id]);
const messagesWith = (content: string): Promise<number> => count('SELECT 1 FROM messages WHERE content = $1', [content]);
const keyRecords = (key: IdempotencyKey): Promise<number> => count('SELECT 1 FROM idempotency_keys WHERE scope = $1 AND key = $2', [key.scope, key.key]);

function keyOf(user: TestUser, content: string): IdempotencyKey {
  return { scope: user.id, key: `send-window-${uuidv7()}`, fingerprint: crypto.createHash('sha256').update(content).digest() };
}

/** What a send ended with: its error, or 'stored'. */
const outcome = (send: Promise<unknown>): Promise<unknown> => send.then(() => 'stored', (e: unknown) => e);

/** The send's outcome must be the retryable 503 that stored nothing. */
function expectUntimely(result: unknown): void {
  expect(result, 'the send was stored').not.toBe('stored');
  expect({ code: codeOf(result), status: (result as { status?: unknown }).status }).toEqual({ code: 'SEND_UNTIMELY', status: 503 });
}

beforeAll(async () => {
  t = await startTestApp('send_window');
  probe = await t.tdb.admin();
  [a, b] = [await registerUser(t, 'sw_a'), await registerUser(t, 'sw_b')];
  const opened = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
  expect(opened.status, JSON.stringify(opened.body)).toBe(201);
  conversationId = opened.body.id;
  roomId = uuidv7();
  await probe.query(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'send window')`, [roomId]);
  const { config, db, logger } = t.rt.deps;
  const hooks = new WriteHooks();
  chat = new ConversationService({ config, db, logger, conversations: new ConversationRepository(db), hooks, timedId: datedId });
  rooms = new RoomService({ config, db, logger, rooms: new RoomRepository(db), hooks, timedId: datedId });
});
afterAll(async () => {
  await probe?.end();
  await t?.close();
});

describe('a message is stored only inside the send window (real PostgreSQL)', () => {
  it('direct message: a stale member of a group is refused with a retryable 503 and stores nothing; the member beside it is stored', async () => {
    const before = await probe.query<{ unread: number }>('SELECT unread_count AS unread FROM conversation_members WHERE conversation_id = $1 AND user_id = $2', [conversationId, b.id]);
    const staleKey = keyOf(a, 'dm stale');
    offsets.push(-STALE_MS, 0);
    const [stale, fresh] = await inGroups(() => chat.sendGroups, 1, 2, () => Promise.all([
      outcome(chat.send(conversationId, a.id, 'dm stale', staleKey)),
      chat.send(conversationId, a.id, 'dm fresh'),
    ]));
    expectUntimely(stale);
    expect(await messagesWith('dm stale')).toBe(0);
    expect(await keyRecords(staleKey)).toBe(0);
    expect(await messagesWithId(fresh.value.id)).toBe(1);
    // Only the stored message counts: b's unread count rose by one, and it is the conversation's last.
    const after = await probe.query<{ unread: number; last: string }>(
      `SELECT cm.unread_count AS unread, c.last_message_id AS last FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
       WHERE cm.conversation_id = $1 AND cm.user_id = $2`, [conversationId, b.id]);
    expect(after.rows[0]).toEqual({ unread: (before.rows[0]?.unread ?? 0) + 1, last: fresh.value.id });

    // The client sends again with its key, now in time: stored once, a first write (no record held it).
    const retry = await chat.send(conversationId, a.id, 'dm stale', staleKey);
    expect(retry.replayed).toBe(false);
    expect(await messagesWith('dm stale')).toBe(1);
    expect(await keyRecords(staleKey)).toBe(1);
  });

  it('direct message: an id dated ahead of the database clock (a fast host clock) is refused the same way', async () => {
    offsets.push(AHEAD_MS);
    expectUntimely(await outcome(chat.send(conversationId, b.id, 'dm ahead')));
    expect(await messagesWith('dm ahead')).toBe(0);
  });

  it('room message: stale or ahead, keyed or not, refused with a retryable 503 and nothing stored; in the window, stored and replayed as before', async () => {
    const key = keyOf(a, 'room stale');
    offsets.push(-STALE_MS);
    expectUntimely(await outcome(rooms.send(roomId, a.id, 'room stale', key)));
    offsets.push(-STALE_MS);
    expectUntimely(await outcome(rooms.send(roomId, a.id, 'room stale unkeyed')));
    offsets.push(AHEAD_MS);
    expectUntimely(await outcome(rooms.send(roomId, a.id, 'room ahead')));
    expect(await count('SELECT 1 FROM messages WHERE room_id = $1', [roomId])).toBe(0);
    expect(await keyRecords(key)).toBe(0);

    const sent = await rooms.send(roomId, a.id, 'room stale', key);
    expect(sent.replayed).toBe(false);
    expect(sent.value).toMatchObject({ room_id: roomId, content: 'room stale', sender: { id: a.id, username: a.username } });
    expect(await messagesWithId(sent.value.id)).toBe(1);
    // Its key's record went in with it: the same key again replays the same message, one row.
    const again = await rooms.send(roomId, a.id, 'room stale', key);
    expect({ replayed: again.replayed, value: again.value }).toEqual({ replayed: true, value: sent.value });
    expect(await messagesWith('room stale')).toBe(1);
  });

  it('sends through the API are unaffected: 201, stored', async () => {
    const dm = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conversationId}/messages`, { token: a.token, body: { content: 'api dm' } });
    expect(dm.status, JSON.stringify(dm.body)).toBe(201);
    const room = await t.call<{ id: string }>('POST', `/api/chat/rooms/${roomId}/messages`, { token: b.token, body: { content: 'api room' } });
    expect(room.status, JSON.stringify(room.body)).toBe(201);
    expect([await messagesWithId(dm.body.id), await messagesWithId(room.body.id)]).toEqual([1, 1]);
  });
});
