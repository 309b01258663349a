import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser, startTestApp, type ApiResponse, type AuthBody, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Chat images (issue 20) on the real stack: sending an image in a conversation or a room
 * (the photo rules: type from the bytes, limits, EXIF stripped, thumbnail) announces it
 * with a message; only the conversation's members (anyone for a room, minus blocks) may
 * fetch it, with caching headers; a hidden message or a suspended uploader hides it; bad
 * uploads get a 4xx with a code and leave no file, no row and no message.
 */
let t: TestApp;
let dataDir: string;
let imageRoot: string;
let mod: TestUser;

interface ImageBody { id: string; conversation_id: string | null; room_id: string | null; uploader_id: string; content_type: string; width: number; height: number; bytes: number; url: string; thumb_url: string }
interface SentBody { image: ImageBody; message: { id: string; content: string; created_at: string } }

async function sendImage(u: TestUser, where: string, body: Buffer, contentType: string, caption?: string, key?: string): Promise<ApiResponse<SentBody>> {
  const url = `${where}/images${caption ? `?caption=${encodeURIComponent(caption)}` : ''}`;
  const headers = { authorization: `Bearer ${u.token}`, 'content-type': contentType, ...(key ? { 'idempotency-key': key } : {}) };
  const res = await t.app.inject({ method: 'POST', url, payload: body, headers });
  const lsn = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: JSON.parse(res.body) as SentBody, headers: res.headers, lsn: typeof lsn === 'string' ? lsn : undefined };
}

const get = (u: TestUser, url: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${u.token}`, ...headers } });

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query<T>(text, params)).rows;
  } finally {
    await admin.end();
  }
}

/** The primary's current WAL position: a read that sends it sees every write so far. */
async function caughtUp(): Promise<Record<string, string>> {
  const r = await sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return { 'x-bgc-lsn': r[0]?.lsn ?? '0/0' };
}

function filesOf(uploaderId: string): string[] {
  const dir = path.join(imageRoot, uploaderId);
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

async function countOf(table: 'chat_images' | 'messages', column: string, id: string): Promise<number> {
  return (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]))[0]?.n ?? -1;
}

async function conversation(a: TestUser, b: TestUser): Promise<string> {
  const res = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
  expect([200, 201]).toContain(res.status);
  return res.body.id;
}

async function room(): Promise<string> {
  const id = crypto.randomUUID();
  await sql(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'images room')`, [id]);
  return id;
}

async function moderate(reporter: TestUser, targetType: string, targetId: string, action: 'hide' | 'suspend'): Promise<void> {
  expect((await t.call('POST', '/api/moderation/reports', { token: reporter.token, body: { target_type: targetType, target_id: targetId, reason: 'spam' } })).status).toBe(201);
  const found = await sql<{ id: string }>('SELECT id FROM moderation_cases WHERE target_id = $1', [targetId]);
  const res = await t.call('POST', `/api/moderation/cases/${found[0]?.id ?? ''}/resolve`, { token: mod.token, body: { action } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

const jpeg = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#335577' } }).jpeg()
  .withExif({ IFD0: { Make: 'Phone' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '40/1 26/1 46/1', GPSLongitudeRef: 'W', GPSLongitude: '79/1 58/1 56/1' } }).toBuffer();

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-chat-images-'));
  t = await startTestApp('chat_images', { BGC_CACHE_WARM_COUNT: '0', BGC_DATA_DIR: dataDir });
  imageRoot = path.join(dataDir, 'chat-images');
  const m = await registerUser(t, 'ci_mod');
  await sql('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
  const login = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: m.email, password: m.password } });
  mod = { ...m, token: login.body.token };
}, 60_000);

afterAll(async () => {
  await t?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('images in a conversation', () => {
  it("are announced by a message, served to the members only with caching headers, without EXIF", async () => {
    const [a, b, c] = await Promise.all([registerUser(t, 'ci_a'), registerUser(t, 'ci_b'), registerUser(t, 'ci_c')]);
    const conv = await conversation(a, b);
    const res = await sendImage(a, `/api/chat/conversations/${conv}`, await jpeg(1600, 1200), 'image/png', 'look at this');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { image, message } = res.body;
    expect(image).toMatchObject({ conversation_id: conv, room_id: null, uploader_id: a.id, content_type: 'image/jpeg', width: 1600, height: 1200 });
    expect(message.content).toBe(`look at this\n${image.url}`);
    expect(filesOf(a.id)).toEqual([image.id, `${image.id}.thumb`].sort());

    const history = await t.call<PageBody<{ id: string; content: string }>>('GET', `/api/chat/conversations/${conv}/history`, { token: b.token, lsn: res.lsn });
    expect(history.body.items[0]).toMatchObject({ id: message.id, content: message.content });

    const file = await get(b, image.url, { 'x-bgc-lsn': res.lsn ?? '0/0' });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/jpeg');
    expect(file.headers['cache-control']).toBe('private, max-age=31536000, immutable');
    expect(file.rawPayload.length).toBe(image.bytes);
    const stored = await sharp(file.rawPayload).metadata();
    expect(stored.exif).toBeUndefined();
    // Still A's upload read by B: at its position (a lagging replica would answer 404, not 304).
    expect((await get(b, image.url, { 'if-none-match': String(file.headers.etag), 'x-bgc-lsn': res.lsn ?? '0/0' })).statusCode).toBe(304);
    const thumb = await get(a, image.thumb_url);
    expect(await sharp(thumb.rawPayload).metadata()).toMatchObject({ format: 'webp', width: 320, height: 320 });

    // Not a member: as if there were no such image.
    expect((await get(c, image.url, await caughtUp())).statusCode).toBe(404);
    expect((await get(c, image.thumb_url)).statusCode).toBe(404);
    expectError(await sendImage(c, `/api/chat/conversations/${conv}`, await jpeg(10, 10), 'image/jpeg'), 403, 'FORBIDDEN');
    expectError(await sendImage(c, `/api/chat/conversations/${crypto.randomUUID()}`, await jpeg(10, 10), 'image/jpeg'), 404, 'NOT_FOUND');

    // Only the uploader deletes; the row and both files go, the message stays.
    expectError(await t.call('DELETE', `/api/chat/images/${image.id}`, { token: b.token }), 404, 'NOT_FOUND');
    const del = await t.call<{ deleted: boolean }>('DELETE', `/api/chat/images/${image.id}`, { token: a.token });
    expect(del.body).toEqual({ id: image.id, deleted: true });
    expect(filesOf(a.id)).toEqual([]);
    expect((await get(b, image.url, { 'x-bgc-lsn': del.lsn ?? '0/0' })).statusCode).toBe(404);
    expect(await countOf('messages', 'conversation_id', conv)).toBe(1);
  });

  it('with an Idempotency-Key, a retry answers the first upload again and stores nothing; other bytes with the key are 422', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'ci_key_a'), registerUser(t, 'ci_key_b')]);
    const conv = await conversation(a, b);
    const key = `upload-${crypto.randomUUID()}`;
    const bytes = await jpeg(64, 48);
    const first = await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'once', key);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    // The client lost that answer and sends the same upload again (capitals in the path too).
    const retry = await sendImage(a, `/api/chat/conversations/${conv.toUpperCase()}`, bytes, 'image/jpeg', 'once', key);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(await countOf('chat_images', 'conversation_id', conv)).toBe(1);
    expect(await countOf('messages', 'conversation_id', conv)).toBe(1);
    expect(filesOf(a.id)).toEqual([first.body.image.id, `${first.body.image.id}.thumb`].sort());
    // Other bytes, or another caption, under the same key: a different request.
    expectError(await sendImage(a, `/api/chat/conversations/${conv}`, await jpeg(64, 49), 'image/jpeg', 'once', key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expectError(await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'twice', key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countOf('chat_images', 'conversation_id', conv)).toBe(1);
    expect(filesOf(a.id)).toHaveLength(2);
    // Rooms take the key the same way.
    const r = await room();
    const roomKey = `upload-${crypto.randomUUID()}`;
    const inRoom = await sendImage(b, `/api/chat/rooms/${r}`, bytes, 'image/jpeg', undefined, roomKey);
    expect(inRoom.status, JSON.stringify(inRoom.body)).toBe(201);
    const again = await sendImage(b, `/api/chat/rooms/${r}`, bytes, 'image/jpeg', undefined, roomKey);
    expect(again.body).toEqual(inRoom.body);
    expect(await countOf('chat_images', 'room_id', r)).toBe(1);
  });

  it('a keyed retry of a committed upload is answered from its record after a block or a closed room, not refused', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'ci_keyblk_a'), registerUser(t, 'ci_keyblk_b')]);
    const conv = await conversation(a, b);
    const key = `upload-${crypto.randomUUID()}`;
    const bytes = await jpeg(32, 24);
    const first = await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'before the block', key);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    // The answer was lost; meanwhile B blocked A. Before: 403 BLOCKED, as if nothing was sent.
    expect((await t.call('POST', `/api/social/block/${a.id}`, { token: b.token })).status).toBe(200);
    const retry = await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'before the block', key);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(await countOf('chat_images', 'conversation_id', conv)).toBe(1);
    expect(await countOf('messages', 'conversation_id', conv)).toBe(1);
    // A new upload across the block is still refused; so is another request under the key.
    expectError(await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'after the block', `upload-${crypto.randomUUID()}`), 403, 'BLOCKED');
    expectError(await sendImage(a, `/api/chat/conversations/${conv}`, bytes, 'image/jpeg', 'another caption', key), 422, 'IDEMPOTENCY_KEY_REUSED');

    const r = await room();
    const roomKey = `upload-${crypto.randomUUID()}`;
    const inRoom = await sendImage(b, `/api/chat/rooms/${r}`, bytes, 'image/jpeg', undefined, roomKey);
    expect(inRoom.status, JSON.stringify(inRoom.body)).toBe(201);
    await sql('UPDATE chat_rooms SET is_active = false WHERE id = $1', [r]);
    const again = await sendImage(b, `/api/chat/rooms/${r}`, bytes, 'image/jpeg', undefined, roomKey);
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toEqual(inRoom.body);
    expectError(await sendImage(b, `/api/chat/rooms/${r}`, bytes, 'image/jpeg'), 404, 'NOT_FOUND');
    expect(await countOf('chat_images', 'room_id', r)).toBe(1);
  });

  it('refuses bad uploads and blocked senders with a code, leaving no file, row or message', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'ci_bad_a'), registerUser(t, 'ci_bad_b')]);
    const conv = await conversation(a, b);
    const where = `/api/chat/conversations/${conv}`;
    const gif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#f00' } }).gif().toBuffer();
    expectError(await sendImage(a, where, gif, 'image/png'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await sendImage(a, where, Buffer.from('not an image at all'), 'image/webp'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await sendImage(a, where, Buffer.alloc(8 * 1024 * 1024 + 1, 0xff), 'image/jpeg'), 413, 'PAYLOAD_TOO_LARGE');
    const whole = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    expectError(await sendImage(a, where, whole.subarray(0, Math.floor(whole.length / 2)), 'image/jpeg'), 400, 'VALIDATION_FAILED');
    // A decompression bomb: a tiny PNG whose header claims 9000 × 9000 (sharp writes it, then the IHDR is edited).
    const bomb = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer());
    bomb.writeUInt32BE(9000, 16);
    bomb.writeUInt32BE(9000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
    expectError(await sendImage(a, where, bomb, 'image/png'), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await sendImage(a, where, await jpeg(10, 10), 'image/jpeg', 'x'.repeat(1001)), 400, 'VALIDATION_FAILED');
    // Refused before the image is stored (the fuzzer saw a NUL caption write an image row, then remove it).
    const nul = await sendImage(a, where, await jpeg(10, 10), 'image/jpeg', 'a\u0000b');
    expectError(nul, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(nul.body)).toContain('caption must not contain');

    expect((await t.call('POST', `/api/social/block/${a.id}`, { token: b.token })).status).toBe(200);
    expectError(await sendImage(a, where, await jpeg(10, 10), 'image/jpeg'), 403, 'BLOCKED');

    expect(filesOf(a.id)).toEqual([]);
    expect(await countOf('chat_images', 'uploader_id', a.id)).toBe(0);
    expect(await countOf('messages', 'conversation_id', conv)).toBe(0);
  });

  it('a hidden message hides its image; a suspended uploader hides all of theirs', async () => {
    const [a, b, r] = await Promise.all([registerUser(t, 'ci_h_a'), registerUser(t, 'ci_h_b'), registerUser(t, 'ci_h_r')]);
    const conv = await conversation(a, b);
    const first = await sendImage(a, `/api/chat/conversations/${conv}`, await jpeg(40, 40), 'image/jpeg');
    const second = await sendImage(a, `/api/chat/conversations/${conv}`, await jpeg(50, 50), 'image/jpeg');
    const roomId = await room();
    const inRoom = await sendImage(a, `/api/chat/rooms/${roomId}`, await jpeg(60, 60), 'image/jpeg');
    for (const s of [first, second, inRoom]) expect(s.status, JSON.stringify(s.body)).toBe(201);
    const lsn = await caughtUp();
    expect((await get(b, first.body.image.url, lsn)).statusCode).toBe(200);
    expect((await get(r, inRoom.body.image.url, lsn)).statusCode).toBe(200);

    await moderate(b, 'message', first.body.message.id, 'hide');
    expect((await get(b, first.body.image.url, await caughtUp())).statusCode).toBe(404);
    expect((await get(b, second.body.image.url)).statusCode).toBe(200);

    await moderate(b, 'profile', a.id, 'suspend');
    const after = await caughtUp();
    expect((await get(b, second.body.image.url, after)).statusCode).toBe(404);
    expect((await get(r, inRoom.body.image.url, after)).statusCode).toBe(404);
  });
});

describe('images in a room', () => {
  it('are seen by anyone signed in except across a block, and need an active room', async () => {
    const [a, b, c] = await Promise.all([registerUser(t, 'ci_r_a'), registerUser(t, 'ci_r_b'), registerUser(t, 'ci_r_c')]);
    const roomId = await room();
    const res = await sendImage(a, `/api/chat/rooms/${roomId}`, await sharp({ create: { width: 300, height: 100, channels: 4, background: '#ffffff80' } }).png().toBuffer(), 'image/png');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.image).toMatchObject({ room_id: roomId, conversation_id: null, content_type: 'image/png', width: 300, height: 100 });
    expect(res.body.message.content).toBe(res.body.image.url);
    const lsn = await caughtUp();
    expect((await get(b, res.body.image.url, lsn)).statusCode).toBe(200);
    expect((await t.call('POST', `/api/social/block/${a.id}`, { token: c.token })).status).toBe(200);
    expect((await get(c, res.body.image.url, await caughtUp())).statusCode).toBe(404);

    expectError(await sendImage(a, `/api/chat/rooms/${crypto.randomUUID()}`, await jpeg(10, 10), 'image/jpeg'), 404, 'NOT_FOUND');
    await sql('UPDATE chat_rooms SET is_active = false WHERE id = $1', [roomId]);
    expectError(await sendImage(a, `/api/chat/rooms/${roomId}`, await jpeg(10, 10), 'image/jpeg'), 404, 'NOT_FOUND');
    expect((await get(b, res.body.image.url, await caughtUp())).statusCode).toBe(404);
    expect(await countOf('chat_images', 'room_id', roomId)).toBe(1);
  });
});

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
