import crypto from 'node:crypto';
import fs from 'node:fs';
import { findOnPath, findPgBinDir } from '../exec.ts';
import { connectNode } from '../postgres-node.ts';
import { preparePgRoot } from '../pg-location.ts';
import { StackPortBusyError, findBusyPorts, waysOut, type PortClaim } from '../preflight.ts';
import { withStackLock } from '../stack-lock.ts';
import { EtcdMember, type EtcdMemberStatus } from './etcd.ts';
import { Haproxy, type HaproxyServerState } from './haproxy.ts';
import type { HaLayout } from './layout.ts';
import { signal, until } from './owned-process.ts';
import { HA_SETTINGS } from './patroni-config.ts';
import { PatroniMember } from './patroni-member.ts';
import { fetchCluster, type PatroniCluster } from './patroni-rest.ts';

export type Progress = (message: string) => void;

export interface HaMemberStatus {
  readonly name: string;
  readonly port: number;
  readonly restPort: number;
  /** leader | sync_standby | replica, from Patroni's /cluster; 'unknown' when no Patroni answers. */
  readonly role: string;
  /** Patroni's member state (running, streaming, starting, stopped, …), or 'down' when absent from /cluster. */
  readonly state: string;
  readonly timeline: number | null;
  readonly lagBytes: number | null;
  readonly keeperPid: number | null;
  readonly patroniPid: number | null;
  readonly postmasterPid: number | null;
}

export interface HaStatus {
  readonly members: HaMemberStatus[];
  readonly etcd: EtcdMemberStatus[];
  readonly haproxy: { readonly running: boolean; readonly primaryPort: number; readonly replicaPort: number; readonly statsPort: number; readonly servers: HaproxyServerState[] };
}

/**
 * The high-availability stack (DESIGN §7, docs/OPERATIONS.md "High availability"): three
 * PostgreSQL members under Patroni, a three-member etcd cluster for Patroni's leader lock,
 * and HAProxy with a leader port and a replica port. Every process it starts records its
 * pid under its own folder of `layout.root`; `down` signals only those.
 */
export class HaStack {
  readonly etcd: EtcdMember[];
  readonly members: PatroniMember[];
  readonly haproxy: Haproxy;

  constructor(readonly layout: HaLayout) {
    const token = `${layout.scope}-${crypto.createHash('sha256').update(layout.root).digest('hex').slice(0, 12)}`;
    this.etcd = layout.etcd.map((e) => new EtcdMember(e, layout.etcd, token));
    const binDir = findPgBinDir();
    this.members = layout.members.map((m) => new PatroniMember(m, layout, binDir));
    this.haproxy = new Haproxy(layout);
  }

  get restUrls(): string[] { return this.members.map((m) => m.restUrl); }

  /**
   * Every port this stack listens on, and whether its own process already runs there. etcd's
   * Debian package starts a system etcd on 2379/2380 where systemd runs: etcd1's ports at offset 0.
   */
  portClaims(): PortClaim[] {
    const etcd = this.etcd.flatMap((e): PortClaim[] => [
      { port: e.spec.clientPort, name: `${e.spec.name} (client)`, ours: e.pid !== undefined },
      { port: e.spec.peerPort, name: `${e.spec.name} (peer)`, ours: e.pid !== undefined },
    ]);
    // A member whose keeper runs is ours, whatever Patroni and its PostgreSQL are doing (a
    // restart in progress still holds or frees its ports).
    const members = this.members.flatMap((m): PortClaim[] => {
      const ours = m.keeperPid !== undefined || m.patroniPid !== undefined || m.postmasterPid !== undefined;
      return [
        { port: m.spec.pgPort, name: `${m.spec.name} (PostgreSQL)`, ours, postgres: true },
        { port: m.spec.restPort, name: `${m.spec.name} (Patroni REST)`, ours },
      ];
    });
    const proxyOurs = this.haproxy.pid !== undefined;
    const { primaryPort, replicaPort, statsPort } = this.layout.haproxy;
    const proxy = ([[primaryPort, 'HAProxy leader'], [replicaPort, 'HAProxy replicas'], [statsPort, 'HAProxy stats']] as const)
      .map(([port, name]): PortClaim => ({ port, name, ours: proxyOurs }));
    return [...etcd, ...members, ...proxy];
  }

  /** Idempotent: starts what is not running, waits for a leader, two streaming replicas and HAProxy. */
  async up(progress: Progress = () => undefined, timeoutMs = 180_000): Promise<void> {
    // One up or down at a time per HA stack (stack-lock.ts): two at once started two keepers per member.
    await withStackLock(this.layout.root, () => this.#up(progress, timeoutMs),
      { onWait: (pid) => progress(`waiting for another bgc stack command (pid ${pid}) on ${this.layout.root}`) });
  }

  async #up(progress: Progress, timeoutMs: number): Promise<void> {
    for (const [bin, pkg] of [['patroni', 'patroni'], ['etcd', 'etcd-server'], ['haproxy', 'haproxy']] as const) findOnPath(bin, [pkg]);
    // Every port before anything starts: a port held by another process fails here with its
    // holder, instead of a member that cannot bind while another server answers in its place.
    const busy = await findBusyPorts(this.portClaims());
    if (busy.length > 0) throw new StackPortBusyError(busy, waysOut(busy, null));
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1_000, deadline - Date.now());
    preparePgRoot(this.layout.root, this.layout.origin);
    progress(`starting etcd on ${this.layout.etcd.map((e) => e.clientPort).join(', ')}`);
    for (const e of this.etcd) e.start();
    await until('etcd: every member healthy', async () => (await Promise.all(this.etcd.map((e) => e.healthy()))).every(Boolean), left());
    progress(`starting Patroni members (PostgreSQL ${this.layout.members.map((m) => m.pgPort).join(', ')}; REST ${this.layout.members.map((m) => m.restPort).join(', ')})`);
    for (const m of this.members) m.start();
    progress('waiting for a leader and two streaming replicas');
    await this.waitHealthy(left());
    progress(`starting HAProxy (leader ${this.layout.haproxy.primaryPort}, replicas ${this.layout.haproxy.replicaPort}, stats ${this.layout.haproxy.statsPort})`);
    await this.haproxy.start();
    await until('HAProxy: the leader port reaches a primary', () => this.#leaderPortIsPrimary(), left());
    // Retried (bounded): the leader may change or restart once more while the cluster settles.
    let lastError: unknown;
    await until('the bgc database and pg_stat_statements on the leader', async () => {
      try { await this.#ensureDatabase(); return true; } catch (err) { lastError = err; return false; }
    }, left(), 500).catch((err: unknown) => { throw new Error(`${String(err)}; last error: ${String(lastError)}`); });
  }

  /** Resolves once /cluster shows one leader and every other member streaming from it with a known lag. */
  async waitHealthy(timeoutMs: number): Promise<PatroniCluster> {
    let last: PatroniCluster | undefined;
    await until('Patroni: one leader and every replica streaming', async () => {
      last = await fetchCluster(this.restUrls);
      return last !== undefined && isHealthy(last, this.members.length);
    }, timeoutMs, 250).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last /cluster: ${JSON.stringify(last)}`);
    });
    return last as PatroniCluster;
  }

  async #leaderPortIsPrimary(): Promise<boolean> {
    try {
      const c = await connectNode(this.layout.haproxy.primaryPort, 'postgres', 1_000);
      try {
        const { rows } = await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        return rows[0]?.r === false;
      } finally { await c.end(); }
    } catch {
      return false;
    }
  }

  async #ensureDatabase(): Promise<void> {
    const port = this.layout.haproxy.primaryPort;
    const c = await connectNode(port);
    try {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.layout.database]);
      if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${this.layout.database}"`);
    } finally { await c.end(); }
    const b = await connectNode(port, this.layout.database);
    try { await b.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'); } finally { await b.end(); }
  }

  /** Stops HAProxy, the members (replicas first, so none fails over), then etcd; `purge` deletes the data. */
  async down(opts: { purge?: boolean } = {}): Promise<void> {
    if (!fs.existsSync(this.layout.root)) return;
    await withStackLock(this.layout.root, () => this.#down(opts));
  }

  async #down(opts: { purge?: boolean }): Promise<void> {
    await this.haproxy.stop();
    const cluster = await fetchCluster(this.restUrls);
    const leader = cluster?.members.find((m) => m.role === 'leader')?.name;
    await Promise.all(this.members.filter((m) => m.spec.name !== leader).map((m) => m.stop()));
    await Promise.all(this.members.filter((m) => m.spec.name === leader).map((m) => m.stop()));
    await Promise.all(this.etcd.map((e) => e.stop()));
    if (opts.purge) fs.rmSync(this.layout.root, { recursive: true, force: true });
  }

  /**
   * SIGKILL of every process of this stack, synchronously: for a test process's 'exit' hook,
   * when afterAll never ran (a worker torn down). Keepers first, so none restarts Patroni.
   */
  killAllNow(): void {
    const pids = [
      ...this.members.map((m) => m.keeperPid), ...this.members.map((m) => m.patroniPid), ...this.members.map((m) => m.postmasterPid),
      ...this.etcd.map((e) => e.pid), this.haproxy.pid,
    ];
    for (const pid of pids) if (pid !== undefined) signal(pid, 'SIGKILL');
  }

  async status(): Promise<HaStatus> {
    const cluster = await fetchCluster(this.restUrls);
    const members = this.members.map((m): HaMemberStatus => {
      const c = cluster?.members.find((x) => x.name === m.spec.name);
      return {
        name: m.spec.name, port: m.spec.pgPort, restPort: m.spec.restPort,
        role: c?.role ?? (cluster ? 'absent' : 'unknown'),
        state: c?.state ?? 'down',
        timeline: c?.timeline ?? null,
        lagBytes: typeof c?.lag === 'number' ? c.lag : null,
        keeperPid: m.keeperPid ?? null, patroniPid: m.patroniPid ?? null, postmasterPid: m.postmasterPid ?? null,
      };
    });
    const { primaryPort, replicaPort, statsPort } = this.layout.haproxy;
    return {
      members,
      etcd: await Promise.all(this.etcd.map((e) => e.status())),
      haproxy: { running: this.haproxy.pid !== undefined, primaryPort, replicaPort, statsPort, servers: await this.haproxy.servers() },
    };
  }
}

/**
 * One leader, a synchronous standby (until Patroni has named one, no member may be promoted,
 * so a leader lost then would not fail over), and every other member running or streaming
 * with a numeric lag (it has a replay position).
 */
export function isHealthy(cluster: PatroniCluster, expectedMembers: number): boolean {
  const leaders = cluster.members.filter((m) => m.role === 'leader' && m.state === 'running');
  const replicas = cluster.members.filter((m) => m.role !== 'leader');
  const sync = replicas.filter((m) => m.role === 'sync_standby');
  return cluster.members.length === expectedMembers && leaders.length === 1 && sync.length === HA_SETTINGS.synchronous_node_count &&
    replicas.every((m) => (m.state === 'running' || m.state === 'streaming') && typeof m.lag === 'number');
}
