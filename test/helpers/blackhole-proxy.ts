import net from 'node:net';

/**
 * A TCP proxy whose connections can be made to go silent without closing: bytes in both
 * directions are swallowed and neither end hears of it, as when a NAT or load balancer
 * forgets an idle flow. A connection is "subscribed" once its client sent SUBSCRIBE
 * (Redis pub/sub), so a test can silence only the subscriber of an app.
 */
interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  subscribed: boolean;
  silent: boolean;
}

export class BlackholeProxy {
  readonly #server: net.Server;
  readonly #links = new Set<Link>();

  /**
   * `silenceFirstMatching`: the first connection whose client sends bytes matching it goes
   * silent at once (those bytes are swallowed too); later connections work.
   */
  #silenceFirst: RegExp | undefined;

  constructor(readonly target: { host: string; port: number }, opts: { silenceFirstMatching?: RegExp } = {}) {
    this.#silenceFirst = opts.silenceFirstMatching;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = this.#server.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  /** Silences every open subscribed connection; returns how many. New connections work. */
  silenceSubscribers(): number {
    let n = 0;
    for (const link of this.#links) if (link.subscribed && !link.silent) { link.silent = true; n++; }
    return n;
  }

  /** Silences every open connection; returns how many. New connections work. */
  silenceAll(): number {
    let n = 0;
    for (const link of this.#links) if (!link.silent) { link.silent = true; n++; }
    return n;
  }

  #accept(client: net.Socket): void {
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    const link: Link = { client, upstream, subscribed: false, silent: false };
    this.#links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (!link.subscribed && /subscribe/i.test(chunk.toString('latin1'))) link.subscribed = true;
      if (this.#silenceFirst?.test(chunk.toString('latin1'))) { this.#silenceFirst = undefined; link.silent = true; }
      if (!link.silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => { if (!link.silent) client.write(chunk); });
    const close = () => { this.#links.delete(link); client.destroy(); upstream.destroy(); };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }

  async close(): Promise<void> {
    for (const link of this.#links) { link.client.destroy(); link.upstream.destroy(); }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
