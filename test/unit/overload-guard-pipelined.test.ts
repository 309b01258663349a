import net from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOverloadGuard } from '../../src/http/overload-guard.ts';

/**
 * The admission guard's slots against clients that hang up (src/http/overload-guard.ts), on a
 * real loopback server with one slot. A pipelined request's response waits for its turn
 * without a socket; when the client hung up meanwhile, Node never closed that response, and
 * the slot it was admitted to was never given back: every later request was refused 503.
 */
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  app = Fastify();
  app.get('/api/slow', async () => { await new Promise((r) => setTimeout(r, 50)); return { ok: true }; });
  installOverloadGuard(app, { targetMs: 5, intervalMs: 100, loopQueueFloor: 1, slotsPerConnection: 1, maxParked: 0 },
    { db: { onAcquireWait: () => () => undefined, poolStats: () => [] } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => { await app?.close(); });

const REQUEST = 'GET /api/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

/** Writes `raw` on a new connection and hangs up after `hangUpMs`. */
async function sendAndHangUp(raw: string, hangUpMs: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.write(raw);
  await new Promise((r) => setTimeout(r, hangUpMs));
  socket.destroy();
}

/** One request on a fresh connection: its status, waiting at most 5 s. */
async function statusOfFreshRequest(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/slow`, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

describe('admission slots and clients that hang up', () => {
  it('two pipelined requests whose client hangs up during the first leave no slot behind', async () => {
    for (let i = 0; i < 3; i++) await sendAndHangUp(REQUEST + REQUEST, 10);
    // The slow route takes 50 ms; give the abandoned requests time to finish, bounded.
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 3_000) {
      status = await statusOfFreshRequest();
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[overload-guard-pipelined] a fresh request answered ${status} ${Date.now() - started} ms after three abandoned pipelined pairs`);
    expect(status).toBe(200);
  });

  it('a client that hangs up while its request waits for the slot is withdrawn; the next request is served', async () => {
    const holder = statusOfFreshRequest();
    await sendAndHangUp(REQUEST, 10);
    expect(await holder).toBe(200);
    expect(await statusOfFreshRequest()).toBe(200);
  });
});
