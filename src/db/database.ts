import type pg from 'pg';
import type { Config } from '../config/index.ts';
import type { QueryDef } from '../catalog/types.ts';
import { ManagedPool, type PoolStats } from './managed-pool.ts';
import { DbUnavailableError, isRetryableReadError } from './errors.ts';
import { ReplicaRouter, type RouteDecision } from './replica-router.ts';

/** Per-request routing context: who is asking, and what they must be able to see. */
export interface QueryContext {
  /** The acting user; their last write's LSN (read-your-writes) is looked up by it. */
  readonly userId?: string;
  /** An LSN the client says it has seen (the X-BGC-LSN header), e.g. "0/3000148". */
  readonly minLsn?: string;
  readonly forcePrimary?: boolean;
}

export interface QueryObserver {
  onQuery(name: string, node: string, role: 'primary' | 'replica', seconds: number, ok: boolean): void;
  onRoute(name: string, decision: RouteDecision): void;
}

export interface Tx {
  query<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[]): Promise<R[]>;
}

const noopObserver: QueryObserver = { onQuery: () => undefined, onRoute: () => undefined };

/**
 * The db router (DESIGN §1): the only place that holds pools. Repositories hand it a
 * catalog entry; it picks the node, runs the statement, retries reads elsewhere on a
 * connection error or recovery conflict, and reports every decision to the observer.
 */
export class Database {
  readonly primary: ManagedPool;
  readonly replicas: readonly ManagedPool[];
  readonly router: ReplicaRouter;
  #observer: QueryObserver = noopObserver;

  constructor(readonly config: Config, opts: { applicationName?: string; lazy?: boolean; onPoolError?: (err: Error, node: string) => void } = {}) {
    const applicationName = opts.applicationName ?? 'bgc-api';
    const poolCfg = config.baseline
      ? { ...config.pool, size: 0, maxOverflow: 10, prePingAfterMs: Number.MAX_SAFE_INTEGER, maxLifetimeSeconds: 0 } // pg defaults: max 10, lazy
      : config.pool;
    const common = { pool: poolCfg, applicationName, onError: opts.onPoolError, lazy: opts.lazy ?? config.baseline };
    this.primary = new ManagedPool({ ...common, name: 'primary', role: 'primary', url: config.database.primaryUrl });
    const replicaUrls = config.baseline ? [] : config.database.replicaUrls;
    this.replicas = replicaUrls.map((url, i) => new ManagedPool({ ...common, name: `replica${i + 1}`, role: 'replica', url }));
    this.router = new ReplicaRouter(this.primary, this.replicas, config.replicas);
  }

  setObserver(observer: QueryObserver): void {
    this.#observer = observer;
    this.router.setObserver((d) => observer.onRoute(d.query, d));
  }

  /** Opens the pools' standing connections and starts watching replicas. */
  async start(): Promise<void> {
    await this.primary.prefill();
    // A replica that is down at start-up must not stop the app: the router excludes it.
    await Promise.allSettled(this.replicas.map((r) => r.prefill()));
    await this.router.start();
  }

  async query<R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[], ctx: QueryContext = {}): Promise<R[]> {
    if (def.target === 'primary' || ctx.forcePrimary) {
      return this.#run<R>(this.primary, def, params);
    }
    const tried = new Set<ManagedPool>();
    for (;;) {
      const decision = await this.router.choose(def.name, ctx, tried);
      const pool = decision.pool;
      try {
        const rows = await this.#run<R>(pool, def, params);
        return rows;
      } catch (err) {
        tried.add(pool);
        if (pool.role === 'primary' || !isRetryableReadError(err)) throw err;
        this.router.reportFailure(pool, err);
      }
    }
  }

  async #run<R extends pg.QueryResultRow>(pool: ManagedPool, def: QueryDef, params: readonly unknown[]): Promise<R[]> {
    const started = process.hrtime.bigint();
    this.router.enter(pool);
    let ok = false;
    try {
      const res = await pool.query<R>(def.text, params, this.config.baseline ? undefined : def.name);
      ok = true;
      return res.rows;
    } finally {
      this.router.leave(pool);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.#observer.onQuery(def.name, pool.name, pool.role, seconds, ok);
    }
  }

  /** Runs `fn` in a transaction on the primary. Never retried: a write once sent stays sent. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.primary.withClient(async (client) => {
      await client.query('BEGIN');
      const tx: Tx = {
        query: async <R extends pg.QueryResultRow>(def: QueryDef, params: readonly unknown[]) => {
          const started = process.hrtime.bigint();
          let ok = false;
          try {
            const res = await client.query<R>({ text: def.text, values: params as unknown[] });
            ok = true;
            return res.rows;
          } finally {
            this.#observer.onQuery(def.name, 'primary', 'primary', Number(process.hrtime.bigint() - started) / 1e9, ok);
          }
        },
      };
      try {
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Raw access for maintenance code in db/ (migrations, partitions, seeding). */
  async withPrimaryClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.primary.withClient(fn);
  }

  poolStats(): PoolStats[] {
    return [this.primary.stats(), ...this.replicas.map((r) => r.stats())];
  }

  async close(): Promise<void> {
    this.router.stop();
    await Promise.allSettled([this.primary.close(), ...this.replicas.map((r) => r.close())]);
  }
}

export { DbUnavailableError };
