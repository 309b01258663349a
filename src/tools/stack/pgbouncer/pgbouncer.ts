import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { findOnPath, isRoot, PG_OS_USER } from '../exec.ts';
import { ownedPid, startOwned, stopOwned, until } from '../ha/owned-process.ts';
import { findBusyPorts } from '../preflight.ts';
import { pgbouncerAuthFile, pgbouncerIni, type PgBouncerNodeSpec } from './config.ts';

export interface PgBouncerLayout {
  /** Each node's config, log and pid file go in <dir>/<node name>. */
  readonly dir: string;
  readonly nodes: readonly PgBouncerNodeSpec[];
}

export type PgBouncerStatus = {
  readonly name: string;
  readonly port: number;
  readonly server_port: number;
  readonly pid: number | null;
  readonly state: 'running' | 'stopped';
};

/** Server connections per node (issue 18: 20 instances hold at most 40 per PostgreSQL node). */
export const DEFAULT_PGBOUNCER_POOL_SIZE = 40;

/**
 * `bgc stack up --pgbouncer`: one PgBouncer 1.18 (Debian) per PostgreSQL node, in transaction
 * pooling mode, started detached with a pid file, signalled only after checking that the pid
 * still runs our command line (its config path), like the fleet's HAProxy. As root it drops to
 * the `postgres` user itself (`-u`), since PgBouncer refuses to run as root.
 */
export class PgBouncerStack {
  constructor(readonly layout: PgBouncerLayout) {}

  nodeDir(name: string): string { return path.join(this.layout.dir, name); }
  #ini(name: string): string { return path.join(this.nodeDir(name), 'pgbouncer.ini'); }
  #pidFile(name: string): string { return path.join(this.nodeDir(name), 'pgbouncer.pid'); }
  #log(name: string): string { return path.join(this.nodeDir(name), 'pgbouncer.log'); }

  node(name: string): PgBouncerNodeSpec {
    const n = this.layout.nodes.find((s) => s.name === name);
    if (!n) throw new Error(`no PgBouncer for node ${name}`);
    return n;
  }

  pidOf(name: string): number | undefined { return ownedPid(this.#pidFile(name), this.#ini(name)); }

  /** postgres://postgres@127.0.0.1:<its port>/<database>: what the app's pools use for that node. */
  url(name: string, database: string): string {
    return `postgres://postgres@127.0.0.1:${this.node(name).port}/${encodeURIComponent(database)}`;
  }

  /** Starts every PgBouncer that is not running yet and waits until each passes a query through. */
  async up(progress: (line: string) => void = () => undefined, timeoutMs = 20_000): Promise<void> {
    const bin = findOnPath('pgbouncer', ['pgbouncer']);
    const busy = await findBusyPorts(this.layout.nodes.map((n) => ({ port: n.port, name: `pgbouncer-${n.name}`, ours: this.pidOf(n.name) !== undefined })));
    if (busy.length > 0) throw new Error(`PgBouncer not started: ${busy.map((b) => `port ${b.port} (${b.name}) ${b.detail}`).join('; ')}`);
    for (const n of this.layout.nodes) {
      if (this.pidOf(n.name) !== undefined) continue;
      const dir = this.nodeDir(n.name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      // Readable by the `postgres` user PgBouncer runs as (it re-reads auth_file on reload).
      fs.writeFileSync(n.authFile, pgbouncerAuthFile([PG_OS_USER]), { mode: 0o644 });
      fs.writeFileSync(this.#ini(n.name), pgbouncerIni(n), { mode: 0o644 });
      startOwned({
        bin, args: [...(isRoot() ? ['-u', PG_OS_USER] : []), this.#ini(n.name)],
        pidFile: this.#pidFile(n.name), logFile: this.#log(n.name), marker: this.#ini(n.name),
      });
    }
    for (const n of this.layout.nodes) {
      const ms = await until(`PgBouncer for ${n.name} passing queries`, async () => {
        if (this.pidOf(n.name) === undefined) throw new Error(`PgBouncer for ${n.name} exited: ${tail(this.#log(n.name))}`);
        return passesQuery(n.port);
      }, timeoutMs, 100);
      progress(`pgbouncer ${n.name} on port ${n.port} → node port ${n.serverPort}, at most ${n.poolSize} server connections (${ms} ms)`);
    }
  }

  status(): PgBouncerStatus[] {
    return this.layout.nodes.map((n) => {
      const pid = this.pidOf(n.name);
      return { name: `pgbouncer-${n.name}`, port: n.port, server_port: n.serverPort, pid: pid ?? null, state: pid === undefined ? 'stopped' : 'running' };
    });
  }

  /** SIGTERM (PgBouncer closes its connections) each one that is ours; SIGKILL after 10 s. */
  async down(): Promise<void> {
    await Promise.all(this.layout.nodes.map((n) => stopOwned(this.#pidFile(n.name), this.#ini(n.name), 10_000)));
  }
}

async function passesQuery(port: number): Promise<boolean> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: PG_OS_USER, database: 'postgres', connectionTimeoutMillis: 1_000, application_name: 'bgc-stack' });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function tail(file: string): string {
  try { return fs.readFileSync(file, 'utf8').slice(-2_000); } catch { return '(no log)'; }
}
