import net from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWAITING_BODIES_PER_SLOT, installOverloadGuard } from '../../src/http/overload-guard.ts';

/**
 * The admission guard's slots against clients that hang up (src/http/overload-guard.ts), on a
 * real loopback server with one slot. A pipelined request's response waits for its turn
 * without a socket; when the client hung up meanwhile, Node never closed that response, and
 * the slot it was admitted to was never given back: every later request was refused 503.
 */
let app: FastifyInstance;
const ALLOWED_ORIGIN = 'https://app.example';
let port: number;

/**
 * /api/slower holds the one slot from the moment its handler runs (`entered`) until the test
 * lets it go (`release`), at most HOLD_MAX_MS: a test then knows the slot is taken, and the
 * holder keeps it for as long as the test needs however slow the machine, instead of for a
 * fixed 400 ms that a 50 ms sleep hoped had begun. Should the guard ever serve a second
 * request beside it, that one waits for the slot, is answered after HOLD_MAX_MS (well within
 * the clients' 10 s), and the tests' `503` expectations fail on a status, not a timeout.
 */
const HOLD_MAX_MS = 4_000;
interface Hold { readonly entered: Promise<void>; enter(): void; readonly released: Promise<void>; release(): void }
function newHold(): Hold {
  let enter = (): void => undefined;
  let release = (): void => undefined;
  const entered = new Promise<void>((r) => { enter = r; });
  const released = new Promise<void>((r) => { release = r; });
  return { entered, enter: () => enter(), released, release: () => release() };
}
let hold = newHold();

/** Starts GET /api/slower and waits (bounded) until its handler runs, i.e. it holds the slot. */
async function takeTheSlot(label: string): Promise<{ holder: Promise<Response>; hold: Hold }> {
  hold = newHold();
  const current = hold;
  const started = performance.now();
  const holder = fetch(`http://127.0.0.1:${port}/api/slower`, { signal: AbortSignal.timeout(10_000) });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${label}: /api/slower not in its handler within 5 s`)), 5_000); });
  try {
    await Promise.race([current.entered, late, holder.then(() => { throw new Error(`${label}: /api/slower answered before its handler held the slot`); })]);
  } finally { clearTimeout(timer); }
  console.log(`[overload-guard-pipelined] ${label}: the holder took the slot ${(performance.now() - started).toFixed(0)} ms after it was sent`);
  return { holder, hold: current };
}

beforeAll(async () => {
  app = Fastify();
  app.get('/api/slow', async () => { await new Promise((r) => setTimeout(r, 50)); return { ok: true }; });
  app.get('/api/slower', async () => {
    const mine = hold;
    mine.enter();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([mine.released, new Promise((r) => { timer = setTimeout(r, HOLD_MAX_MS); })]);
    clearTimeout(timer);
    return { ok: true };
  });
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
    const { holder, hold: held } = await takeTheSlot('CORS refusal');
    let refused: Response;
    let preflight: Response;
    const t0 = performance.now();
    try {
      [refused, preflight] = await Promise.all([
        fetch(`http://127.0.0.1:${port}/api/slow`, { headers: { origin: ALLOWED_ORIGIN }, signal: AbortSignal.timeout(10_000) }),
        fetch(`http://127.0.0.1:${port}/api/slow`, { method: 'OPTIONS', headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' }, signal: AbortSignal.timeout(10_000) }),
      ]);
      await refused.arrayBuffer();
      await preflight.arrayBuffer();
    } finally { held.release(); }
    console.log(`[overload-guard-pipelined] with the slot held: GET answered ${refused.status} and the preflight ${preflight.status} after ${(performance.now() - t0).toFixed(0)} ms`);
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
    const { holder, hold: held } = await takeTheSlot('POST beside the holder');
    let posted: Response;
    let text: string;
    const t0 = performance.now();
    try {
      posted = await fetch(`http://127.0.0.1:${port}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}', signal: AbortSignal.timeout(10_000) });
      text = await posted.text();
    } finally { held.release(); }
    console.log(`[overload-guard-pipelined] with the slot held: the POST answered ${posted.status} after ${(performance.now() - t0).toFixed(0)} ms`);
    expect((await holder).status).toBe(200);
    // The holder keeps the one slot until the POST is answered, past the queue's 100 ms interval: refused.
    expect(posted.status, text).toBe(503);
    expect(JSON.parse(text)).toEqual({ error: { code: 'OVERLOADED', message: expect.any(String) } });
    expect(posted.headers.get('retry-after')).not.toBeNull();
  });

  it(`requests whose bodies are still arriving are bounded (${AWAITING_BODIES_PER_SLOT} per slot); past it a new one is refused before it is read`, async () => {
    const body = JSON.stringify({ text: 'y'.repeat(40) });
    const head = `POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const open = async (): Promise<{ socket: net.Socket; answer: () => string }> => {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      let text = '';
      socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      socket.on('error', () => undefined);
      return { socket, answer: () => text };
    };
    const slow = await Promise.all(Array.from({ length: AWAITING_BODIES_PER_SLOT }, open));
    try {
      for (const c of slow) c.socket.write(head + body.slice(0, 5));
      // A whole request after those headers were sent: the server has read them by its answer.
      expect(await statusOfFreshRequest(), 'requests without a body are served meanwhile').toBe(200);
      const extra = await open();
      try {
        const started = Date.now();
        extra.socket.write(head + body.slice(0, 5));
        while (!extra.answer() && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 10));
        const status = extra.answer().slice(0, 12);
        console.log(`[overload-guard-pipelined] a request past ${AWAITING_BODIES_PER_SLOT} bodies in arrival answered "${status}" ${Date.now() - started} ms after it was sent`);
        expect(status).toBe('HTTP/1.1 503');
        expect(extra.answer()).toContain('"code":"OVERLOADED"');
      } finally { extra.socket.destroy(); }
      expect(await statusOfFreshRequest(), 'requests without a body are served meanwhile').toBe(200);
    } finally {
      for (const c of slow) c.socket.destroy();
    }
    // The slow clients left: their places are free again.
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 5_000) {
      const res = await fetch(`http://127.0.0.1:${port}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      status = res.status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });
});
