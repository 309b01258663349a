import fs from 'node:fs';
import path from 'node:path';
import { run, findOnPath, sleep } from './exec.ts';
import { serverEnv } from '../../config/index.ts';
import { ownedPid } from './processes.ts';

/** Redis runs on the real clock even in the date sweep (see serverEnv). */
const REDIS_ENV = serverEnv({ fakeClock: false });

export interface RedisSpec { readonly port: number; readonly dir: string; readonly maxmemory: string; readonly policy: string }

export interface RedisInfo { readonly pid: number; readonly maxmemory: number; readonly policy: string; readonly usedMemory: number }

function fileSize(file: string): number {
  try { return fs.statSync(file).size; } catch { return 0; }
}

/** A bound on every redis-cli call: the port may be held by something that never answers. */
const CLI_TIMEOUT_MS = 2000;

/**
 * The local Redis: a cache, so no persistence, a memory limit and an evicting policy.
 * It is ours when the pid file in its folder names a live redis-server working in that folder;
 * what answers on the port counts as ours only if its INFO server `process_id` is that pid.
 * Anything else on the port is someone else's: never reported as ours, never shut down.
 */
export class RedisNode {
  constructor(readonly spec: RedisSpec) {}

  get pidFile(): string { return path.join(this.spec.dir, 'redis.pid'); }
  get logFile(): string { return path.join(this.spec.dir, 'redis.log'); }

  /** The pid of the redis-server this folder started, if alive (on whatever port). */
  ownPid(): number | null {
    return ownedPid(this.pidFile, 'redis-server', this.spec.dir);
  }

  async #cli(args: readonly string[]): Promise<string | undefined> {
    const cli = findOnPath('redis-cli', ['redis-tools']);
    const res = await run(cli, ['-h', '127.0.0.1', '-p', String(this.spec.port), ...args], { allowFail: true, timeoutMs: CLI_TIMEOUT_MS, env: REDIS_ENV });
    return res.code === 0 ? res.output : undefined;
  }

  /** Memory settings of our server on our port; undefined when our server does not answer there. */
  async info(): Promise<RedisInfo | undefined> {
    const pid = this.ownPid();
    if (pid === null) return undefined;
    const out = await this.#cli(['INFO', 'server', 'memory']);
    if (out === undefined) return undefined;
    const get = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(out)?.[1]?.trim() ?? '';
    if (Number(get('process_id')) !== pid) return undefined; // the port answers, but not our server
    return { pid, maxmemory: Number(get('maxmemory')), policy: get('maxmemory_policy'), usedMemory: Number(get('used_memory')) };
  }

  /** True when our own server answers on our port. */
  async ping(): Promise<boolean> {
    return (await this.info()) !== undefined;
  }

  /** Starts our server unless it already serves; the caller has checked the port is free (preflight). */
  async start(): Promise<void> {
    if (await this.ping()) return;
    const server = findOnPath('redis-server', ['redis-server']);
    fs.mkdirSync(this.spec.dir, { recursive: true });
    const logStart = fileSize(this.logFile); // the log appends: only this start's lines count
    await run(server, [
      '--port', String(this.spec.port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
      '--daemonize', 'yes', '--pidfile', this.pidFile, '--dir', this.spec.dir,
      '--logfile', this.logFile,
      '--save', '', '--appendonly', 'no',
      '--maxmemory', this.spec.maxmemory, '--maxmemory-policy', this.spec.policy,
      '--maxmemory-samples', '10', '--lazyfree-lazy-eviction', 'yes',
      '--notify-keyspace-events', '', '--tcp-keepalive', '60', '--maxclients', '20000',
    ], { env: REDIS_ENV });
    // Generous: each probe spawns redis-cli, slow on a loaded 2-core machine; a server that
    // cannot bind exits at once and the log says why.
    const deadline = Date.now() + 15_000;
    while (!(await this.ping())) {
      const bindFailure = this.#bindFailure(logStart);
      if (bindFailure !== undefined) throw new Error(`redis could not listen on port ${this.spec.port}: ${bindFailure} (${this.logFile})`);
      if (Date.now() > deadline) throw new Error(`redis did not start on port ${this.spec.port} within 15 s; see ${this.logFile}`);
      await sleep(100);
    }
  }

  /** The log's line when the server could not bind its port (it exits at once), so start() fails fast and says why. */
  #bindFailure(fromByte: number): string | undefined {
    let log: string;
    try { log = fs.readFileSync(this.logFile).subarray(fromByte).toString('utf8'); } catch { return undefined; }
    return log.split('\n').find((line) => line.includes('Could not create server TCP listening socket'))?.trim();
  }

  /** Stops our server by its pid (SIGTERM; no persistence, so nothing is saved); never another one. */
  async stop(): Promise<void> {
    const pid = this.ownPid();
    if (pid === null) return;
    try { process.kill(pid, 'SIGTERM'); } catch { return; } // already gone
    const deadline = Date.now() + 10_000;
    while (this.ownPid() !== null) {
      if (Date.now() > deadline) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      if (Date.now() > deadline + 5000) throw new Error(`redis (pid ${pid}) did not stop within 15 s`);
      await sleep(50);
    }
  }
}
