import WebSocket from 'ws';
import { LatencyHistogram } from '../histogram.ts';
import type { RtUser } from './fixture.ts';

interface MessageEvent { readonly type: 'message'; readonly ts: number; readonly message: { readonly id: string; readonly sender_id: string } }
interface SyncEvent { readonly type: 'sync'; readonly items: ReadonlyArray<{ readonly id: string }>; readonly next_cursor: string | null }

/**
 * N WebSocket clients, one per benchmark user, authenticated with the Authorization header.
 * Each records the ids of the direct messages it receives (to compare with the database)
 * and, while `measuring`, the delivery latency of messages sent by the other member:
 * receipt time minus the event's `ts` (the server's publish time, right after the send's
 * commit; the server and this process share one clock on the benchmark machine).
 */
export class SocketFleet {
  readonly #sockets: WebSocket[] = [];
  /** user id → message id → times pushed. */
  readonly received = new Map<string, Map<string, number>>();
  /** user id → message ids fetched with `sync` after a `resync`. */
  readonly synced = new Map<string, Set<string>>();
  resyncs = 0;
  readonly latency = new LatencyHistogram();
  measuring = false;
  closedEarly = 0;
  /** Close codes of the sockets that closed during the run (code → count). */
  readonly closeCodes = new Map<number, number>();
  #closing = false;

  constructor(private readonly port: number, private readonly users: readonly RtUser[]) {}

  /** Opens every socket, `concurrency` handshakes at a time; resolves when each is ready or failed. */
  async connect(concurrency: number, progress: (m: string) => void): Promise<{ connected: number; failed: number; seconds: number; lastError: string }> {
    const started = performance.now();
    let next = 0;
    let connected = 0;
    let failed = 0;
    let lastError = '';
    let lastReport = started;
    const worker = async (): Promise<void> => {
      while (next < this.users.length) {
        const user = this.users[next++];
        if (!user) return;
        try {
          await this.#open(user);
          connected++;
        } catch (err) {
          failed++;
          lastError = err instanceof Error ? err.message : String(err);
        }
        if (performance.now() - lastReport > 5_000) {
          lastReport = performance.now();
          progress(`realtime: ${connected} sockets ready, ${failed} failed`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { connected, failed, seconds: Math.round((performance.now() - started) / 100) / 10, lastError };
  }

  #open(user: RtUser): Promise<void> {
    const seen = new Map<string, number>();
    this.received.set(user.id, seen);
    const synced = new Set<string>();
    this.synced.set(user.id, synced);
    let newest: string | undefined;
    const ws = new WebSocket(`ws://127.0.0.1:${this.port}/api/realtime`, { headers: { authorization: `Bearer ${user.token}` }, perMessageDeflate: false });
    this.#sockets.push(ws);
    let ready = false;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready event within 30 s')), 30_000);
      ws.on('message', (data: WebSocket.RawData) => {
        const ev = JSON.parse(data.toString()) as { type: string };
        if (ev.type === 'ready') { ready = true; clearTimeout(timer); resolve(); return; }
        // What a real client does: after `resync` (an event could not be published), or
        // while paging, catch up from PostgreSQL. Those ids count as received, not pushed.
        if (ev.type === 'resync') {
          this.resyncs++;
          ws.send(JSON.stringify(newest ? { type: 'sync', since: newest, limit: 500 } : { type: 'ping' }));
          return;
        }
        if (ev.type === 'sync') {
          const page = ev as SyncEvent;
          for (const m of page.items) synced.add(m.id);
          if (page.next_cursor) ws.send(JSON.stringify({ type: 'sync', cursor: page.next_cursor, limit: 500 }));
          return;
        }
        if (ev.type !== 'message') return;
        const m = ev as MessageEvent;
        seen.set(m.message.id, (seen.get(m.message.id) ?? 0) + 1);
        if (!newest || m.message.id > newest) newest = m.message.id;
        if (this.measuring && m.message.sender_id !== user.id) this.latency.record(Date.now() - m.ts);
      });
      ws.on('unexpected-response', (_req, res) => { clearTimeout(timer); reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)); });
      ws.on('error', (err) => { clearTimeout(timer); reject(err); });
      ws.on('close', (code: number) => {
        if (!ready || this.#closing) return;
        this.closedEarly++;
        this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
      });
    });
  }

  get open(): number { return this.#sockets.filter((s) => s.readyState === WebSocket.OPEN).length; }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#sockets.map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) { resolve(); return; }
      const t = setTimeout(() => { ws.terminate(); resolve(); }, 2_000);
      ws.once('close', () => { clearTimeout(t); resolve(); });
      ws.close(1000);
    })));
  }
}
