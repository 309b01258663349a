import fs from 'node:fs';
import { findOnPath, sleep } from '../exec.ts';
import { findBusyPorts, StackPortBusyError, waysOut, type PortClaim } from '../preflight.ts';
import type { SentinelLayout } from './layout.ts';
import { infoField, redisCli, SentinelMember } from './members.ts';

export type Progress = (message: string) => void;

export interface SentinelNodeStatus {
  readonly name: string;
  readonly port: number;
  /** master | replica (of the port named in detail) | sentinel | down */
  readonly role: string;
  readonly pid: number | null;
  readonly detail: string;
}

export interface SentinelStatus {
  readonly masterName: string;
  /** The master's port as the sentinels report it (the first that answers), or null. */
  readonly masterPort: number | null;
  readonly nodes: SentinelNodeStatus[];
}

/** `redis-cli SENTINEL MASTER <name>` prints field and value on alternate lines. */
function pairs(text: string | undefined): Map<string, string> {
  const lines = (text ?? '').split('\n').map((l) => l.trim());
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) out.set(lines[i] ?? '', lines[i + 1] ?? '');
  return out;
}

/**
 * The Sentinel mode of the local stack (docs/OPERATIONS.md, "Redis Sentinel"): one Redis
 * master, two replicas and three sentinels (quorum 2) on loopback. It is a cache, so
 * nothing persists: a set found partly running is stopped and started again from scratch
 * (redis1 as the master), never patched up from the roles a failover left behind.
 */
export class SentinelStack {
  readonly redis: SentinelMember[];
  readonly sentinels: SentinelMember[];

  constructor(readonly layout: SentinelLayout) {
    this.redis = layout.redis.map((n) => new SentinelMember(n, 'redis'));
    this.sentinels = layout.sentinels.map((n) => new SentinelMember(n, 'sentinel'));
  }

  get members(): SentinelMember[] { return [...this.redis, ...this.sentinels]; }

  portClaims(): PortClaim[] {
    return this.members.map((m) => ({ port: m.port, name: `${m.kind} ${m.name}`, ours: m.pid() !== null }));
  }

  /** Idempotent: a healthy running set is left alone; otherwise (re)started and waited for. */
  async up(progress: Progress = () => undefined, timeoutMs = 60_000): Promise<void> {
    findOnPath('redis-server', ['redis-server']);
    findOnPath('redis-sentinel', ['redis-sentinel']);
    if (this.members.every((m) => m.pid() !== null) && (await this.healthy())) {
      progress(`Redis Sentinel set already running (master on ${await this.masterPort()})`);
      return;
    }
    await this.down();
    const busy = await findBusyPorts(this.portClaims());
    if (busy.length > 0) throw new StackPortBusyError(busy, waysOut(busy, null));
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1_000, deadline - Date.now());
    const [master, ...replicas] = this.redis;
    if (!master) throw new Error('Sentinel layout without Redis nodes');
    progress(`starting Redis master on ${master.port}, replicas on ${replicas.map((r) => r.port).join(', ')}`);
    await master.startRedis(this.layout, undefined);
    for (const r of replicas) await r.startRedis(this.layout, master.port);
    for (const r of this.redis) await r.waitUp(left());
    progress(`starting sentinels on ${this.sentinels.map((s) => s.port).join(', ')} (master name "${this.layout.masterName}")`);
    for (const s of this.sentinels) await s.startSentinel(this.layout, master.port);
    for (const s of this.sentinels) await s.waitUp(left());
    const started = Date.now();
    while (!(await this.healthy())) {
      if (Date.now() > deadline) throw new Error(`Redis Sentinel set not healthy within ${timeoutMs} ms; see ${this.sentinels[0]?.logFile ?? 'the sentinel logs'}`);
      await sleep(200);
    }
    progress(`sentinels agree on the master, both replicas linked, every sentinel sees the others (${Date.now() - started} ms)`);
  }

  /**
   * Every sentinel names the same master, knows both replicas (none down) and the other
   * sentinels, and every replica's link to that master is up: ready for a failover.
   */
  async healthy(): Promise<boolean> {
    const want = this.redis.length - 1;
    const views = await Promise.all(this.sentinels.map(async (s) => pairs(await redisCli(s.port, ['SENTINEL', 'MASTER', this.layout.masterName]))));
    const ports = new Set(views.map((v) => v.get('port')));
    if (ports.size !== 1 || !views.every((v) => v.get('flags') === 'master' && Number(v.get('num-slaves')) === want
      && Number(v.get('num-other-sentinels')) === this.sentinels.length - 1)) return false;
    const masterPort = Number([...ports][0]);
    const links = await Promise.all(this.redis.filter((r) => r.port !== masterPort).map(async (r) => {
      const info = await redisCli(r.port, ['INFO', 'replication']);
      return infoField(info, 'master_link_status') === 'up' && Number(infoField(info, 'master_port')) === masterPort;
    }));
    return links.length === want && links.every(Boolean);
  }

  /** The master's port by the first sentinel that answers. */
  async masterPort(): Promise<number | undefined> {
    for (const s of this.sentinels) {
      const out = await redisCli(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.layout.masterName]);
      const port = Number(out?.trim().split('\n')[1]);
      if (Number.isInteger(port) && port > 0) return port;
    }
    return undefined;
  }

  member(port: number): SentinelMember | undefined { return this.redis.find((r) => r.port === port); }

  async status(): Promise<SentinelStatus> {
    const masterPort = (await this.masterPort()) ?? null;
    const nodes = await Promise.all(this.members.map(async (m): Promise<SentinelNodeStatus> => {
      const pid = m.pid();
      if (pid === null) return { name: m.name, port: m.port, role: 'down', pid, detail: 'not running' };
      if (m.kind === 'sentinel') {
        const v = pairs(await redisCli(m.port, ['SENTINEL', 'MASTER', this.layout.masterName]));
        return { name: m.name, port: m.port, role: 'sentinel', pid, detail: `master ${v.get('port') ?? '?'} (${v.get('flags') ?? 'no answer'})` };
      }
      const info = await redisCli(m.port, ['INFO', 'replication']);
      const role = infoField(info, 'role');
      if (role === undefined) return { name: m.name, port: m.port, role: 'unknown', pid, detail: 'does not answer' };
      if (role === 'master') return { name: m.name, port: m.port, role, pid, detail: `${infoField(info, 'connected_slaves') ?? '?'} replicas` };
      return { name: m.name, port: m.port, role: 'replica', pid, detail: `of ${infoField(info, 'master_port') ?? '?'}, link ${infoField(info, 'master_link_status') ?? '?'}` };
    }));
    return { masterName: this.layout.masterName, masterPort, nodes };
  }

  /** Stops our own processes (sentinels first, so none fails over while the nodes stop); purge deletes the folder. */
  async down(opts: { purge?: boolean } = {}): Promise<void> {
    for (const s of this.sentinels) await s.stop();
    for (const r of this.redis) await r.stop();
    if (opts.purge) fs.rmSync(this.layout.root, { recursive: true, force: true });
  }
}
