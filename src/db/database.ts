import type pg from 'pg';
import type { Config } from '../config/index.ts';
import type { QueryDef } from '../catalog/types.ts';
import { ManagedPool, type NodeRole, type PoolStats } from './managed-pool.ts';
import { classifyDbError, DbUnavailableError, isConnectionError, isPoolSaturated, isRetryableReadError } from './errors.ts';
import { ReplicaRouter, type RouteDecision } from './replica-router.ts';
import { PatroniReplicaSource } from './patroni-replicas.ts';
import type { QueryContext } from './query-context.ts';
import { StatementLog, type StatementLogSink } from './sql-log.ts';
import { assertChecksReachPoolNode, assertStatementTimeout } from './pooler-check.ts';
import { systemQueries } from './system-queries.ts';

// Re-exported for the repositories and services that take a Database and a QueryContext together.
export type { QueryContext };

export interface QueryObserver {
  onQuery(name: string, node: string, role: 'primary' | 'replica', seconds: number, ok: boolean): void;
  onRoute(name: string, decision: RouteDecision): void;
}

export interface Tx {
  query<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[]): Promise<R[]>;
}

const noopObserver: QueryObserver = { onQuery: () => undefined, onRoute: () => undefined };

/** How long a statement refused as read-only on the primary's address is retried (#untilWritable). */
const READ_ONLY_RETRY_MS = 1_500;

/**
 * The db router (DESIGN §1): the only place that holds pools. Repositories hand it a
 * catalog entry; it picks the node, runs the statement, retries reads elsewhere on a
 * connection error or recovery conflict, and reports every decision to the observer.
 */
export class Database {
  readonly primary: ManagedPool;
  readonly router: ReplicaRouter;
  /** Set when BGC_PATRONI_URLS names Patroni: the replica set then follows its /cluster. */
  readonly patroni: PatroniReplicaSource | undefined;
  /** LOG_SQL: set only when config.log.sql is on (never in production) and a sink was given. */
  readonly statementLog: StatementLog | undefined;
  #observer: QueryObserver = noopObserver;
  readonly #waitListeners = new Set<(pool: string, waitMs: number) => void>();

  /**
   * Pools go through a transaction-pooling PgBouncer (config.database.transactionPooler and
   * not a `session` Database): statements unnamed, no statement_timeout at connect.
   */
  readonly pooled: boolean;

  constructor(
    readonly config: Config,
    opts: {
      applicationName?: string;
      lazy?: boolean;
      /**
       * A one-shot tool (migrate, seed, explain): its primary pool connects to the primary
       * directly (config.database.primaryUrl), never through PgBouncer, because tools keep
       * session state: advisory locks, SET, PREPARE.
       */
      session?: boolean;
      onPoolError?: (err: Error, node: string) => void;
      sqlLog?: StatementLogSink;
      /**
       * Bound every statement on the client too (statement_timeout + 1 s; ManagedPool's
       * queryTimeoutMs). The serving runtime sets it. Tools leave it off: seeding and the
       * EXPLAIN audit raise statement_timeout on their connections for long statements.
       */
      clientQueryTimeout?: boolean;
    } = {},
  ) {
    const applicationName = opts.applicationName ?? 'bgc-api';
    this.pooled = config.database.transactionPooler && opts.session !== true;
    const onAcquireWait = (pool: string, ms: number) => { for (const l of this.#waitListeners) l(pool, ms); };
    const common = {
      pool: config.pool, applicationName, onError: opts.onPoolError, lazy: opts.lazy ?? config.baseline, onAcquireWait,
      namedStatements: config.database.namedStatements,
      queryTimeoutMs: opts.clientQueryTimeout === true ? clientQueryTimeout(config.pool.statementTimeoutMs) : undefined,
    };
    // PgBouncer 1.18 refuses statement_timeout as a startup parameter; the server sets it
    // (checked in start()). The replica URLs name PgBouncer whenever the pooler is in use.
    const primaryUrl = this.pooled ? config.database.primaryPoolUrl : config.database.primaryUrl;
    // Behind PgBouncer the health checks reach each node directly where its address is known
    // (ManagedPoolOptions.probeUrl): through PgBouncer they queued behind the app's transactions.
    this.primary = new ManagedPool({
      ...common, statementTimeoutAtConnect: !this.pooled, name: 'primary', role: 'primary', url: primaryUrl,
      probeUrl: this.pooled ? config.database.primaryUrl : undefined,
    });
    const replicaUrls = config.baseline ? [] : config.database.replicaUrls;
    const replicas = replicaUrls.map((url, i) => new ManagedPool({
      ...common, statementTimeoutAtConnect: !config.database.transactionPooler, name: `replica${i + 1}`, role: 'replica', url,
      probeUrl: config.database.replicaSessionUrls[i],
    }));
    this.router = new ReplicaRouter(this.primary, replicas, config.replicas);
    // Patroni's members are reached directly (their addresses come from /cluster), never through PgBouncer.
    this.patroni = config.database.patroniUrls.length > 0 && !config.baseline
      ? new PatroniReplicaSource(config.database.patroniUrls, this.router,
        (name, url) => new ManagedPool({ ...common, name, role: 'replica', url }), config.database.primaryUrl, Math.max(250, config.replicas.pollMs))
      : undefined;
    if (this.patroni) this.router.expectReplicasToJoin();
    this.statementLog = config.log.sql && opts.sqlLog ? new StatementLog(opts.sqlLog) : undefined;
  }

  setObserver(observer: QueryObserver): void {
    this.#observer = observer;
    this.router.setObserver((d) => observer.onRoute(d.query, d));
  }

  /** Calls `listener` with each pool checkout's wait for a connection (admission control); returns the unsubscribe. */
  onAcquireWait(listener: (pool: string, waitMs: number) => void): () => void {
    this.#waitListeners.add(listener);
    return () => { this.#waitListeners.delete(listener); };
  }

  /** The replicas reads may go to now (static ones, and Patroni's members when BGC_PATRONI_URLS is set). */
  get replicas(): readonly ManagedPool[] { return this.router.replicas; }

  /** Opens the pools' standing connections and starts watching replicas. */
  async start(): Promise<void> {
    await this.primary.prefill();
    // A replica that is down at start-up must not stop the app: the router excludes it.
    await Promise.allSettled(this.replicas.map((r) => r.prefill()));
    // The health checks' connections (ManagedPool.probe): the first polls then need no handshake.
    await Promise.allSettled([this.primary, ...this.replicas].map((p) => p.openProbe()));
    // Behind PgBouncer the statement timeout is the server's to set: refuse to run without it.
    if (this.pooled) await assertStatementTimeout([this.primary, ...this.replicas], this.config.pool.statementTimeoutMs);
    // ... and its direct health checks must reach the nodes its pools reach.
    if (this.pooled) await assertChecksReachPoolNode([this.primary, ...this.replicas]);
    await this.patroni?.start();
    await this.router.start();
  }

  /**
   * /readyz: the primary answers SELECT 1 on the health checks' own connection, never queued
   * behind the app's checkouts. Reported as the catalog's system.ping, as any statement.
   */
  async pingPrimary(): Promise<void> {
    const ping = systemQueries.ping;
    await this.#observed(ping, [], this.primary.name, this.primary.role, () => this.primary.probe(ping.text, ping.name));
  }

  async query<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[], ctx: QueryContext = {}): Promise<R[]> {
    if (def.target === 'primary' || ctx.forcePrimary) {
      return this.#run<R>(this.primary, def, params);
    }
    const tried = new Set<ManagedPool>();
    let primaryFailed: unknown;
    for (;;) {
      // Once the primary has failed a read it was chosen for (replicas out of rotation, or
      // none caught up with the reader's last write), a replica that the rotation rules
      // left out is still better than an error, if it has replayed the reader's required
      // LSN. Without this, stopping the primary failed reads whenever a replica had just
      // been taken out by a slow poll or a momentary lag spike (test/chaos/primary.test.ts).
      const decision = primaryFailed === undefined
        ? await this.router.choose(def.name, ctx, tried)
        : await this.router.lastResort(def.name, ctx, tried);
      if (!decision) throw primaryFailed;
      const pool = decision.pool;
      try {
        const rows = await this.#run<R>(pool, def, params);
        if (decision.reason === 'lagging_over_budget' || decision.reason === 'last_resort') ctx.onDegradedRead?.();
        return rows;
      } catch (err) {
        tried.add(pool);
        // This instance's own pool was saturated for the whole acquire wait: the node is
        // fine, and trying the next one would add another wait of the same length (three
        // nodes: 9 s before the 503) and take a healthy replica out of rotation.
        if (!isRetryableReadError(err) || isPoolSaturated(err)) throw err;
        if (pool.role === 'primary') primaryFailed = err;
        else this.router.reportFailure(pool, err);
      }
    }
  }

  async #run<R extends pg.QueryResultRow>(pool: ManagedPool, def: QueryDef, params: readonly unknown[]): Promise<R[]> {
    try {
      return await this.#runOnce<R>(pool, def, params);
    } catch (err) {
      if (pool.role === 'primary' && classifyDbError(err) === 'read_only') return this.#untilWritable<R>(pool, def, params, err);
      // A read-only statement whose established connection died under it (57P01 from
      // pg_terminate_backend or a restart, "Connection terminated", ECONNRESET) had no
      // effect: run it once more on a connection of the same pool that answers a ping (its
      // idle siblings may have been cut at the same moment). Without this, cutting every
      // connection at once on all three nodes failed reads whose every fallback node was
      // cut too (test/chaos/replicas.test.ts).
      // Writes are never retried, and a failure to connect at all (DbUnavailableError) moves
      // on to the next node as before.
      if (def.writes || err instanceof DbUnavailableError || !isConnectionError(err)) throw err;
      return this.#runOnce<R>(pool, def, params, { ping: true });
    }
  }

  /**
   * A statement the primary's address refused as read-only (25006): in a switchover HAProxy
   * sends the leader port to the new leader as soon as it holds the lock, and on a loaded
   * machine it can still be finishing its promotion for a second (test/chaos/ha-failover.test.ts
   * saw 1.1 s). The standby refused the statement, so nothing was written and running it
   * again is safe, writes included: with backoff, for at most READ_ONLY_RETRY_MS, then the
   * error (503 DB_READ_ONLY). A leader demoted for longer (etcd quorum lost) costs that much
   * more before the 503.
   */
  async #untilWritable<R extends pg.QueryResultRow>(pool: ManagedPool, def: QueryDef, params: readonly unknown[], first: unknown): Promise<R[]> {
    const deadline = Date.now() + READ_ONLY_RETRY_MS;
    let last = first;
    for (let delay = 100; Date.now() + delay <= deadline; delay *= 2) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        return await this.#runOnce<R>(pool, def, params);
      } catch (err) {
        if (classifyDbError(err) !== 'read_only') throw err;
        last = err;
      }
    }
    throw last;
  }

  async #runOnce<R extends pg.QueryResultRow>(pool: ManagedPool, def: QueryDef, params: readonly unknown[], opts: { ping?: boolean } = {}): Promise<R[]> {
    this.router.enter(pool);
    try {
      return await this.#observed(def, params, pool.name, pool.role, () => pool.query<R>(def.text, params, this.#prepareAs(def), opts));
    } finally {
      this.router.leave(pool);
    }
  }

  /** Runs one statement and reports it: the query metrics (by catalog name and node) and LOG_SQL. */
  async #observed<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[], node: string, role: NodeRole, run: () => Promise<pg.QueryResult<R>>): Promise<R[]> {
    const started = process.hrtime.bigint();
    let ok = false;
    let rows: number | undefined;
    let error: unknown;
    try {
      const res = await run();
      ok = true;
      rows = res.rows.length;
      return res.rows;
    } catch (err) {
      error = err;
      throw err;
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.#observer.onQuery(def.name, node, role, seconds, ok);
      this.statementLog?.record(def, params, { node, seconds, rows, error });
    }
  }

  /**
   * Unnamed (planned per execution) in the baseline, for catalog entries that ask for custom
   * plans, and behind a transaction pooler (config.database.namedStatements off): there a named
   * statement parsed on one server connection is executed on another that never saw it.
   */
  #prepareAs(def: QueryDef): string | undefined {
    return this.config.baseline || def.plan === 'custom' || !this.config.database.namedStatements ? undefined : def.name;
  }

  /** Runs `fn` in a transaction on the primary. Never retried: a write once sent stays sent. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.primary.withClient(async (client) => {
      await client.query('BEGIN');
      const tx: Tx = {
        // Named like pooled statements: a keyed send (src/services/idempotency.ts) runs
        // chat.send_message in a transaction, and would otherwise be parsed and planned anew each time.
        query: async <R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[]) =>
          this.#observed(def, params, 'primary', 'primary', () => client.query<R>({ name: this.#prepareAs(def), text: def.text, values: params as unknown[] })),
      };
      try {
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        // A lost or unanswering connection has nothing to roll back (the server aborts an
        // open transaction when the connection goes), and a ROLLBACK queued behind a statement
        // that timed out client-side would only wait out the bound a second time.
        // A ROLLBACK that fails leaves the connection in a state nobody knows (still in the
        // transaction, or waiting on it): it is destroyed, never handed to the next request.
        if (!isConnectionError(err)) await client.query('ROLLBACK').catch(() => { this.primary.discard(client); });
        throw err;
      }
    });
  }

  /**
   * Raw access for maintenance code in db/ (migrations, partitions, seeding). On a pooled
   * Database only transaction-scoped state is safe (BEGIN … COMMIT, SET LOCAL, xact locks):
   * session state would stay on a PgBouncer server connection that others use next. Tools
   * that need a session construct their Database with `session: true`.
   */
  async withPrimaryClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.primary.withClient(fn);
  }

  poolStats(): PoolStats[] {
    return [this.primary.stats(), ...this.replicas.map((r) => r.stats())];
  }

  async close(): Promise<void> {
    await this.patroni?.stop();
    this.router.stop();
    await Promise.allSettled([this.primary.close(), ...this.replicas.map((r) => r.close())]);
  }
}

/**
 * How much longer than statement_timeout the client waits before it gives up on a node: the
 * server's own cancel (57014) comes first whenever the server runs at all, with this much
 * slack for a loaded machine. Past it the node is not answering (stopped, frozen, cut off).
 */
const QUERY_TIMEOUT_GRACE_MS = 1_000;

/** The client-side bound for a pooled Database's statements; none when statement_timeout is off. */
function clientQueryTimeout(statementTimeoutMs: number): number | undefined {
  return statementTimeoutMs > 0 ? statementTimeoutMs + QUERY_TIMEOUT_GRACE_MS : undefined;
}

export { DbUnavailableError };
