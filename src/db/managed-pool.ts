import pg from 'pg';
import type { PoolConfig } from '../config/index.ts';
import { DbUnavailableError, isConnectionError, isPoolAcquireTimeout, isQueryReadTimeout } from './errors.ts';

export type NodeRole = 'primary' | 'replica';

export interface PoolStats {
  readonly node: string;
  readonly role: NodeRole;
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export interface ManagedPoolOptions {
  readonly name: string;
  readonly role: NodeRole;
  readonly url: string;
  readonly pool: PoolConfig;
  readonly applicationName: string;
  readonly onError?: (err: Error, node: string) => void;
  /** Skip pre-filling (used by one-shot CLI commands that need one connection). */
  readonly lazy?: boolean;
  /** Told how long each checkout waited for a connection (admission control, src/http/admission). */
  readonly onAcquireWait?: (pool: string, waitMs: number) => void;
  /**
   * Send statement_timeout as a startup parameter (default true). False behind PgBouncer
   * 1.18, which refuses it ("unsupported startup parameter"); the server sets it there.
   */
  readonly statementTimeoutAtConnect?: boolean;
  /**
   * Honour statement names given to query() (default true). False behind a transaction pooler:
   * every statement, whoever names it (the router's probes too), is sent unnamed, because the
   * next execution may run on a server connection that never saw the Parse.
   */
  readonly namedStatements?: boolean;
  /**
   * The client-side bound on every statement (node-postgres' query_timeout), for a server that
   * stops answering without closing the connection (SIGSTOP, a frozen VM, a partition that
   * drops packets): statement_timeout is the server's own and cannot fire there, and TCP
   * keepalive takes hours. A statement past it fails and its connection is destroyed.
   * Undefined: no bound (tools whose sessions run long COPYs and migrations).
   */
  readonly queryTimeoutMs?: number;
  /**
   * Where the health checks' connection goes (probe()), when not `url`: behind PgBouncer, the
   * node itself (DATABASE_SESSION_URL, DATABASE_REPLICA_SESSION_URLS). Through PgBouncer a check
   * waited in the same queue as the app's transactions: with every server connection busy it
   * timed out, and the router took a serving replica out of rotation (two failed polls) and
   * readiness failed, exactly when the load was highest. A direct check sends statement_timeout
   * at connect again.
   */
  readonly probeUrl?: string;
}

/**
 * How long a pre-ping may take. A server that does not answer SELECT 1 in this long is not
 * going to serve the statement behind it: fail the checkout (DB_UNAVAILABLE, the read moves to
 * another node) rather than ping every pooled connection in turn.
 */
const PRE_PING_TIMEOUT_MS = 2_000;

/**
 * The client-side bound on a health check's statement (probe()): past it the check's
 * connection is destroyed and the next check opens another, so a node that stopped
 * answering holds the check for at most this long.
 */
const PROBE_QUERY_TIMEOUT_MS = 2_000;

interface ClientMeta { lastReleasedAt: number; expiresAt: number; broken: boolean }

/**
 * A node-postgres pool with what SQLAlchemy's `pool_size=10, max_overflow=20,
 * pool_pre_ping=True` gives and pg-pool lacks (docs/ARCHITECTURE.md):
 *  - `size` connections opened at start-up and refilled when one dies (pg's `min`
 *    only stops idle eviction, it never opens connections);
 *  - pre-ping: a connection idle longer than `prePingAfterMs` runs `SELECT 1` before
 *    use and is replaced if dead, PgBouncer's server_check_delay pattern;
 *  - a maximum lifetime with ±20% jitter so a fleet does not reconnect in lockstep;
 *  - acquire timeout as a typed DbUnavailableError, and a mandatory 'error' handler.
 */
export class ManagedPool {
  readonly name: string;
  readonly role: NodeRole;
  readonly url: string;
  readonly #pool: pg.Pool;
  readonly #cfg: PoolConfig;
  readonly #meta = new WeakMap<pg.PoolClient, ClientMeta>();
  #refilling = false;
  #closed = false;
  /** Clients handed out by acquire() and not yet released: a pool at capacity with all of them out is saturated. */
  #checkedOut = 0;
  /**
   * The health checks' own connection (probe()): one, opened by openProbe() or the first
   * check, and kept. Opened lazily so one-shot tools that never check health do not pay for it.
   */
  #probePool: pg.Pool | undefined;

  /** How long a checkout waits for a connection before it fails (DB_POOL_TIMEOUT). */
  get acquireTimeoutMs(): number {
    return this.#cfg.acquireTimeoutMs;
  }

  /** The health checks go to this other address (the node directly, behind PgBouncer). */
  get checksDirect(): boolean {
    return this.opts.probeUrl !== undefined;
  }

  constructor(private readonly opts: ManagedPoolOptions) {
    this.name = opts.name;
    this.role = opts.role;
    this.url = opts.url;
    this.#cfg = opts.pool;
    this.#pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.pool.size + opts.pool.maxOverflow,
      min: opts.pool.size,
      idleTimeoutMillis: opts.pool.idleTimeoutMs,
      connectionTimeoutMillis: opts.pool.acquireTimeoutMs,
      application_name: opts.applicationName,
      statement_timeout: opts.pool.statementTimeoutMs > 0 && opts.statementTimeoutAtConnect !== false ? opts.pool.statementTimeoutMs : undefined,
      keepAlive: true,
      query_timeout: opts.queryTimeoutMs,
    });
    // Without this handler an idle client's error (server restart, pg_terminate_backend)
    // would crash the process (node-postgres #2112). pg-pool already drops the client.
    this.#pool.on('error', (err) => {
      opts.onError?.(err, this.name);
      this.#scheduleRefill();
    });
    this.#pool.on('remove', () => this.#scheduleRefill());
    this.#pool.on('connect', (client) => {
      const jitter = 1 + (Math.random() * 0.4 - 0.2);
      const lifetimeMs = this.#cfg.maxLifetimeSeconds * 1000 * jitter;
      const meta: ClientMeta = {
        lastReleasedAt: Date.now(),
        expiresAt: this.#cfg.maxLifetimeSeconds > 0 ? Date.now() + lifetimeMs : Number.POSITIVE_INFINITY,
        broken: false,
      };
      this.#meta.set(client, meta);
      // pg-pool only listens for errors while a client is idle. A server that dies while a
      // client is checked out would otherwise raise an uncaught 'error' and crash the
      // process; instead mark the client so release() destroys it.
      client.on('error', () => { meta.broken = true; });
    });
  }

  /** Opens `size` connections now so the first requests never pay for a handshake. */
  async prefill(): Promise<void> {
    if (this.opts.lazy) return;
    const missing = this.#cfg.size - this.#pool.totalCount;
    if (missing <= 0) return;
    // pg-pool's connect() hands out an idle client whenever one exists and only opens a new
    // connection when none is idle. A refill after a partial loss (some connections killed,
    // some idle) that asked for just `missing` clients therefore got idle ones back and
    // opened nothing, leaving the pool below `size` for good (found by
    // test/chaos/replicas.test.ts). Ask for the idle ones too, so `missing` new ones open.
    const want = Math.min(this.#pool.idleCount + missing, this.#cfg.size + this.#cfg.maxOverflow);
    const clients = await Promise.allSettled(Array.from({ length: want }, () => this.#pool.connect()));
    for (const c of clients) if (c.status === 'fulfilled') c.value.release();
    const failed = clients.find((c) => c.status === 'rejected');
    if (failed && failed.status === 'rejected') throw this.#wrapConnectError(failed.reason);
  }

  #scheduleRefill(): void {
    if (this.#closed || this.#refilling || this.opts.lazy) return;
    this.#refilling = true;
    // Give the pool a moment: after a server restart, connecting at once would only fail.
    setTimeout(() => {
      this.#refilling = false;
      if (this.#closed || this.#pool.totalCount >= this.#cfg.size) return;
      this.prefill().catch(() => this.#scheduleRefillLater());
    }, 50).unref();
  }

  #scheduleRefillLater(): void {
    setTimeout(() => this.#scheduleRefill(), 1000).unref();
  }

  #wrapConnectError(err: unknown): Error {
    const msg = err instanceof Error ? err.message : String(err);
    // pg-pool's acquire timeout covers both waiting for a busy pool and opening a connection
    // to a node that does not answer. Only the first is saturation (DB_POOL_TIMEOUT: the
    // node is fine, a read does not move); the second is the node's outage, which a read
    // may leave for another node (DB_UNAVAILABLE).
    if (isPoolAcquireTimeout(err) && this.#checkedOut >= this.#cfg.size + this.#cfg.maxOverflow) {
      return new DbUnavailableError('DB_POOL_TIMEOUT', `pool ${this.name} saturated: no connection within ${this.#cfg.acquireTimeoutMs} ms`, this.name, { cause: err });
    }
    if (isPoolAcquireTimeout(err)) {
      return new DbUnavailableError('DB_UNAVAILABLE', `database node ${this.name} unavailable: no connection opened within ${this.#cfg.acquireTimeoutMs} ms`, this.name, { cause: err });
    }
    return new DbUnavailableError('DB_UNAVAILABLE', `database node ${this.name} unavailable: ${msg}`, this.name, { cause: err });
  }

  /**
   * Checks out a client, pinging it first if it sat idle too long, or always when `ping`
   * is set (a retry after a connection died: its idle siblings may be dead too).
   */
  async acquire(opts: { ping?: boolean } = {}): Promise<pg.PoolClient> {
    if (this.#closed) throw new DbUnavailableError('DB_UNAVAILABLE', `pool ${this.name} is closed`, this.name);
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      const askedAt = performance.now();
      try {
        client = await this.#pool.connect();
      } catch (err) {
        this.#reportWait(performance.now() - askedAt);
        throw this.#wrapConnectError(err);
      }
      this.#checkedOut++;
      if (attempt === 0) this.#reportWait(performance.now() - askedAt);
      const meta = this.#meta.get(client);
      const idleFor = meta ? Date.now() - meta.lastReleasedAt : 0;
      if ((!opts.ping && idleFor < this.#cfg.prePingAfterMs) || attempt >= this.#cfg.size + this.#cfg.maxOverflow) return client;
      try {
        // query_timeout per query is read by pg's Client.query (pg/lib/client.js) though
        // @types/pg types it on the client config only.
        await client.query({ text: 'SELECT 1 /* pre-ping */', query_timeout: PRE_PING_TIMEOUT_MS } as pg.QueryConfig);
        return client;
      } catch (err) {
        this.#checkedOut--;
        client.release(true); // destroy the dead connection and take another
        if (isQueryReadTimeout(err)) throw this.#noAnswer(PRE_PING_TIMEOUT_MS, err);
      }
    }
  }

  /**
   * Marks a checked-out client as not to be reused: release() then destroys it. For a
   * connection in an unknown state (a ROLLBACK that failed may leave it inside a
   * transaction, or still waiting on a statement), which no other request must inherit.
   */
  discard(client: pg.PoolClient): void {
    const meta = this.#meta.get(client);
    if (meta) meta.broken = true;
  }

  /** Returns a client; destroys it on a connection error or once its lifetime is over. */
  release(client: pg.PoolClient, err?: unknown): void {
    this.#checkedOut--;
    const meta = this.#meta.get(client);
    const broken = err !== undefined && isConnectionError(err);
    if (broken || meta?.broken || (meta !== undefined && Date.now() > meta.expiresAt)) {
      client.release(true);
      return;
    }
    if (meta) meta.lastReleasedAt = Date.now();
    client.release();
  }

  /** Runs one statement on a pooled connection. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: readonly unknown[],
    name?: string,
    opts: { ping?: boolean } = {},
  ): Promise<pg.QueryResult<R>> {
    const client = await this.acquire(opts);
    try {
      const named = Boolean(name) && this.opts.namedStatements !== false;
      const result = await client.query<R>(named ? { name, text, values: values as unknown[] } : { text, values: values as unknown[] });
      this.release(client);
      return result;
    } catch (err) {
      this.release(client, err);
      // Typed, so the router moves a read to another node at once instead of retrying here.
      if (isQueryReadTimeout(err)) throw this.#noAnswer(this.opts.queryTimeoutMs ?? 0, err);
      throw err;
    }
  }

  #noAnswer(afterMs: number, cause: unknown): DbUnavailableError {
    return new DbUnavailableError('DB_UNAVAILABLE', `database node ${this.name} did not answer within ${afterMs} ms`, this.name, { cause });
  }

  /** Runs `fn` with one client held for its duration (transactions, COPY, session state). */
  async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.acquire();
    try {
      const out = await fn(client);
      this.release(client);
      return out;
    } catch (err) {
      this.release(client, err);
      throw err;
    }
  }

  /**
   * Runs one health-check statement (the router's polls, /readyz's ping) on the check's own
   * connection, never on the app's pool: a pool whose every client was busy with slow reads
   * made the check wait behind them, and the router took a healthy, serving replica out of
   * rotation (two failed polls), and readiness failed, while the node answered at once.
   * Any error destroys that connection; the next check opens a fresh one.
   */
  async probe<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, name?: string): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new DbUnavailableError('DB_UNAVAILABLE', `pool ${this.name} is closed`, this.name);
    let client: pg.PoolClient;
    try {
      client = await this.#checks().connect();
    } catch (err) {
      throw new DbUnavailableError('DB_UNAVAILABLE', `database node ${this.name} unavailable: ${err instanceof Error ? err.message : String(err)}`, this.name, { cause: err });
    }
    try {
      const named = Boolean(name) && this.opts.namedStatements !== false;
      const result = await client.query<R>(named ? { name, text } : { text });
      client.release();
      return result;
    } catch (err) {
      client.release(true);
      if (isQueryReadTimeout(err)) throw this.#noAnswer(PROBE_QUERY_TIMEOUT_MS, err);
      throw err;
    }
  }

  /** Opens the health checks' connection now (start-up), so the first poll does not wait for a handshake. */
  async openProbe(): Promise<void> {
    if (this.#closed || this.opts.lazy) return;
    const client = await this.#checks().connect();
    client.release();
  }

  #checks(): pg.Pool {
    if (this.#probePool) return this.#probePool;
    const direct = this.opts.probeUrl !== undefined;
    const pool = new pg.Pool({
      connectionString: this.opts.probeUrl ?? this.opts.url,
      max: 1,
      // Kept however long it sits idle: the polls use it every BGC_REPLICA_POLL_MS.
      idleTimeoutMillis: 0,
      connectionTimeoutMillis: this.#cfg.acquireTimeoutMs,
      // Told apart from the app's pooled connections in pg_stat_activity (and in counts of them).
      application_name: `${this.opts.applicationName}-probe`,
      statement_timeout: this.#cfg.statementTimeoutMs > 0 && (direct || this.opts.statementTimeoutAtConnect !== false) ? this.#cfg.statementTimeoutMs : undefined,
      keepAlive: true,
      query_timeout: PROBE_QUERY_TIMEOUT_MS,
    });
    pool.on('error', (err) => this.opts.onError?.(err, this.name));
    // As for the app's pool (the 'connect' handler in the constructor): pg-pool listens for a
    // client's errors only while it is idle, and a node that stops or terminates the check's
    // connection mid-statement (57P01, a restart) otherwise raised an uncaught 'error' that
    // crashed the process. The statement itself rejects, and probe() then destroys the client.
    pool.on('connect', (client) => { client.on('error', () => undefined); });
    this.#probePool = pool;
    return pool;
  }

  #reportWait(waitMs: number): void {
    this.opts.onAcquireWait?.(this.name, waitMs);
  }

  stats(): PoolStats {
    return {
      node: this.name,
      role: this.role,
      total: this.#pool.totalCount,
      idle: this.#pool.idleCount,
      waiting: this.#pool.waitingCount,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#pool.end(), this.#probePool?.end()]);
  }
}
