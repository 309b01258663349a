import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionHolder, describeHolder } from '../../src/tools/stack/listeners.ts';

/** A port nobody holds now: the kernel picks one, we let it go. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

describe('connectionHolder: another program\'s connection whose own end is a stack port', () => {
  const closers: Array<() => void> = [];
  afterEach(() => { for (const c of closers.splice(0)) c(); });

  it('names the process whose outgoing connection uses the port, and finds nothing once it closes', async () => {
    const server = net.createServer((s) => closers.push(() => s.destroy()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => server.close());
    const held = await freePort();
    expect(connectionHolder(held)).toBeNull();

    const { port } = server.address() as net.AddressInfo;
    const client = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: held });
    await new Promise<void>((r, j) => { client.once('connect', () => r()); client.once('error', j); });
    closers.push(() => client.destroy());

    const holder = connectionHolder(held);
    expect(holder?.pid).toBe(process.pid);
    expect(holder?.via).toBe('connection');
    expect(describeHolder(holder ?? { pid: null, command: null, via: 'connection' })).toContain('outgoing connection');
    client.destroy();
    await new Promise<void>((r) => client.once('close', () => r()));
    // Closed, its end belongs to no process any more (FIN_WAIT or TIME_WAIT), and does not keep a server off.
    expect(connectionHolder(held)).toBeNull();
  });
});
