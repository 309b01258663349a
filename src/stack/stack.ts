import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { LOCAL_STACK } from '../config/index.ts';
import { PgNode, connectNode, waitForPort } from './postgres-node.ts';
import { RedisNode } from './redis-node.ts';
import { sleep } from './exec.ts';

export interface NodeStatus {
  readonly name: string;
  readonly role: 'primary' | 'replica' | 'redis';
  readonly port: number;
  /** running | stopped | streaming | catchup | not_streaming | absent */
  readonly state: string;
  readonly lagBytes?: number | null;
  readonly lagSeconds?: number | null;
  readonly detail?: Record<string, unknown>;
}

export type Progress = (message: string) => void;

/** Where a stack lives; the default is DESIGN §2's ports, tests may run private stacks elsewhere. */
export interface StackLayout {
  readonly dataDir: string;
  readonly primaryPort: number;
  readonly replicaPorts: readonly number[];
  readonly redisPort: number;
  readonly database: string;
}

/**
 * The local development stack of DESIGN §2: primary 54320, replicas 54321/54322, Redis 63790,
 * each moved by BGC_STACK_PORT_OFFSET (config.stack).
 */
export class LocalStack {
  readonly primary: PgNode;
  readonly replicas: PgNode[];
  readonly redis: RedisNode;
  readonly pgRoot: string;

  readonly layout: StackLayout;

  constructor(config: Config, layout?: Partial<StackLayout>) {
    this.layout = {
      dataDir: config.dataDir,
      primaryPort: config.stack.primaryPort,
      replicaPorts: config.stack.replicaPorts,
      redisPort: config.stack.redisPort,
      database: LOCAL_STACK.database,
      ...layout,
    };
    const { dataDir, primaryPort } = this.layout;
    this.pgRoot = path.join(dataDir, 'pg');
    this.primary = new PgNode({ name: 'primary', role: 'primary', port: primaryPort, dir: path.join(this.pgRoot, 'primary'), primaryPort });
    this.replicas = this.layout.replicaPorts.map((port, i) => new PgNode({
      name: `replica${i + 1}`, role: 'replica', port, dir: path.join(this.pgRoot, `replica${i + 1}`), primaryPort,
    }));
    this.redis = new RedisNode({ port: this.layout.redisPort, dir: path.join(dataDir, 'redis'), maxmemory: config.redis.maxmemory, policy: config.redis.policy });
  }

  /** Idempotent: creates what is missing, starts what is stopped, waits for streaming. */
  async up(progress: Progress = () => undefined): Promise<void> {
    fs.mkdirSync(this.layout.dataDir, { recursive: true });
    PgNode.prepareRoot(this.pgRoot);
    if (!this.primary.exists) { progress('initdb primary'); await this.primary.initPrimary(); }
    if (!(await this.primary.isRunning())) { progress(`starting primary on ${this.primary.spec.port}`); await this.primary.start(); }
    await waitForPort(this.primary.spec.port, 30_000);
    await this.#ensureDatabase();
    for (const r of this.replicas) {
      if (!r.exists) { progress(`pg_basebackup ${r.spec.name}`); await r.initReplica(); }
      if (!(await r.isRunning())) { progress(`starting ${r.spec.name} on ${r.spec.port}`); await r.start(); }
    }
    progress(`starting redis on ${this.redis.spec.port}`);
    await this.redis.start();
    progress('waiting for replicas to stream');
    await this.#waitStreaming(60_000);
  }

  async #ensureDatabase(): Promise<void> {
    const c = await connectNode(this.layout.primaryPort);
    try {
      const exists = await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [this.layout.database]);
      if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${this.layout.database}"`);
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    } finally {
      await c.end();
    }
    const b = await connectNode(this.layout.primaryPort, this.layout.database);
    try { await b.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'); } finally { await b.end(); }
  }

  async #waitStreaming(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.status();
      if (st.filter((n) => n.role === 'replica').every((n) => n.state === 'streaming')) return;
      if (Date.now() > deadline) throw new Error(`replicas not streaming after ${timeoutMs} ms: ${JSON.stringify(st)}`);
      await sleep(250);
    }
  }

  async down(opts: { purge?: boolean } = {}): Promise<void> {
    for (const r of this.replicas) await r.stop();
    await this.primary.stop();
    await this.redis.stop();
    if (opts.purge) fs.rmSync(this.layout.dataDir, { recursive: true, force: true });
  }

  async status(): Promise<NodeStatus[]> {
    const out: NodeStatus[] = [];
    const primaryUp = await this.primary.isRunning();
    let replication = new Map<string, { state: string; lag_bytes: string | null; replay_lag: number | null }>();
    if (primaryUp) {
      try {
        const c = await connectNode(this.primary.spec.port);
        try {
          const res = await c.query<{ application_name: string; state: string; lag_bytes: string | null; replay_lag: number | null }>(
            `SELECT application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text AS lag_bytes,
                    EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag
               FROM pg_stat_replication`);
          replication = new Map(res.rows.map((r) => [r.application_name, r]));
        } finally { await c.end(); }
      } catch { /* reported as the primary's state below */ }
    }
    out.push({ name: 'primary', role: 'primary', port: this.primary.spec.port, state: primaryUp ? 'running' : (this.primary.exists ? 'stopped' : 'absent') });
    for (const r of this.replicas) {
      const up = await r.isRunning();
      const rep = replication.get(r.spec.name);
      const state = !r.exists ? 'absent' : !up ? 'stopped' : rep ? rep.state : 'not_streaming';
      out.push({
        name: r.spec.name, role: 'replica', port: r.spec.port, state,
        lagBytes: rep?.lag_bytes != null ? Number(rep.lag_bytes) : null,
        lagSeconds: rep?.replay_lag ?? (rep ? 0 : null),
      });
    }
    const info = await this.redis.info();
    out.push({
      name: 'redis', role: 'redis', port: this.redis.spec.port, state: info ? 'running' : 'stopped',
      ...(info ? { detail: { maxmemory: info.maxmemory, policy: info.policy, used_memory: info.usedMemory } } : {}),
    });
    return out;
  }
}
