import type { ChildProcess } from 'node:child_process';
import { forkBenchChild, request, stopProcess } from './processes.ts';
import type { ProxyStats } from './latency-proxy.ts';
import type { Endpoints } from './server-under-test.ts';

/**
 * The harness side of the latency proxies: one proxy per store endpoint, and the same
 * endpoints rewritten to go through them, for the server under test.
 */
export class LatencyProxies {
  private constructor(readonly child: ChildProcess, readonly endpoints: Endpoints, readonly delayMs: number) {}

  static async start(direct: Endpoints, delayMs: number): Promise<LatencyProxies> {
    const child = forkBenchChild('latency-proxy-child.ts');
    const routes = [
      { name: 'pg_primary', url: direct.primaryUrl },
      ...direct.replicaUrls.map((url, i) => ({ name: `pg_replica${i + 1}`, url })),
      { name: 'redis', url: direct.redisUrl },
    ].map((r) => {
      const u = new URL(r.url);
      return { name: r.name, host: u.hostname, port: Number(u.port), delayMs };
    });
    const { ports } = await request<{ ports: Record<string, number> }>(child, { type: 'start', routes }, 'started', 10_000);
    const via = (url: string, name: string) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(ports[name]);
      return u.toString();
    };
    return new LatencyProxies(child, {
      primaryUrl: via(direct.primaryUrl, 'pg_primary'),
      replicaUrls: direct.replicaUrls.map((url, i) => via(url, `pg_replica${i + 1}`)),
      redisUrl: via(direct.redisUrl, 'redis'),
    }, delayMs);
  }

  async stats(): Promise<Record<string, ProxyStats>> {
    return (await request<{ stats: Record<string, ProxyStats> }>(this.child, { type: 'stats' }, 'stats', 10_000)).stats;
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopProcess(this.child, 5_000);
  }
}
