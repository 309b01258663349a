import net from 'node:net';

/**
 * A TCP proxy that adds `delayMs` in each direction, to model the ~50 ms network of
 * DESIGN's assumptions between the app and PostgreSQL/Redis (25 ms each way = one 50 ms
 * round trip). It also counts round trips on the wire: a "turn" starts each time the
 * client speaks after the server did (or first), which is one request/response exchange
 * whatever the protocol. That is how the harness checks "≤ 2 database round trips per
 * request on a cache miss, none on a hit" without trusting the app's own counters.
 */
export interface ProxyStats {
  readonly connections: number;
  readonly turns: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export class LatencyProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #connections = 0;
  #turns = 0;
  #bytesUp = 0;
  #bytesDown = 0;

  constructor(readonly target: { host: string; port: number }, public delayMs: number) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = this.#server.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  stats(): ProxyStats {
    return { connections: this.#connections, turns: this.#turns, bytesUp: this.#bytesUp, bytesDown: this.#bytesDown };
  }

  #accept(client: net.Socket): void {
    this.#connections++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    client.setNoDelay(true);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    let clientSpoke = false;
    // Delivery after a fixed delay keeps order: equal timeouts fire first-in, first-out.
    const forward = (to: net.Socket, chunk: Buffer) => {
      if (this.delayMs <= 0) { if (!to.destroyed) to.write(chunk); return; }
      setTimeout(() => { if (!to.destroyed) to.write(chunk); }, this.delayMs);
    };
    client.on('data', (chunk: Buffer) => {
      if (!clientSpoke) { this.#turns++; clientSpoke = true; }
      this.#bytesUp += chunk.length;
      forward(upstream, chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      clientSpoke = false;
      this.#bytesDown += chunk.length;
      forward(client, chunk);
    });
    const close = () => {
      setTimeout(() => { client.destroy(); upstream.destroy(); }, this.delayMs);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => this.#sockets.delete(client));
    upstream.on('close', () => this.#sockets.delete(upstream));
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
