import fs from 'node:fs';
import path from 'node:path';
import { chownToPostgres, findOnPath, run } from '../exec.ts';
import type { HaLayout } from './layout.ts';
import { ownedPid, startOwned, stopOwned } from './owned-process.ts';
import { REPLICA_MAX_LAG } from './patroni-config.ts';

/**
 * HAProxy in front of the members: one port that always reaches the leader, one that
 * balances over healthy replicas. Health comes from each member's Patroni REST API, not
 * from PostgreSQL: `/primary` answers 200 only on the member holding the leader lock, so a
 * demoted or isolated old primary leaves the leader port even while its PostgreSQL still
 * accepts connections, and `shutdown-sessions` cuts the connections it already had.
 *
 * Check timing: every 1 s while up, every 250 ms while down or changing state, so a newly
 * promoted leader is found within a quarter second; down after 2 failed checks, up after 1
 * good one on the leader port and 2 on the replica port. A check times out after 1 s, so a
 * frozen Patroni (its port still accepts, nothing answers) counts as failed.
 *
 * A connection the server refuses is retried twice, 1 s apart (HAProxy's turn-around), and
 * `option redispatch 1` sends each retry to a server chosen again: during a switchover the
 * old leader stays UP here until its lock is released and two checks fail, while the new one
 * is already UP, and a connection that first hit the stopped old leader lands on the new
 * one instead of failing after 2 s into a 503 (measured without it, docs/RELIABILITY.md).
 */
export function haproxyConfig(layout: HaLayout): string {
  const servers = (): string[] => layout.members.map((m) => `    server ${m.name} 127.0.0.1:${m.pgPort} check port ${m.restPort}`);
  return [
    '# Written by `bgc stack up --ha` (src/tools/stack/ha/haproxy.ts); rewritten at every start.',
    'global',
    '    maxconn 4000',
    // Quoted: a checkout path with a space would otherwise split the argument.
    `    stats socket ${JSON.stringify(path.join(layout.haproxy.dir, 'haproxy.sock'))} mode 600 level admin`,
    '',
    'defaults',
    '    mode tcp',
    '    retries 2',
    // Each retry of a failed connection goes to whichever server is up now, not the same one.
    '    option redispatch 1',
    '    timeout connect 2s',
    '    timeout queue 2s',
    // Pool connections sit idle between requests; the app closes them itself (idle timeout).
    '    timeout client 30m',
    // A client that vanishes (its host gone, its path cut) is found by TCP keepalive within
    // about 25 s (10 s idle, then 3 probes 5 s apart) and its server side closed with it.
    // PostgreSQL's own keepalive probes are answered by HAProxy, so without this the job
    // leader's advisory-lock session outlived a dead leader by the 30 minutes above, and no
    // instance ran the leader's jobs meanwhile (src/db/leader-lock.ts expects about 25 s).
    '    option clitcpka',
    '    clitcpka-idle 10s',
    '    clitcpka-intvl 5s',
    '    clitcpka-cnt 3',
    '    timeout server 30m',
    '    timeout check 1s',
    '',
    'listen stats',
    '    mode http',
    `    bind 127.0.0.1:${layout.haproxy.statsPort}`,
    '    stats enable',
    '    stats uri /',
    '    stats refresh 5s',
    '',
    'listen primary',
    `    bind 127.0.0.1:${layout.haproxy.primaryPort}`,
    '    option httpchk',
    '    http-check send meth OPTIONS uri /primary',
    '    http-check expect status 200',
    // One 200 from /primary is enough (rise 1): Patroni answers it only while it holds the lock.
    '    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions',
    ...servers(),
    '',
    'listen replicas',
    `    bind 127.0.0.1:${layout.haproxy.replicaPort}`,
    '    balance leastconn',
    '    option httpchk',
    `    http-check send meth OPTIONS uri /replica?lag=${REPLICA_MAX_LAG}`,
    '    http-check expect status 200',
    '    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2 on-marked-down shutdown-sessions',
    ...servers(),
    '',
  ].join('\n');
}

export interface HaproxyServerState { readonly listener: string; readonly server: string; readonly status: string }

export class Haproxy {
  constructor(readonly layout: HaLayout) {}

  get dir(): string { return this.layout.haproxy.dir; }
  get configFile(): string { return path.join(this.dir, 'haproxy.cfg'); }
  get pidFile(): string { return path.join(this.dir, 'haproxy.pid'); }
  get pid(): number | undefined { return ownedPid(this.pidFile, this.configFile); }

  async start(): Promise<void> {
    if (this.pid !== undefined) return;
    fs.mkdirSync(this.dir, { recursive: true });
    chownToPostgres(this.dir);
    fs.writeFileSync(this.configFile, haproxyConfig(this.layout));
    chownToPostgres(this.configFile);
    const bin = findOnPath('haproxy', ['haproxy']);
    await run(bin, ['-c', '-q', '-f', this.configFile]); // a bad config fails here, with HAProxy's message
    // -db: stay in the foreground (we detach it ourselves and record its pid).
    startOwned({ bin, args: ['-db', '-f', this.configFile], pidFile: this.pidFile, logFile: path.join(this.dir, 'haproxy.log'), marker: this.configFile, unprivileged: true });
  }

  async stop(): Promise<void> { await stopOwned(this.pidFile, this.configFile, 10_000); }

  /** Each server's state per listener (UP, DOWN, …) from the stats page's CSV. */
  async servers(timeoutMs = 1_000): Promise<HaproxyServerState[]> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.layout.haproxy.statsPort}/;csv`, { signal: AbortSignal.timeout(timeoutMs) });
      const lines = (await res.text()).split('\n').filter((l) => l.length > 0 && !l.startsWith('#'));
      return lines.map((l) => l.split(',')).filter((f) => f[1] !== 'FRONTEND' && f[1] !== 'BACKEND' && f[0] !== 'stats')
        .map((f) => ({ listener: f[0] ?? '', server: f[1] ?? '', status: f[17] ?? '' }));
    } catch {
      return [];
    }
  }
}
