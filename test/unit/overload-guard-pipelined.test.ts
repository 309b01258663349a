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
const ALLOWED_ORIGIN = 'https://app.example';
let port: number;

beforeAll(async () => {
  app = Fastify();
  app.get('/api/slow', async () => { await new Promise((r) => setTimeout(r, 50)); return { ok: true }; });
  app.get('/api/slower', async () => { await new Promise((r) => setTimeout(r, 400)); return { ok: true }; });
  app.post('/api/echo', async (request) => ({ got: request.body }));
  installOverloadGuard(app, { targetMs: 5, intervalMs: 100, loopQueueFloor: 1, slotsPerConnection: 1, maxParked: 0, corsOrigins: [ALLOWED_ORIGIN] },
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

  it('a refusal to an allowed origin carries its CORS headers; a preflight is never refused', async () => {
    const holder = fetch(`http://127.0.0.1:${port}/api/slower`, { signal: AbortSignal.timeout(5_000) });
    await new Promise((r) => setTimeout(r, 50));
    const [refused, preflight] = await Promise.all([
      fetch(`http://127.0.0.1:${port}/api/slow`, { headers: { origin: ALLOWED_ORIGIN }, signal: AbortSignal.timeout(5_000) }),
      fetch(`http://127.0.0.1:${port}/api/slow`, { method: 'OPTIONS', headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' }, signal: AbortSignal.timeout(5_000) }),
    ]);
    await refused.arrayBuffer();
    await preflight.arrayBuffer();
    expect((await holder).status).toBe(200);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(refused.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(refused.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect(preflight.status, 'the preflight passes the guard (this bare app has no CORS hook: 404)').not.toBe(503);
  });

  it('a request whose body trickles in holds no slot until the body has arrived', async () => {
    const body = JSON.stringify({ text: 'x'.repeat(40) });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    let answer = '';
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
    socket.write(`POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    try {
      // With the one slot held by the unfinished POST, this request waited its 100 ms in the
      // queue and was refused 503.
      for (let i = 0; i < 3; i++) expect(await statusOfFreshRequest(), `request ${i} beside a body still arriving`).toBe(200);
      socket.write(body.slice(10));
      const started = Date.now();
      while (!answer.includes('\r\n\r\n{') && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 10));
      console.log(`[overload-guard-pipelined] the slow POST answered ${Date.now() - started} ms after its body completed`);
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
      expect(answer).toContain('"got":{"text":"xxxxxxxx');
    } finally {
      socket.destroy();
    }
    expect(await statusOfFreshRequest(), 'the POST gave its slot back').toBe(200);
  });

  it('a request with a body waits for the slot like any other once its body arrived', async () => {
    const holder = fetch(`http://127.0.0.1:${port}/api/slower`, { signal: AbortSignal.timeout(5_000) });
    await new Promise((r) => setTimeout(r, 50));
    const posted = await fetch(`http://127.0.0.1:${port}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}', signal: AbortSignal.timeout(5_000) });
    const text = await posted.text();
    expect((await holder).status).toBe(200);
    // The holder keeps the one slot for 400 ms, past the queue's 100 ms interval: refused.
    expect(posted.status, text).toBe(503);
    expect(JSON.parse(text)).toEqual({ error: { code: 'OVERLOADED', message: expect.any(String) } });
    expect(posted.headers.get('retry-after')).not.toBeNull();
  });
});
