import net from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installOverloadGuard } from '../../src/http/overload-guard.ts';

/**
 * A refusal by the admission guard while the server closes (src/http/overload-guard.ts,
 * refuse). The guard answers on the raw server, past Fastify's onSend hook that adds
 * `Connection: close` once closing (src/http/app.ts); server.close() closes only connections
 * idle when it is called, so a refusal sent keep-alive after it kept its connection, and the
 * close, open until the client's idle timeout. One slot, held; a keep-alive connection opened
 * before the close sends a request after it.
 */
describe('a refusal while the server closes', () => {
  it('ends its connection (Connection: close), so the close does not wait for the client', async () => {
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const released = new Promise<void>((r) => { release = r; });
    const inHandler = new Promise<void>((r) => { entered = r; });
    const app = Fastify();
    app.get('/api/hold', async () => { entered(); await Promise.race([released, new Promise((r) => setTimeout(r, 5_000))]); return { ok: true }; });
    app.get('/api/other', async () => ({ ok: true }));
    installOverloadGuard(app, { targetMs: 5, intervalMs: 100, loopQueueFloor: 1, slotsPerConnection: 1, maxParked: 0, corsOrigins: [] },
      { db: { onAcquireWait: () => () => undefined, poolStats: () => [] } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;

    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    let answer = '';
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
    const socketClosed = new Promise<void>((r) => { socket.once('close', () => r()); });

    const holder = fetch(`http://127.0.0.1:${port}/api/hold`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
    await inHandler;
    const closed = app.close();
    const started = performance.now();
    socket.write('GET /api/other HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const ended = await Promise.race([socketClosed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
    console.log(`[overload-guard-closing] refused while closing: ${JSON.stringify(answer.split('\r\n')[0])}, connection ${ended ? 'closed by the server' : 'still open'} after ${(performance.now() - started).toFixed(0)} ms`);
    release();
    socket.destroy();
    expect((await holder).status).toBe(200);
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(ended).toBe(true);
  });
});
