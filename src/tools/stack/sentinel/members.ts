import fs from 'node:fs';
import path from 'node:path';
import { serverEnv } from '../../../config/index.ts';
import { findOnPath, run, sleep } from '../exec.ts';
import { ownedPid } from '../processes.ts';
import { SENTINEL_TIMING, type SentinelLayout, type SentinelNodeLayout } from './layout.ts';

/** Redis runs on the real clock even in the date sweep (see serverEnv). */
const REDIS_ENV = serverEnv({ fakeClock: false });
/** A bound on every redis-cli call: a hung node (DEBUG SLEEP) must not hang a status. */
const CLI_TIMEOUT_MS = 2_000;

/** One redis-cli call on 127.0.0.1:`port`; undefined when it fails or times out. */
export async function redisCli(port: number, args: readonly string[], timeoutMs = CLI_TIMEOUT_MS): Promise<string | undefined> {
  const cli = findOnPath('redis-cli', ['redis-tools']);
  const res = await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args], { allowFail: true, timeoutMs, env: REDIS_ENV });
  return res.code === 0 ? res.output : undefined;
}

/** "key:value" lines (INFO, or SENTINEL replies printed one field per line are not this). */
export function infoField(text: string | undefined, key: string): string | undefined {
  return text === undefined ? undefined : new RegExp(`^${key}:(.*)$`, 'm').exec(text)?.[1]?.trim();
}

/**
 * One process of the Sentinel mode: a Redis node or a sentinel. Both daemonize, write their
 * pid file in their own folder and chdir into it; a pid counts as ours only if that process
 * is a redis program working in that folder (processes.ts), so `down` never signals a
 * process that reused the pid, nor another checkout's nodes.
 */
export class SentinelMember {
  constructor(readonly node: SentinelNodeLayout, readonly kind: 'redis' | 'sentinel') {}

  get name(): string { return this.node.name; }
  get port(): number { return this.node.port; }
  get pidFile(): string { return path.join(this.node.dir, `${this.kind}.pid`); }
  get logFile(): string { return path.join(this.node.dir, `${this.kind}.log`); }
  get configFile(): string { return path.join(this.node.dir, 'sentinel.conf'); }

  pid(): number | null { return ownedPid(this.pidFile, 'redis', this.node.dir); }

  /** A Redis node: master when `masterPort` is undefined, else its replica. */
  async startRedis(layout: SentinelLayout, masterPort: number | undefined): Promise<void> {
    fs.mkdirSync(this.node.dir, { recursive: true });
    await run(findOnPath('redis-server', ['redis-server']), [
      '--port', String(this.port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
      '--daemonize', 'yes', '--pidfile', this.pidFile, '--dir', this.node.dir, '--logfile', this.logFile,
      '--save', '', '--appendonly', 'no',
      '--maxmemory', layout.maxmemory, '--maxmemory-policy', layout.policy, '--maxmemory-samples', '10',
      '--lazyfree-lazy-eviction', 'yes', '--tcp-keepalive', '60', '--maxclients', '20000',
      // Local connections only: the chaos test hangs a master with DEBUG SLEEP.
      '--enable-debug-command', 'local',
      ...(masterPort === undefined ? [] : ['--replicaof', '127.0.0.1', String(masterPort)]),
    ], { env: REDIS_ENV });
  }

  /** A sentinel watching the master on `masterPort`; its config file is written fresh (Sentinel rewrites it as it learns). */
  async startSentinel(layout: SentinelLayout, masterPort: number): Promise<void> {
    fs.mkdirSync(this.node.dir, { recursive: true });
    fs.writeFileSync(this.configFile, [
      `port ${this.port}`,
      'bind 127.0.0.1',
      'daemonize yes',
      // Quoted (Redis reads "…" as one argument): a checkout path may hold a space.
      `pidfile ${JSON.stringify(this.pidFile)}`,
      `logfile ${JSON.stringify(this.logFile)}`,
      `dir ${JSON.stringify(this.node.dir)}`,
      `sentinel monitor ${layout.masterName} 127.0.0.1 ${masterPort} ${SENTINEL_TIMING.quorum}`,
      `sentinel down-after-milliseconds ${layout.masterName} ${SENTINEL_TIMING.downAfterMs}`,
      `sentinel failover-timeout ${layout.masterName} ${SENTINEL_TIMING.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${layout.masterName} 1`,
      '',
    ].join('\n'));
    await run(findOnPath('redis-sentinel', ['redis-sentinel']), [this.configFile], { env: REDIS_ENV });
  }

  /** Waits until the started process has written its pid file and answers PING. */
  async waitUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pid() === null || (await redisCli(this.port, ['PING'])) === undefined) {
      if (Date.now() > deadline) throw new Error(`${this.kind} ${this.name} did not start on port ${this.port} within ${timeoutMs} ms; see ${this.logFile}`);
      await sleep(100);
    }
  }

  /** SIGTERM (SIGCONT first: a frozen process cannot act on it), SIGKILL after 10 s; only our own process. */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid === null) return;
    for (const sig of ['SIGCONT', 'SIGTERM'] as const) { try { process.kill(pid, sig); } catch { return; } }
    const deadline = Date.now() + 10_000;
    while (this.pid() !== null) {
      if (Date.now() > deadline) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      if (Date.now() > deadline + 5_000) throw new Error(`${this.kind} ${this.name} (pid ${pid}) did not stop within 15 s`);
      await sleep(50);
    }
  }

  /** `kill -9`: no shutdown, no goodbye to clients or replicas (the chaos test's crash); waits until it is gone. */
  async kill9(timeoutMs = 10_000): Promise<number> {
    const pid = this.pid();
    if (pid === null) throw new Error(`${this.kind} ${this.name} is not running`);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + timeoutMs;
    while (runningOrDying(pid)) {
      if (Date.now() > deadline) throw new Error(`${this.kind} ${this.name} (pid ${pid}) still alive ${timeoutMs} ms after SIGKILL`);
      await sleep(20);
    }
    return pid;
  }
}

/** In the process table and not a zombie: a dead daemon waits for init to reap it, holding nothing. */
function runningOrDying(pid: number): boolean {
  try {
    return /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] !== 'Z';
  } catch {
    return false;
  }
}
