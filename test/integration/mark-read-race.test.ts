import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTimedId } from '../../src/services/ids.ts';
import { KEY_TTL_HOURS } from '../../src/services/idempotency.ts';
import { SEND_WINDOW } from '../../src/services/chat/send-window.ts';
import { messageBatchQueries } from '../../src/repositories/message-batch.repository.ts';
import { registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Marking a conversation read while a message to the reader is being committed
 * (chat.mark_read against chat.send_messages, real PostgreSQL). The read must leave the
 * member row consistent: an unread count of 0 only with last_read_at at or after the
 * conversation's last message. Before the fix, the read re-checked the member row that the
 * send had just updated but kept the conversation row of its snapshot: the new message was
 * counted as read while last_read_at stayed before it.
 */
let t: TestApp;
let probe: pg.Client;
let a: TestUser;
let b: TestUser;
let conversationId: string;

beforeAll(async () => {
  t = await startTestApp('mark_read_race');
  probe = await t.tdb.admin();
  [a, b] = [await registerUser(t, 'mrr_a'), await registerUser(t, 'mrr_b')];
  const opened = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
  expect(opened.status, JSON.stringify(opened.body)).toBe(201);
  conversationId = opened.body.id;
});

afterAll(async () => {
  await probe?.end();
  await t?.close();
});

/** The send statement's parameters for one message from `from` (no Idempotency-Key). */
function oneSend(from: TestUser, content: string): unknown[] {
  const { id, createdAt } = newTimedId();
  return [[conversationId], [from.id], [id], [content], [createdAt], [null], [null], [null], KEY_TTL_HOURS, SEND_WINDOW.maxAgeMs, SEND_WINDOW.maxLeadMs];
}

/** Polls until a backend other than the probe's waits on a lock, at most `ms`; returns how long it took. */
async function untilSomeoneWaitsOnALock(ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const { rows } = await probe.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
    if ((rows[0]?.n ?? 0) > 0) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`no backend waited on a lock within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('mark read against a concurrent send', () => {
  it('never counts a message committed during the read as read while last_read_at stays before it', async () => {
    // b has one unread message, so the read has something to change.
    const first = await t.call('POST', `/api/chat/conversations/${conversationId}/messages`, { token: a.token, body: { content: 'first' } });
    expect(first.status, JSON.stringify(first.body)).toBe(201);

    // A second message, its statement run but not yet committed: it holds the conversation and b's member row.
    const sender = await t.tdb.admin();
    try {
      await sender.query('BEGIN');
      await sender.query(messageBatchQueries.sendMany.text, oneSend(a, 'second'));
      const read = t.call<{ unread_count: number; last_read_at: string }>('POST', `/api/chat/conversations/${conversationId}/read`, { token: b.token });
      const waited = await untilSomeoneWaitsOnALock(10_000);
      console.log(`[mark-read-race] the read waited on the send's locks after ${waited} ms`);
      await sender.query('COMMIT');
      const res = await read;
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    } finally {
      await sender.end();
    }

    const { rows } = await probe.query<{ unread_count: number; last_read_at: Date; last_message_at: Date }>(
      `SELECT cm.unread_count, cm.last_read_at, c.last_message_at
       FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
       WHERE cm.conversation_id = $1 AND cm.user_id = $2`, [conversationId, b.id]);
    const row = rows[0];
    if (!row) throw new Error('no member row');
    // Either the read saw the second message (count 0, read up to it) or it did not (count 1).
    if (row.unread_count === 0) expect(row.last_read_at.getTime()).toBeGreaterThanOrEqual(row.last_message_at.getTime());
    else expect(row.unread_count).toBe(1);
  });
});
