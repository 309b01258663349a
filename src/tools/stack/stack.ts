import { folderIsOurs, isMarked, markFolder } from './data-dir-marker.ts';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { archiveDir } from '../../partitions/archive-file.ts';
import { LOCAL_STACK } from '../../config/index.ts';
import { PgNode, START_WAIT_S, connectNode, waitForPort } from './postgres-node.ts';
import { RedisNode } from './redis-node.ts';
import { sleep } from './exec.ts';
import { pgDataRoot, preparePgRoot } from './pg-location.ts';
import { commandLine } from './processes.ts';
import { StackPortBusyError, findBusyPorts, suggestOffset, waysOut, type BusyPort, type PortClaim } from './preflight.ts';
import { pgNodeStatus, redisStatus, replicationRows, type NodeStatus } from './node-status.ts';
import { withStackLock } from './stack-lock.ts';

export type { NodeStatus } from './node-status.ts';

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
 * each moved by BGC_STACK_PORT_OFFSET (config.stack). It acts only on its own servers: those
 * whose pid files sit in its data folders (src/tools/stack/processes.ts). A port held by anything
 * else is reported with its holder and stops `up` before anything starts.
 */
export class LocalStack {
  readonly primary: PgNode;
  readonly replicas: PgNode[];
  readonly redis: RedisNode;
  /** The PostgreSQL clusters' folder: in the data folder, or /var/lib/bgc/pg-<hash> as root (pg-location.ts). */
  readonly pgRoot: string;
  readonly layout: StackLayout;
  readonly #portOffset: number;
  readonly #defaultDataDir: string;

  constructor(config: Config, layout?: Partial<StackLayout>) {
    this.layout = {
      dataDir: config.dataDir,
      primaryPort: config.stack.primaryPort,
      replicaPorts: config.stack.replicaPorts,
      redisPort: config.stack.redisPort,
      database: LOCAL_STACK.database,
      ...layout,
    };
    this.#portOffset = config.stack.portOffset;
    this.#defaultDataDir = path.join(config.projectRoot, '.data');
    const { dataDir, primaryPort } = this.layout;
    this.pgRoot = pgDataRoot(dataDir);
    this.primary = new PgNode({ name: 'primary', role: 'primary', port: primaryPort, dir: path.join(this.pgRoot, 'primary'), primaryPort });
    this.replicas = this.layout.replicaPorts.map((port, i) => new PgNode({
      name: `replica${i + 1}`, role: 'replica', port, dir: path.join(this.pgRoot, `replica${i + 1}`), primaryPort,
    }));
    this.redis = new RedisNode({ port: this.layout.redisPort, dir: path.join(dataDir, 'redis'), maxmemory: config.redis.maxmemory, policy: config.redis.policy });
  }

  /** Every port this stack listens on, and whether its own server is already there. */
  portClaims(): PortClaim[] {
    const pg = [this.primary, ...this.replicas].map((n): PortClaim => ({
      port: n.spec.port, name: n.spec.name, ours: n.runningPort() === n.spec.port, postgres: true,
    }));
    const redisPid = this.redis.ownPid();
    // Our Redis is on our port when its (rewritten) process title names that port.
    const redisHere = redisPid !== null && this.#redisTitleHasPort(redisPid);
    return [...pg, { port: this.layout.redisPort, name: 'redis', ours: redisHere }];
  }

  #redisTitleHasPort(pid: number): boolean {
    return new RegExp(`:${this.layout.redisPort}(\\s|$)`).test(commandLine(pid) ?? '');
  }

  /**
   * Checks every port before anything starts, so a taken port fails in well under 2 s with
   * its holder and the two ways out, instead of pg_ctl waiting 60 s for a server that cannot bind.
   */
  async preflight(alsoFree: readonly PortClaim[] = []): Promise<void> {
    const moved: BusyPort[] = [];
    for (const n of [this.primary, ...this.replicas]) {
      const at = n.runningPort();
      if (at !== null && at !== n.spec.port) {
        moved.push({ port: n.spec.port, name: n.spec.name, pid: n.ownPid(), detail: `this checkout's own ${n.spec.name} runs on port ${at} instead (started with another BGC_STACK_PORT_OFFSET); run \`npx bgc stack down\` first` });
      }
    }
    const busy = [...moved, ...await findBusyPorts([...this.portClaims(), ...alsoFree])];
    if (busy.length === 0) return;
    const portsAt = (o: number) => [...LOCAL_STACK.replicaPorts, LOCAL_STACK.primaryPort, LOCAL_STACK.redisPort, 3000, 3001].map((p) => p + o);
    const offset = suggestOffset(this.#portOffset, portsAt);
    throw new StackPortBusyError(busy, waysOut(busy, offset === null ? null : {
      offset, ports: [LOCAL_STACK.primaryPort, ...LOCAL_STACK.replicaPorts, LOCAL_STACK.redisPort].map((p) => p + offset),
    }));
  }

  /** Idempotent: checks the ports, creates what is missing, starts what is stopped, waits for streaming. */
  async up(progress: Progress = () => undefined, opts: { alsoFree?: readonly PortClaim[] } = {}): Promise<void> {
    // Before the lock, which creates the folder: a folder that held anything else is not ours to purge.
    const ours = folderIsOurs(this.layout.dataDir);
    // One up or down at a time per folder (stack-lock.ts); a second waits, then finds it done.
    await withStackLock(this.layout.dataDir, () => this.#up(progress, { ...opts, ours }),
      { onWait: (pid) => progress(`waiting for another bgc stack command (pid ${pid}) on ${this.layout.dataDir}`) });
  }

  async #up(progress: Progress, opts: { alsoFree?: readonly PortClaim[]; ours: boolean }): Promise<void> {
    await this.preflight(opts.alsoFree);
    fs.mkdirSync(this.layout.dataDir, { recursive: true });
    if (opts.ours) markFolder(this.layout.dataDir);
    preparePgRoot(this.pgRoot, this.layout.dataDir);
    if (this.primary.initInterrupted && !(await this.primary.isRunning())) {
      // Our own initdb of it never finished (its sentinel is still there): no data in it.
      progress(`the primary's folder ${this.primary.spec.dir} was left half-made (initdb interrupted); making it again`);
      fs.rmSync(this.primary.spec.dir, { recursive: true, force: true });
    }
    if (!this.primary.exists) { progress(`initdb primary in ${this.primary.spec.dir}`); await this.primary.initPrimary(); }
    if (!(await this.primary.isRunning())) { progress(`starting primary on ${this.primary.spec.port}`); await this.primary.start(); }
    // A primary an earlier `up` left recovering (pg_ctl timed out, the server went on) is waited
    // for as long as a start may take, while its process lives.
    await waitForPort(this.primary.spec.port, START_WAIT_S * 1000, () => this.primary.ownPid() !== null);
    await this.#ensureDatabase();
    for (const r of this.replicas) {
      const running = await r.isRunning();
      if (!r.exists || (!running && !r.replicaComplete)) {
        progress(r.exists ? `pg_basebackup ${r.spec.name} again: its last copy did not finish` : `pg_basebackup ${r.spec.name}`);
        await r.initReplica();
      }
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

  /**
   * Stops this stack's own servers (a server of another folder on our ports is left alone).
   * With purge, deletes this stack's data: the PostgreSQL folder, and the data folder when
   * `up` made it (or it is the checkout's default .data); in any other folder only the
   * stack's own subfolders, so BGC_DATA_DIR=/somewhere never deletes /somewhere. Returns what it deleted.
   */
  async down(opts: { purge?: boolean } = {}): Promise<string[]> {
    if (!fs.existsSync(this.layout.dataDir)) return this.#down(opts);
    return withStackLock(this.layout.dataDir, () => this.#down(opts));
  }

  async #down(opts: { purge?: boolean }): Promise<string[]> {
    for (const r of this.replicas) await r.stop();
    await this.primary.stop();
    await this.redis.stop();
    if (!opts.purge) return [];
    const alive = [this.primary, ...this.replicas, this.redis].map((n) => n.ownPid()).filter((p) => p !== null);
    if (alive.length > 0) throw new Error(`not purging: this stack's servers ${alive.join(', ')} are still running`);
    const { dataDir } = this.layout;
    const whole = isMarked(dataDir) || path.resolve(dataDir) === this.#defaultDataDir;
    // Archived months' files may be the only copy of their rows (docs/RELIABILITY.md): a purge
    // keeps the archive folder when it holds any, whatever database they belong to.
    const archive = archiveDir(dataDir);
    const keepArchive = whole && holdsFiles(archive);
    const wholeTargets = keepArchive ? fs.readdirSync(dataDir).map((e) => path.join(dataDir, e)).filter((p) => path.resolve(p) !== path.resolve(archive)) : [dataDir];
    const targets = whole ? [this.pgRoot, ...wholeTargets] : [this.pgRoot, this.redis.spec.dir, path.join(dataDir, 'monitoring')];
    const removed = targets.filter((t) => fs.existsSync(t));
    for (const t of removed) fs.rmSync(t, { recursive: true, force: true });
    return removed;
  }

  /** Each node as this stack sees it: its own servers, or who else holds its port ('foreign'). */
  async status(): Promise<NodeStatus[]> {
    const primary = await pgNodeStatus(this.primary, new Map());
    const replication = primary.state === 'running' ? await replicationRows(this.primary.spec.port) : new Map();
    const replicas = await Promise.all(this.replicas.map((r) => pgNodeStatus(r, replication)));
    return [primary, ...replicas, await redisStatus(this.redis)];
  }
}

/** Whether a folder holds at least one file, at any depth. */
function holdsFiles(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  return fs.readdirSync(dir, { withFileTypes: true }).some((e) => e.isFile() || (e.isDirectory() && holdsFiles(path.join(dir, e.name))));
}
