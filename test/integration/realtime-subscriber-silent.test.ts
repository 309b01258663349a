import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { BlackholeProxy } from '../helpers/blackhole-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { RtClient } from '../helpers/realtime-client.ts';

/**
 * The instance's Redis subscriber connection goes silent without closing (a NAT or load
 * balancer forgot the idle flow): publishes still succeed on the command connection, but
 * nothing reaches the subscriber. Before: no error, no reconnect, no `resync`, for as long
 * as TCP keepalive took (hours); every socket of the instance heard nothing. Now the
 * subscriber is PINGed, dropped when it does not answer, and its sockets get `resync`.
 */
let tdb: TestDatabase;
let rt: Runtime | undefined;
let proxy: BlackholeProxy;
const sockets: RtClient[] = [];

async function call<T>(method: 'POST', url: string, opts: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (!rt) throw new Error('closed');
  const res = await rt.app.inject({ method, url, headers, payload: JSON.stringify(opts.body ?? {}) });
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_silent');
  const redis = new URL(tdb.config().redis.url);
  proxy = new BlackholeProxy({ host: redis.hostname, port: Number(redis.port) });
  const port = await proxy.listen();
  rt = await startRuntime(tdb.config({ REDIS_URL: `redis://127.0.0.1:${port}`, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_COUNT: '0' }));
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await rt?.close();
  await proxy?.close();
  await tdb?.drop();
});

describe('a silent Redis subscriber connection', () => {
  it('is noticed, reconnected, and its sockets told to resync; sync then finds what was missed', async () => {
    const users: Array<{ id: string; token: string }> = [];
    for (const name of ['silent_sender', 'silent_reader']) {
      const username = `${name}_${process.pid}`;
      const res = await call<{ token: string; user: { id: string } }>('POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
      expect(res.status).toBe(201);
      users.push({ id: res.body.user.id, token: res.body.token });
    }
    const [sender, reader] = users as [{ id: string; token: string }, { id: string; token: string }];
    const conv = (await call<{ id: string }>('POST', '/api/chat/conversations', { token: sender.token, body: { recipient_id: reader.id } })).body.id;
    if (!rt) throw new Error('closed');
    const socket = await RtClient.ready(rt.ports.api, reader.token);
    sockets.push(socket);
    const room = crypto.randomUUID();
    const admin = await tdb.admin();
    try {
      await admin.query('INSERT INTO chat_rooms (id, name) VALUES ($1, $2)', [room, `silent room ${process.pid}`]);
    } finally {
      await admin.end();
    }
    socket.send({ type: 'join', room_id: room, request_id: 'j' });
    await socket.waitFor((e) => e.type === 'joined', 3_000);
    const send = async (content: string) => {
      const r = await call<{ id: string }>('POST', `/api/chat/conversations/${conv}/messages`, { token: sender.token, body: { content } });
      expect(r.status).toBe(201);
      return r.body.id;
    };
    const first = await send('before the silence');
    await socket.waitFor((e) => e.type === 'message' && (e.message as { id: string }).id === first, 3_000);

    expect(proxy.silenceSubscribers(), 'subscriber connections silenced').toBeGreaterThanOrEqual(1);
    const t0 = performance.now();
    const missed = await send('while the subscriber is silent');
    const missedInRoom = await call<{ id: string }>('POST', `/api/chat/rooms/${room}/messages`, { token: sender.token, body: { content: 'room, while silent' } });
    expect(missedInRoom.status).toBe(201);
    // Two PINGs in a row without an answer (5 s apart, 3 s each) drop it: about 8–16 s.
    const resync = await socket.waitFor((e) => e.type === 'resync', 40_000);
    console.log(`resync (${String(resync.reason)}) reached the client ${(performance.now() - t0).toFixed(0)} ms after the subscriber went silent`);

    socket.send({ type: 'sync', request_id: 'after-silence', since: first });
    const page = await socket.waitFor((e) => e.type === 'sync' && e.request_id === 'after-silence', 5_000);
    expect((page.items as Array<{ id: string }>).map((m) => m.id)).toContain(missed);
    // The joined room is named in a resync of its own (before: only the one without room_id,
    // which the documented client answers by syncing direct messages).
    const roomResync = await socket.waitFor((e) => e.type === 'resync' && e.room_id === room, 2_000);
    expect(roomResync.reason).toBe(resync.reason);
    socket.send({ type: 'sync', room_id: room, request_id: 'room-after-silence', since: first });
    const roomPage = await socket.waitFor((e) => e.type === 'sync' && e.request_id === 'room-after-silence', 5_000);
    expect((roomPage.items as Array<{ id: string }>).map((m) => m.id)).toContain(missedInRoom.body.id);
    // Live delivery works again on the new subscriber connection.
    const after = await send('after the reconnect');
    await socket.waitFor((e) => e.type === 'message' && (e.message as { id: string }).id === after, 5_000);

    // Shutting down with silent subscribers (the cache bus's too) ends: its UNSUBSCRIBEs
    // waited for a reply that never came, and the instance never finished closing.
    expect(proxy.silenceSubscribers()).toBeGreaterThanOrEqual(1);
    const closing = rt;
    rt = undefined;
    const c0 = performance.now();
    await closing.close();
    const closeMs = performance.now() - c0;
    console.log(`closed in ${closeMs.toFixed(0)} ms with its subscribers silent`);
    expect(closeMs).toBeLessThan(15_000);
  }, 90_000);
});
