/**
 * Runs the latency proxies (one per PostgreSQL node and one for Redis) in their own
 * process, so their timers are not delayed by the harness or the load generator.
 * IPC: start {routes} → started {ports}; stats → stats {by route}; exits on disconnect.
 */
import { LatencyProxy } from './latency-proxy.ts';

interface Route { readonly name: string; readonly host: string; readonly port: number; readonly delayMs: number }

const proxies = new Map<string, LatencyProxy>();

process.on('message', (m: unknown) => {
  void (async () => {
    const msg = m as { type: string; routes?: Route[] };
    try {
      if (msg.type === 'start' && msg.routes) {
        const ports: Record<string, number> = {};
        for (const r of msg.routes) {
          const p = new LatencyProxy({ host: r.host, port: r.port }, r.delayMs);
          ports[r.name] = await p.listen();
          proxies.set(r.name, p);
        }
        process.send?.({ type: 'started', ports });
      } else if (msg.type === 'stats') {
        process.send?.({ type: 'stats', stats: Object.fromEntries([...proxies].map(([k, p]) => [k, p.stats()])) });
      }
    } catch (err) {
      process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => {
  void Promise.allSettled([...proxies.values()].map((p) => p.close())).then(() => process.exit(0));
});
