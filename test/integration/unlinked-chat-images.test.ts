import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleUnlinkedChatImages } from '../../src/jobs/unlinked-chat-images.job.ts';
import { ChatImageRepository } from '../../src/repositories/chat-images.repository.ts';
import { registerUser, startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * The chat_images.unlinked job (src/jobs/unlinked-chat-images.job.ts) on real PostgreSQL: an old
 * image whose message was never linked is linked to the message that names it (its sender's, in
 * its conversation or room), or deleted when there is none; linked images and young ones are
 * left alone. Before the job such rows stayed for good.
 */
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp('unlinked_images', { BGC_CACHE_WARM_COUNT: '0' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query<T>(text, params)).rows;
  } finally {
    await admin.end();
  }
}

/** An image row as an upload leaves it before the link, `ageS` seconds old by the database's clock. */
async function imageRow(where: { conversation?: string; room?: string }, uploader: string, ageS: number): Promise<string> {
  const id = crypto.randomUUID();
  await sql(`INSERT INTO chat_images (id, conversation_id, room_id, uploader_id, content_type, bytes, width, height, thumb_bytes, created_at)
             VALUES ($1, $2, $3, $4, 'image/jpeg', 100, 4, 3, 10, now() - make_interval(secs => $5))`, [id, where.conversation ?? null, where.room ?? null, uploader, ageS]);
  return id;
}

describe('unlinked chat images', () => {
  it('links an old image to the message that names it, deletes one without a message, and leaves the rest', async () => {
    const [a, b, c] = await Promise.all([registerUser(t, 'ul_a'), registerUser(t, 'ul_b'), registerUser(t, 'ul_c')]);
    const conv = (await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } })).body.id;
    const room = crypto.randomUUID();
    await sql(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'unlinked images')`, [room]);

    // Its message was written, but the answer (and so the link) was lost.
    const sent = await imageRow({ conversation: conv }, a.id, 30);
    const msg = await t.call<{ id: string; created_at: string }>('POST', `/api/chat/conversations/${conv}/messages`,
      { token: a.token, body: { content: `look\n/api/chat/images/${sent}` } });
    expect(msg.status).toBe(201);
    const inRoom = await imageRow({ room }, c.id, 30);
    const roomMsg = await t.call<{ id: string }>('POST', `/api/chat/rooms/${room}/messages`, { token: c.token, body: { content: `/api/chat/images/${inRoom}` } });
    expect(roomMsg.status).toBe(201);
    // Never announced: its message failed.
    const lost = await imageRow({ conversation: conv }, a.id, 30);
    // Named by someone else's message only: not its announcement.
    const quoted = await imageRow({ conversation: conv }, b.id, 30);
    expect((await t.call('POST', `/api/chat/conversations/${conv}/messages`, { token: a.token, body: { content: `/api/chat/images/${quoted}` } })).status).toBe(201);
    // Young: its upload may still be under way.
    const young = await imageRow({ conversation: conv }, a.id, 0);
    // Older than a week: its message may be in an archived month, so it is left alone.
    const old = await imageRow({ conversation: conv }, a.id, 8 * 86_400);

    // Batches of 2, so the job runs several statements.
    const done = await settleUnlinkedChatImages(new ChatImageRepository(t.rt.deps.db), 10, undefined, 2);
    expect(done).toEqual({ linked: 2, deleted: 2 });
    const rows = await sql<{ id: string; message_id: string | null }>('SELECT id, message_id FROM chat_images WHERE id = ANY($1::uuid[])', [[sent, inRoom, lost, quoted, young, old]]);
    const byId = new Map(rows.map((r) => [r.id, r.message_id]));
    expect(byId.get(sent)).toBe(msg.body.id);
    expect(byId.get(inRoom)).toBe(roomMsg.body.id);
    expect(byId.has(lost)).toBe(false);
    expect(byId.has(quoted)).toBe(false);
    expect(byId.get(young)).toBeNull();
    expect(byId.get(old)).toBeNull();
    // A second run finds nothing more to do.
    expect(await settleUnlinkedChatImages(new ChatImageRepository(t.rt.deps.db), 10)).toEqual({ linked: 0, deleted: 0 });
  });
});
