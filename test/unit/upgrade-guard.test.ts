import net from 'node:net';
import type { AddressInfo } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOverloadGuard } from '../../src/http/overload-guard.ts';
import { guardUpgrades } from '../../src/http/stray-upgrades.ts';

/**
 * Requests with an Upgrade header (src/http/stray-upgrades.ts) on a bare app with the
 * WebSocket plugin and the admission guard (one slot). The plugin's upgrade listener routed
 * every such request through Fastify, past the guard: with the slot held, an `h2c` attempt
 * (`curl --http2 http://…`) was served instead of refused.
 */
let app: FastifyInstance;
let port: number;
let release = (): void => undefined;
let entered = (): void => undefined;

beforeAll(async () => {
  app = Fastify();
  guardUpgrades(app);
  installOverloadGuard(app, { targetMs: 5, intervalMs: 100, loopQueueFloor: 1, slotsPerConnection: 1, maxParked: 0, corsOrigins: [] },
    { db: { onAcquireWait: () => () => undefined, poolStats: () => [] } });
  await app.register(async (scope) => {
    await scope.register(websocket);
    scope.get('/api/realtime', { websocket: true }, (socket) => { socket.close(1000); });
  });
  app.get('/api/other', async () => ({ ok: true }));
  app.get('/api/hold', async () => {
    entered();
    await Promise.race([new Promise<void>((r) => { release = r; }), new Promise((r) => setTimeout(r, 5_000))]);
    return { ok: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => { await app?.close(); });

/** Sends `head` on a new connection; the answer and whether the server closed the connection (within 3 s). */
async function raw(head: string): Promise<{ status: string; body: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let answer = '';
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
  const closed = await new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 3_000);
    socket.write(head);
  });
  socket.destroy();
  return { status: answer.split('\r\n')[0] ?? '', body: answer.slice(answer.indexOf('\r\n\r\n') + 4), closed };
}

const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

describe('requests with an Upgrade header', () => {
  it('an h2c attempt is served as HTTP/1.1, and the connection closed after it', async () => {
    const r = await raw(`GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`);
    expect(r.status).toBe('HTTP/1.1 200 OK');
    expect(JSON.parse(r.body)).toEqual({ ok: true });
    expect(r.closed).toBe(true);
  });

  it('an h2c attempt goes through admission: refused 503 while the one slot is held', async () => {
    const held = new Promise<void>((r) => { entered = r; });
    const holder = fetch(`http://127.0.0.1:${port}/api/hold`, { signal: AbortSignal.timeout(10_000) });
    await held;
    let r: Awaited<ReturnType<typeof raw>>;
    try {
      r = await raw(`GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`);
    } finally { release(); }
    expect((await holder).status).toBe(200);
    // Before: 200, served past the guard.
    expect(r.status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'OVERLOADED' } });
  });

  it('a WebSocket handshake to another path, or an upgrade with a body, is 400', async () => {
    const ws = await raw('GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
      + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    expect(ws.status).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(ws.body)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    const withBody = await raw(`POST /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    expect(withBody.status).toBe('HTTP/1.1 400 Bad Request');
  });

  it('a client that keeps its connection open after an h2c answer does not keep the slot', async () => {
    // One slot: a response that never closed its handed-over socket held it for good, and
    // every later request was refused 503.
    // allowHalfOpen: the client does not close its side when the server ends its own.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    let answer = '';
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
    const ended = new Promise<boolean>((resolve) => { socket.once('end', () => resolve(true)); setTimeout(() => resolve(false), 3_000); });
    // The upgrade, then bytes the server never reads (a second request in a later packet).
    socket.write(`GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    socket.write('GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await ended, 'the server ended its side').toBe(true);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    // Our side stays open. Before, the server only half-closed: its socket, and the response
    // the guard waits on for the slot, never closed, so this was refused 503.
    await new Promise((r) => setTimeout(r, 100));
    const next = await fetch(`http://127.0.0.1:${port}/api/other`, { signal: AbortSignal.timeout(5_000) });
    socket.destroy();
    expect(next.status).toBe(200);
  });

  it('a reset right after an upgrade, and an h2c request pipelined behind another, do not crash the server', async () => {
    for (const head of [`GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`,
      'GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n']) {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      socket.write(head);
      socket.resetAndDestroy();
    }
    // An upgrade pipelined behind a request still being answered cannot take the socket: the
    // connection is dropped (before, assigning it threw inside Node's parser callback).
    const pipelined = await raw(`GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`);
    expect(pipelined.closed).toBe(true);
    // Still serving (an uncaught 'error' or a throw in the upgrade listener would have ended the process).
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`http://127.0.0.1:${port}/api/other`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
  });

  it('the WebSocket route still upgrades', async () => {
    const r = await raw('GET /api/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
      + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    expect(r.status).toBe('HTTP/1.1 101 Switching Protocols');
  });
});
