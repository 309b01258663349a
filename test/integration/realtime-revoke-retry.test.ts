import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { RedisNode } from '../../src/tools/stack/redis-node.ts';
import { freePort } from '../helpers/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { RtClient } from '../helpers/realtime-client.ts';

/**
 * A logout while Redis is down, with the cache layer off (so no NOTIFY-driven session
 * invalidation reaches the other instance): the revocation's publish fails. Before, it was
 * retried as a generic `resync`, and the session's socket on the other instance stayed open
 * until the periodic re-check (minutes). Now the revocation itself is published again once
 * Redis is back, and that socket closes with 4003. Private redis-server, two instances.
 */
let tdb: TestDatabase;
let redis: RedisNode;
let dir: string;
let A: Runtime;
let B: Runtime;
const sockets: RtClient[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase('realtime_revoke_retry');
  const port = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-rt-revoke-'));
  redis = new RedisNode({ port, dir, maxmemory: '64mb', policy: 'allkeys-lfu' });
  await redis.start();
  const config = tdb.config({ REDIS_URL: `redis://127.0.0.1:${port}`, BGC_CACHE_ENABLED: 'false', BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '8' });
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

describe('a logout while Redis is down', () => {
  it('closes the session\'s socket on the other instance once Redis is back', async () => {
    const username = `revoke_retry_${process.pid}`;
    const reg = await A.app.inject({
      method: 'POST', url: '/api/auth/register', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `${username}@example.test`, username, password: 'correct Horse 42' }),
    });
    expect(reg.statusCode).toBe(201);
    const token = (JSON.parse(reg.body) as { token: string }).token;
    const socket = await RtClient.ready(B.ports.api, token);
    sockets.push(socket);

    await redis.stop();
    const out = await A.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${token}` } });
    expect(out.statusCode).toBe(200);
    const t0 = performance.now();
    await redis.start();
    const closed = await socket.waitClosed(20_000);
    console.log(`the revoked session's socket on the other instance closed ${(performance.now() - t0).toFixed(0)} ms after Redis was started again (code ${closed.code})`);
    expect(closed.code).toBe(4003);
  }, 60_000);
});
