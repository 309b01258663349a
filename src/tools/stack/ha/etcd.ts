import fs from 'node:fs';
import path from 'node:path';
import { chownToPostgres, findOnPath } from '../exec.ts';
import type { EtcdMemberLayout } from './layout.ts';
import { DCS_SECTION, HA_SETTINGS } from './patroni-config.ts';
import { ownedPid, signal, startOwned, stopOwned } from './owned-process.ts';

export interface EtcdMemberStatus {
  readonly name: string;
  readonly clientPort: number;
  readonly running: boolean;
  readonly healthy: boolean;
}

/**
 * etcd's raft timing (its defaults: heartbeat 100 ms, election 1,000 ms), halved. Losing the
 * raft leader leaves the other two without one until a follower's election timer fires (one
 * to two election timeouts). A v2 write that reaches a member in that window is dropped and
 * hangs until the client gives up (etcd 3.4's v2 handler ignores the dropped proposal), and
 * Patroni 3.0.2 gives each of three hosts retry_timeout / 3 (1.33 s) before trying the next.
 * With the defaults the window measured 0.94–1.81 s under load, so the leader's lock renewal
 * could time out on both live members in turn and the leader demote itself (CI, 2026-12-06: a
 * 5.9 s write outage from losing ONE etcd member). At 50/500 ms it measured 0.46–0.90 s: below
 * one host's timeout, so the second live member always answers. Loopback round trips are
 * microseconds, so 50 ms heartbeats are far above etcd's rule of heartbeat ≥ round trip, and an
 * election timeout of 10 × the heartbeat keeps its other rule. docs/RELIABILITY.md has the runs.
 */
export const ETCD_TIMING = { heartbeatMs: 50, electionTimeoutMs: 500 } as const;

/** Patroni's time for one etcd host, ms (patroni/dcs/etcd.py, _calculate_timeouts, three hosts). */
export const PATRONI_PER_HOST_TIMEOUT_MS = (HA_SETTINGS.retry_timeout * 1000) / 3;

/** Checked at module load: the longest leaderless window (two election timeouts) must fit in one host's timeout. */
if (2 * ETCD_TIMING.electionTimeoutMs >= PATRONI_PER_HOST_TIMEOUT_MS || ETCD_TIMING.electionTimeoutMs < 10 * ETCD_TIMING.heartbeatMs) {
  throw new Error('ETCD_TIMING: 2 × election timeout must stay below Patroni\'s per-host timeout, and the election timeout ≥ 10 heartbeats');
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
        '--heartbeat-interval', String(ETCD_TIMING.heartbeatMs), '--election-timeout', String(ETCD_TIMING.electionTimeoutMs),
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

  /** etcd's own health endpoint: true only when this member (our process) sees a leader and a quorum. */
  async healthy(timeoutMs = 1_000): Promise<boolean> {
    // Only our own process: another etcd on this port (a system one) must not answer for it.
    if (this.pid === undefined) return false;
    try {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await res.json() as { health?: string };
      return res.ok && body.health === 'true';
    } catch {
      return false;
    }
  }

  /**
   * True when this member is etcd's raft leader, false when a follower, undefined when it does
   * not answer (its Prometheus metrics: the same in the v2 and v3 APIs).
   */
  async isRaftLeader(timeoutMs = 1_000): Promise<boolean | undefined> {
    try {
      const res = await fetch(`${this.clientUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      const value = /^etcd_server_is_leader (\d)/m.exec(await res.text())?.[1];
      return value === undefined ? undefined : value === '1';
    } catch {
      return undefined;
    }
  }

  async status(): Promise<EtcdMemberStatus> {
    return { name: this.spec.name, clientPort: this.spec.clientPort, running: this.pid !== undefined, healthy: await this.healthy() };
  }
}
