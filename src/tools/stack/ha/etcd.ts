import fs from 'node:fs';
import path from 'node:path';
import { chownToPostgres, findOnPath } from '../exec.ts';
import type { EtcdMemberLayout } from './layout.ts';
import { DCS_SECTION } from './patroni-config.ts';
import { ownedPid, signal, startOwned, stopOwned } from './owned-process.ts';

export interface EtcdMemberStatus {
  readonly name: string;
  readonly clientPort: number;
  readonly running: boolean;
  readonly healthy: boolean;
}

/**
 * One member of the three-member etcd cluster Patroni keeps its leader lock in. Three
 * members keep a quorum through the loss of any one (docs/OPERATIONS.md, "High
 * availability"). etcd 3.4 serves only the v3 API unless told otherwise; see DCS_SECTION in
 * patroni-config.ts for why Patroni uses the v2 one here.
 */
export class EtcdMember {
  constructor(readonly spec: EtcdMemberLayout, readonly cluster: readonly EtcdMemberLayout[], readonly token: string) {}

  get pidFile(): string { return path.join(this.spec.dir, 'etcd.pid'); }
  get logFile(): string { return path.join(this.spec.dir, 'etcd.log'); }
  get dataDir(): string { return path.join(this.spec.dir, 'data'); }
  get clientUrl(): string { return `http://127.0.0.1:${this.spec.clientPort}`; }
  get pid(): number | undefined { return ownedPid(this.pidFile, this.dataDir); }

  start(): void {
    if (this.pid !== undefined) return;
    fs.mkdirSync(this.spec.dir, { recursive: true });
    chownToPostgres(this.spec.dir);
    // Once a member has data, it rejoins with what it stored; `new` only for the first start.
    const state = fs.existsSync(path.join(this.dataDir, 'member')) ? 'existing' : 'new';
    const peer = (m: EtcdMemberLayout): string => `http://127.0.0.1:${m.peerPort}`;
    startOwned({
      bin: findOnPath('etcd', ['etcd-server']),
      args: [
        '--name', this.spec.name,
        '--data-dir', this.dataDir,
        '--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl,
        '--listen-peer-urls', peer(this.spec), '--initial-advertise-peer-urls', peer(this.spec),
        '--initial-cluster', this.cluster.map((m) => `${m.name}=${peer(m)}`).join(','),
        '--initial-cluster-state', state,
        '--initial-cluster-token', this.token,
        // Patroni writes its member keys every loop_wait; keep one hour of history, not all of it.
        '--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '1h',
        '--quota-backend-bytes', String(512 * 1024 * 1024),
        // Patroni 3.0.2 uses the v2 API (patroni-config.ts, DCS_SECTION says why).
        ...(DCS_SECTION === 'etcd' ? ['--enable-v2=true'] : []),
        '--logger', 'zap', '--log-outputs', 'stderr',
      ],
      pidFile: this.pidFile, logFile: this.logFile, marker: this.dataDir, unprivileged: true,
    });
  }

  async stop(): Promise<void> { await stopOwned(this.pidFile, this.dataDir, 15_000); }

  /** kill -9 (chaos tests): the member vanishes without a goodbye to its peers. */
  kill(): void {
    const pid = this.pid;
    if (pid !== undefined) signal(pid, 'SIGKILL');
  }

  /** etcd's own health endpoint: true only when this member sees a leader and a quorum. */
  async healthy(timeoutMs = 1_000): Promise<boolean> {
    try {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await res.json() as { health?: string };
      return res.ok && body.health === 'true';
    } catch {
      return false;
    }
  }

  async status(): Promise<EtcdMemberStatus> {
    return { name: this.spec.name, clientPort: this.spec.clientPort, running: this.pid !== undefined, healthy: await this.healthy() };
  }
}
