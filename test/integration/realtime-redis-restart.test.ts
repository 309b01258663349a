import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { RedisNode } from '../../src/tools/stack/redis-node.ts';
import { freePort } from '../helpers/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { RtClient, type RtEvent } from '../helpers/realtime-client.ts';
import { RESYNC_SLICE, RESYNC_SPACING_MS } from '../../src/realtime/hub.ts';

/**
 * Issue 19, "Redis restarted mid-run": two instances on a PRIVATE redis-server (stopping it
 * disturbs no other test). Messages sent while Redis is down are not pushed (the publish
 * fails and is counted, and its recipients get a `resync` once publishing works again);
 * when the subscriber is back every socket gets `resync` too, and a
 * client that then asks `sync` since the newest message it holds ends with exactly the
 * database's messages: nothing lost, nothing twice.
 */
let tdb: TestDatabase;
let redis: RedisNode;
let dir: string;
let A: Runtime;
let B: Runtime;
const sockets: RtClient[] = [];

async function call<T>(rt: Runtime, method: 'GET' | 'POST', url: string, opts: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await rt.app.inject({ method, url, headers, ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}) });
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_redis');
  const port = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-rt-redis-'));
  redis = new RedisNode({ port, dir, maxmemory: '64mb', policy: 'allkeys-lfu' });
  await redis.start();
  const config = tdb.config({ REDIS_URL: `redis://127.0.0.1:${port}`, BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8', BGC_CACHE_WARM_COUNT: '0' });
  A = await startRuntime(config);
  B = await startRuntime(config);
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.allSettled([A?.close(), B?.close()]);
  await redis?.stop().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await tdb?.drop();
});

describe('Redis restarted mid-run', () => {
  it('tells clients to resync, and sync since their newest message gives exactly the database’s messages', async () => {
    const users: Array<{ id: string; token: string }> = [];
    for (const name of ['rr_sender', 'rr_reader']) {
      const username = `${name}_${process.pid}`;
      const res = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
      expect(res.status).toBe(201);
      users.push({ id: res.body.user.id, token: res.body.token });
    }
    const [sender, reader] = users as [{ id: string; token: string }, { id: string; token: string }];
    const conv = (await call<{ id: string }>(A, 'POST', '/api/chat/conversations', { token: sender.token, body: { recipient_id: reader.id } })).body.id;
    const socket = await RtClient.ready(B.ports.api, reader.token);
    sockets.push(socket);
    const send = async (content: string) => {
      const r = await call<{ id: string }>(A, 'POST', `/api/chat/conversations/${conv}/messages`, { token: sender.token, body: { content } });
      expect(r.status).toBe(201);
      return r.body.id;
    };
    const before = [await send('before 1'), await send('before 2')];
    await socket.until((ev) => before.every((id) => ev.some((e) => e.type === 'message' && (e.message as { id: string }).id === id)), 3_000);

    await redis.stop();
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(await send(`while Redis is down ${i}`));
    const t0 = performance.now();
    await redis.start();
    await socket.waitFor((e) => e.type === 'resync', 15_000);
    console.log(`resync reached the client ${(performance.now() - t0).toFixed(0)} ms after Redis was started again`);
    // The sender's instance also remembered whom its failed publishes were for and tells them.
    await socket.waitFor((e) => e.type === 'resync' && e.reason === 'publish_failed', 10_000);
    const after = await send('after');

    // The client's catch-up: sync since the newest message it holds, then follow next_cursor.
    const held = new Map<string, RtEvent>();
    for (const e of socket.of('message')) held.set((e.message as { id: string }).id, e);
    const newest = [...held.keys()].sort().at(-1);
    if (!newest) throw new Error('nothing held');
    let req: Record<string, unknown> = { type: 'sync', since: newest };
    for (let page = 0; page < 20; page++) {
      const rid = `rr${page}`;
      socket.send({ ...req, request_id: rid });
      const ev = await socket.waitFor((e) => e.type === 'sync' && e.request_id === rid, 5_000);
      for (const m of ev.items as Array<{ id: string }>) held.set(m.id, { type: 'message', message: m });
      if (ev.next_cursor === null) break;
      req = { type: 'sync', cursor: ev.next_cursor };
    }
    await socket.until((ev) => ev.some((e) => e.type === 'message' && (e.message as { id: string }).id === after), 3_000).catch(() => undefined);
    for (const e of socket.of('message')) held.set((e.message as { id: string }).id, e);

    const admin = await tdb.admin();
    let inDb: string[];
    try {
      inDb = (await admin.query<{ id: string }>('SELECT id::text FROM messages WHERE conversation_id = $1 ORDER BY created_at, id', [conv])).rows.map((r) => r.id);
    } finally {
      await admin.end();
    }
    expect([...held.keys()].sort()).toEqual([...inDb].sort());
    expect(inDb).toEqual([...before, ...during, after]);
    // Pushes never duplicated a message.
    const pushed = socket.of('message').map((e) => (e.message as { id: string }).id);
    expect(new Set(pushed).size).toBe(pushed.length);
  });

  it('spreads the resync after a Redis blip: 1,000 sockets are told in slices, not in one burst', async () => {
    const username = `rr_many_${process.pid}`;
    const reg = await call<{ token: string }>(A, 'POST', '/api/auth/register', { body: { email: `${username}@example.test`, username, password: 'correct Horse 42' } });
    expect(reg.status).toBe(201);
    const N = 1_000;
    const many: RtClient[] = [];
    for (let i = 0; i < N; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => RtClient.ready(B.ports.api, reg.body.token)));
      many.push(...batch);
      sockets.push(...batch);
    }
    await redis.stop();
    await redis.start();
    const told = await Promise.all(many.map((c) => c.waitFor((e) => e.type === 'resync' && e.reason === 'redis_reconnected', 30_000).then(() => performance.now())));
    const spreadMs = Math.max(...told) - Math.min(...told);
    const planned = (Math.ceil(N / RESYNC_SLICE) - 1) * RESYNC_SPACING_MS;
    console.log(`${N} sockets told to resync over ${spreadMs.toFixed(0)} ms (${RESYNC_SLICE} every ${RESYNC_SPACING_MS} ms: at least ${planned} ms)`);
    // Timers only ever run late: the spread is at least the plan (less a little for the
    // client reading the first slice late).
    expect(spreadMs).toBeGreaterThanOrEqual(planned * 0.8);
  }, 120_000);
});
