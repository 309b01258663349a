import pg from 'pg';
import type { QueryDef } from '../catalog/types.ts';
import { systemQueries } from './system-queries.ts';
import { isQueryReadTimeout } from './errors.ts';

/**
 * Sessions that must not come from a pool: a session advisory lock belongs to one backend,
 * and session settings (lock_timeout, TimeZone, statement_timeout = 0 for long COPYs)
 * must not leak into connections the API later borrows (pg_partman #531, DependencyTrack
 * #2207 had exactly that through PgBouncer). Everything here opens its own pg.Client, on
 * config.database.primaryUrl: the primary directly, DATABASE_SESSION_URL when DATABASE_URL
 * goes through PgBouncer (a session advisory lock through transaction pooling would be taken
 * on one server connection and checked or released on another, pgbouncer #617).
 */
export interface DedicatedSessionOptions {
  readonly applicationName: string;
  /** 0 = no statement timeout (archive COPYs of a whole month). */
  readonly statementTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Called when the connection fails while idle (server restart, pg_terminate_backend). */
  readonly onError?: (err: Error) => void;
  /**
   * Notice a dead peer in seconds or minutes, not hours: the server probes after 10 s idle, 3
   * probes 5 s apart (about 25 s), for a session that holds an advisory lock, which the server
   * keeps until it sees the session gone; the client after 10 s idle, then with the OS's probe
   * interval and count (Node sets no others), to stop trusting a server that vanished.
   */
  readonly detectDeadPeer?: boolean;
}

/** Server-side keepalive of a detectDeadPeer session: about 25 s from a dead client to a released lock. */
const DEAD_PEER_SERVER_OPTIONS = '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3';

export async function openDedicatedSession(url: string, opts: DedicatedSessionOptions): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: opts.applicationName,
    statement_timeout: opts.statementTimeoutMs && opts.statementTimeoutMs > 0 ? opts.statementTimeoutMs : undefined,
    // An explicit 0 is sent too: behind PgBouncer the app's timeout is a role default
    // (ALTER ROLE … SET statement_timeout, docs/OPERATIONS.md), which would otherwise cut a
    // month's archive COPY on this direct session. pg sends no statement_timeout of 0 itself.
    options: [opts.statementTimeoutMs === 0 ? '-c statement_timeout=0' : '', opts.detectDeadPeer ? DEAD_PEER_SERVER_OPTIONS : ''].filter(Boolean).join(' ') || undefined,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: opts.detectDeadPeer ? 10_000 : undefined,
  });
  // Without a listener an error on an idle client would crash the process.
  client.on('error', (err) => opts.onError?.(err));
  await client.connect();
  return client;
}

export interface LeaderLockOptions {
  readonly url: string;
  /** Advisory lock key; one per election (the scheduler uses SCHEDULER_LOCK_KEY). */
  readonly key: number;
  readonly applicationName: string;
  readonly onLost?: (reason: string) => void;
}

export type LeaderCheck = { readonly leader: true } | { readonly leader: false; readonly reason: 'replica' | 'held-elsewhere' | 'unreachable' };

/** Key of the app's job scheduler (the migrator uses 727_160_001, partition maintenance 727_160_011). */
export const SCHEDULER_LOCK_KEY = 727_160_010;

/**
 * The client's bound on each statement of the lock session (its statement_timeout is 5 s; this
 * covers a server that stopped answering). Past it the session counts as broken and the next
 * check reconnects, instead of one check waiting out TCP retransmission (about 15 minutes).
 */
const LOCK_QUERY_TIMEOUT_MS = 6_000;

/** A statement of the lock session with the client's bound (pg reads query_timeout per query; @types/pg types it on the client only). */
function bounded(text: string, values?: unknown[]): pg.QueryConfig {
  return { text, values, query_timeout: LOCK_QUERY_TIMEOUT_MS } as pg.QueryConfig;
}

/**
 * Leader election with a session advisory lock on a dedicated connection. Whoever holds
 * `pg_advisory_lock(key)` is the leader; if its process dies or its connection drops,
 * PostgreSQL releases the lock and the next `check()` of another instance takes it. A
 * standby never leads (`pg_is_in_recovery()`), so a primary URL that points at a replica
 * after a failover mix-up cannot run maintenance there.
 */
export class LeaderLock {
  readonly #opts: LeaderLockOptions;
  #client: pg.Client | null = null;
  #held = false;
  #broken = false;

  constructor(opts: LeaderLockOptions) {
    this.#opts = opts;
  }

  get isLeader(): boolean {
    return this.#held && !this.#broken;
  }

  /** Backend pid of the lock session (tests terminate it to simulate a dead leader). */
  async backendPid(): Promise<number | null> {
    if (!this.#client || this.#broken) return null;
    const { rows } = await this.#client.query<{ pid: number }>(systemQueries.backendPid.text);
    return rows[0]?.pid ?? null;
  }

  /** Confirms leadership (the session is alive and still a primary) or tries to take it. */
  async check(): Promise<LeaderCheck> {
    try {
      if (!this.#client || this.#broken) await this.#reconnect();
      const client = this.#client as pg.Client;
      const { rows } = await client.query<{ in_recovery: boolean }>(bounded(systemQueries.leaderInRecovery.text));
      if (rows[0]?.in_recovery) {
        if (this.#held) await this.#drop('node is a standby');
        // Reconnect on the next check: the address may lead to the new primary by then (HAProxy,
        // DNS). Kept, this session asked the same standby on every check and nobody led again.
        this.#broken = true;
        return { leader: false, reason: 'replica' };
      }
      if (this.#held) return { leader: true };
      const got = await client.query<{ got: boolean }>(bounded(systemQueries.leaderTryLock.text, [this.#opts.key]));
      this.#held = got.rows[0]?.got === true;
      return this.#held ? { leader: true } : { leader: false, reason: 'held-elsewhere' };
    } catch {
      if (this.#held) this.#opts.onLost?.('leader session failed');
      this.#held = false;
      this.#broken = true;
      return { leader: false, reason: 'unreachable' };
    }
  }

  async #reconnect(): Promise<void> {
    const old = this.#client;
    this.#client = null;
    this.#held = false;
    if (old) await old.end().catch(() => undefined);
    this.#client = await openDedicatedSession(this.#opts.url, {
      applicationName: this.#opts.applicationName,
      statementTimeoutMs: 5_000,
      detectDeadPeer: true,
      onError: () => {
        // The server released our lock with the session; stop claiming leadership at once.
        if (this.#held) this.#opts.onLost?.('leader session dropped');
        this.#broken = true;
        this.#held = false;
      },
    });
    this.#broken = false;
  }

  async #drop(reason: string): Promise<void> {
    this.#held = false;
    this.#opts.onLost?.(reason);
    await this.#client?.query(bounded(systemQueries.leaderUnlock.text, [this.#opts.key])).catch(() => undefined);
  }

  /** Runs a catalog entry on the lock session (the scheduler's bookkeeping; cheap, serial). */
  async query<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[]): Promise<R[]> {
    if (!this.#client || this.#broken) throw new Error('leader session is not connected');
    try {
      return (await this.#client.query<R>(bounded(def.text, params as unknown[]))).rows;
    } catch (err) {
      // The server did not answer: the session is stuck behind that statement; the next check reconnects.
      if (isQueryReadTimeout(err)) {
        if (this.#held) this.#opts.onLost?.('leader session did not answer');
        this.#held = false;
        this.#broken = true;
      }
      throw err;
    }
  }

  /** Gives up leadership: closing the session releases the lock for the next instance. */
  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    this.#held = false;
    if (client) await client.end().catch(() => undefined);
  }
}
