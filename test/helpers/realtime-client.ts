import WebSocket from 'ws';

/** A server → client event as the tests read it (fields by name). */
export interface RtEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface Closed { readonly code: number; readonly reason: string; readonly atMs: number }

/**
 * A WebSocket client for the /api/realtime tests: records every event, waits on
 * conditions with a bound (never a fixed sleep), and exposes how and when it closed.
 */
export class RtClient {
  readonly events: RtEvent[] = [];
  readonly closed: Promise<Closed>;
  readonly #waiters = new Set<() => void>();
  #closedWith: Closed | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      this.events.push(JSON.parse(data.toString()) as RtEvent);
      for (const w of [...this.#waiters]) w();
    });
    this.closed = new Promise<Closed>((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.#closedWith = { code, reason: reason.toString(), atMs: performance.now() };
        resolve(this.#closedWith);
        for (const w of [...this.#waiters]) w();
      });
    });
    ws.on('error', () => undefined);
  }

  /** Opens a socket; with `token` it goes in the Authorization header (the non-browser way). */
  static async open(port: number, opts: { token?: string; path?: string; autoPong?: boolean } = {}): Promise<RtClient> {
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/api/realtime'}`, { headers, autoPong: opts.autoPong ?? true });
    const client = new RtClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        const retryAfter = res.headers['retry-after'];
        reject(new UpgradeRefused(res.statusCode ?? 0, typeof retryAfter === 'string' ? retryAfter : undefined));
      });
      ws.once('error', reject);
    });
    return client;
  }

  /** Opens, authenticates (header or first frame) and waits for `ready`. */
  static async ready(port: number, token: string, how: 'header' | 'frame' = 'header'): Promise<RtClient> {
    const c = await RtClient.open(port, how === 'header' ? { token } : {});
    if (how === 'frame') c.send({ type: 'auth', token });
    await c.waitFor((e) => e.type === 'ready', 5_000);
    return c;
  }

  send(frame: unknown): void { this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }

  of(type: string): RtEvent[] { return this.events.filter((e) => e.type === type); }

  get closedWith(): Closed | undefined { return this.#closedWith; }

  /** The first event (from the start) matching `pred`, waiting at most `limitMs`. */
  async waitFor(pred: (e: RtEvent) => boolean, limitMs: number): Promise<RtEvent> {
    const found = this.events.find(pred);
    if (found) return found;
    return new Promise<RtEvent>((resolve, reject) => {
      const check = () => {
        const e = this.events.find(pred);
        if (e) { done(); resolve(e); } else if (this.#closedWith) { done(); reject(new Error(`socket closed (${this.#closedWith.code} ${this.#closedWith.reason}) before the event arrived`)); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no matching event within ${limitMs} ms; got ${JSON.stringify(this.events.map((e) => e.type))}`)); }, limitMs);
      const done = () => { clearTimeout(timer); this.#waiters.delete(check); };
      this.#waiters.add(check);
    });
  }

  /** Waits until `pred` holds for the events so far (bounded). */
  async until(pred: (events: readonly RtEvent[]) => boolean, limitMs: number): Promise<void> {
    if (pred(this.events)) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => { if (pred(this.events)) { done(); resolve(); } };
      const timer = setTimeout(() => { done(); reject(new Error(`condition not met within ${limitMs} ms (${this.events.length} events)`)); }, limitMs);
      const done = () => { clearTimeout(timer); this.#waiters.delete(check); };
      this.#waiters.add(check);
    });
  }

  /** Waits for the close (bounded); rejects if the socket is still open after `limitMs`. */
  async waitClosed(limitMs: number): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<Closed>((_, reject) => { timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs); }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly retryAfter?: string) {
    super(`upgrade refused with HTTP ${status}`);
    this.name = 'UpgradeRefused';
  }
}

/** Polls `probe` (every 10 ms) until true; returns the elapsed ms, or throws after `limitMs`. */
export async function eventually(probe: () => Promise<boolean> | boolean, limitMs: number, what: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - start > limitMs) throw new Error(`${what}: not true within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
