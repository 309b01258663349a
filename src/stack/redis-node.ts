import fs from 'node:fs';
import path from 'node:path';
import { run, findOnPath, sleep } from './exec.ts';

export interface RedisSpec { readonly port: number; readonly dir: string; readonly maxmemory: string; readonly policy: string }

/** The local Redis: a cache, so no persistence, a memory limit and an evicting policy. */
export class RedisNode {
  constructor(readonly spec: RedisSpec) {}

  get pidFile(): string { return path.join(this.spec.dir, 'redis.pid'); }

  async ping(): Promise<boolean> {
    const cli = findOnPath('redis-cli', ['redis-tools']);
    const res = await run(cli, ['-h', '127.0.0.1', '-p', String(this.spec.port), 'PING'], { allowFail: true });
    return res.code === 0 && res.output.includes('PONG');
  }

  async info(): Promise<{ maxmemory: number; policy: string; usedMemory: number } | undefined> {
    const cli = findOnPath('redis-cli', ['redis-tools']);
    const res = await run(cli, ['-h', '127.0.0.1', '-p', String(this.spec.port), 'INFO', 'memory'], { allowFail: true });
    if (res.code !== 0 || !res.output.includes('maxmemory')) return undefined;
    const get = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(res.output)?.[1]?.trim() ?? '';
    return { maxmemory: Number(get('maxmemory')), policy: get('maxmemory_policy'), usedMemory: Number(get('used_memory')) };
  }

  async start(): Promise<void> {
    if (await this.ping()) return;
    const server = findOnPath('redis-server', ['redis-server']);
    fs.mkdirSync(this.spec.dir, { recursive: true });
    await run(server, [
      '--port', String(this.spec.port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
      '--daemonize', 'yes', '--pidfile', this.pidFile, '--dir', this.spec.dir,
      '--logfile', path.join(this.spec.dir, 'redis.log'),
      '--save', '', '--appendonly', 'no',
      '--maxmemory', this.spec.maxmemory, '--maxmemory-policy', this.spec.policy,
      '--maxmemory-samples', '10', '--lazyfree-lazy-eviction', 'yes',
      '--notify-keyspace-events', '', '--tcp-keepalive', '60', '--maxclients', '20000',
    ]);
    for (let i = 0; i < 50 && !(await this.ping()); i++) await sleep(100);
    if (!(await this.ping())) throw new Error(`redis did not start on port ${this.spec.port}; see ${path.join(this.spec.dir, 'redis.log')}`);
  }

  async stop(): Promise<void> {
    if (!(await this.ping())) return;
    const cli = findOnPath('redis-cli', ['redis-tools']);
    await run(cli, ['-h', '127.0.0.1', '-p', String(this.spec.port), 'SHUTDOWN', 'NOSAVE'], { allowFail: true });
    for (let i = 0; i < 50 && (await this.ping()); i++) await sleep(100);
  }
}
