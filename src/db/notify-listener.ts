import pg from 'pg';

/**
 * A dedicated connection that LISTENs on one channel (src/db owns every database
 * connection; the cache layer only gets payloads and connection events).
 *
 * Not a pool connection: LISTEN is session state, and a pooled connection goes back to
 * others. It must be on the primary (LISTEN does not work on a hot standby) and not
 * through a transaction-mode PgBouncer: callers pass config.database.primaryUrl, which is
 * DATABASE_SESSION_URL (the primary directly) when DATABASE_URL goes through one. A NOTIFY
 * may still be sent through PgBouncer; it is delivered at commit like any other.
 *
 * NOTIFY has no replay: whatever is sent while this connection is down is gone. So:
 *  - a keep-alive `SELECT 1` every `pingMs` (bounded by `pingTimeoutMs`) finds a dead or
 *    half-open socket quickly instead of listening to silence;
 *  - reconnects back off from 100 ms to 5 s, forever, until close();
 *  - `onConnected` tells the caller when a (re)connect happened and how long the gap was,
 *    AFTER LISTEN is in place, so anything committed from then on is delivered and the
 *    caller can flush whatever the gap may have made stale.
 */
export interface NotifyListenerOptions {
  readonly url: string;
  readonly channel: string;
  readonly applicationName: string;
  readonly onNotify: (payload: string) => void;
  /**
   * `lostAt`: when the connection was last known to work (its last answered ping, or its
   * connect), not when its loss was noticed (`noticedAt`): a socket that went silent was found
   * only by a ping up to `pingMs` + `pingTimeoutMs` later, and notifications were lost from
   * the moment it went silent.
   */
  readonly onConnected: (info: { readonly reconnect: boolean; readonly lostAt: number | undefined; readonly noticedAt: number | undefined }) => void | Promise<void>;
  readonly onDisconnected?: (err: Error | undefined) => void;
  readonly pingMs?: number;
  readonly pingTimeoutMs?: number;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
const CONNECT_TIMEOUT_MS = 2_000;

export class NotifyListener {
  #client: pg.Client | undefined;
  #closed = false;
  #connected = false;
  #everConnected = false;
  #lostAt: number | undefined;
  #noticedAt: number | undefined;
  /** When the current connection last proved it works (LISTEN answered, a ping answered). */
  #aliveAt: number | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoff = MIN_BACKOFF_MS;
  #firstConnect: Promise<void> | undefined;
  reconnects = 0;
  received = 0;
  lastError: string | undefined;

  constructor(private readonly opts: NotifyListenerOptions) {}

  get connected(): boolean { return this.#connected; }

  /** Starts listening; resolves after the first connect or after `waitMs` (it keeps trying in the background). */
  async start(waitMs = CONNECT_TIMEOUT_MS): Promise<boolean> {
    this.#firstConnect ??= this.#connect();
    await Promise.race([this.#firstConnect, new Promise((r) => setTimeout(r, waitMs).unref())]);
    return this.#connected;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.opts.url,
      application_name: this.opts.applicationName,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    });
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (msg) => {
      if (msg.channel !== this.opts.channel || msg.payload === undefined) return;
      this.received++;
      this.opts.onNotify(msg.payload);
    });
    this.#client = client;
    try {
      await client.connect();
      // Bounded like the connect: a server that froze (or a path that went silent) between
      // the connect and LISTEN's answer otherwise held this await until TCP gave up, about
      // 15 minutes with no ping started yet, and invalidations stopped for all that time.
      await client.query({ text: `LISTEN "${this.opts.channel.replace(/"/g, '""')}"`, query_timeout: CONNECT_TIMEOUT_MS } as pg.QueryConfig);
    } catch (err) {
      this.#lost(client, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.#closed || this.#client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#connected = true;
    this.#backoff = MIN_BACKOFF_MS;
    const reconnect = this.#everConnected;
    if (reconnect) this.reconnects++;
    this.#everConnected = true;
    const lostAt = this.#lostAt;
    const noticedAt = this.#noticedAt;
    this.#lostAt = undefined;
    this.#noticedAt = undefined;
    this.#aliveAt = Date.now();
    this.#startPing(client);
    try {
      await this.opts.onConnected({ reconnect, lostAt, noticedAt });
    } catch {
      // The caller's recovery failing must not stop the listener; it logs its own errors.
    }
  }

  #startPing(client: pg.Client): void {
    const every = this.opts.pingMs ?? 5_000;
    const timeout = this.opts.pingTimeoutMs ?? 2_000;
    this.#pingTimer = setInterval(() => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('listener ping timed out')), timeout); });
      // Stamped when sent: the answer shows the connection carried everything up to then.
      const sentAt = Date.now();
      Promise.race([client.query('SELECT 1'), deadline])
        .then(() => { if (this.#client === client) this.#aliveAt = sentAt; })
        .catch((err: unknown) => this.#lost(client, err instanceof Error ? err : new Error(String(err)), true))
        .finally(() => clearTimeout(timer));
    }, every);
    this.#pingTimer.unref();
  }

  /** `byPing`: found by an unanswered ping, so the connection may have been silent since its last answer. */
  #lost(client: pg.Client, err: Error | undefined, byPing = false): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    if (this.#lostAt === undefined) {
      this.#noticedAt = Date.now();
      this.#lostAt = byPing ? (this.#aliveAt ?? this.#noticedAt) : this.#noticedAt;
    }
    this.#connected = false;
    if (err) this.lastError = err.message;
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.#closed) return;
    this.opts.onDisconnected?.(err);
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#retryTimer = setTimeout(() => { void this.#connect(); }, delay);
    this.#retryTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#connected = false;
    if (client) {
      client.on('error', () => undefined);
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
  }
}
