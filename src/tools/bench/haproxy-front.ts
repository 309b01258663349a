import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { Fleet } from '../stack/fleet/fleet.ts';
import { buildFleetLayout } from '../stack/fleet/layout.ts';
import { until } from '../stack/ha/owned-process.ts';
import { freePort } from './free-port.ts';
import { logLinesSince, logSize, proxyRefusalTimes, refusalsPerSecond, type ProxyRefusalTimes } from './haproxy-log.ts';

export interface BenchHaproxy {
  /** Where the load goes: HAProxy's frontend. */
  readonly port: number;
  readonly pid: number | undefined;
  /** Where the request log stands now: pass it to refusalsSince after a phase. */
  logMark(): number;
  /** The proxy's own 503s since `mark`, timed by HAProxy. */
  refusalsSince(mark: number): ProxyRefusalTimes;
  stop(): Promise<void>;
}

/**
 * `bgc bench --haproxy`: the load reaches the server under test through the fleet's HAProxy
 * (src/tools/stack/fleet/haproxy-config.ts: the same config, its admission included), with the
 * server as the fleet's one instance, so a run can be set against a direct one, or with
 * `--instances N` the server and N - 1 more as the fleet's instances. The server's
 * own metrics are still read from it directly. HAProxy logs every request here
 * (layout.requestLog), so the proxy's refusals are timed where they happen.
 */
export async function startBenchHaproxy(config: Config, servers: ReadonlyArray<{ port: number; adminPort: number }>, progress: (line: string) => void): Promise<BenchHaproxy> {
  const root = path.join(config.dataDir, 'bench', `haproxy-${crypto.randomBytes(3).toString('hex')}`);
  const layout = buildFleetLayout(root, {
    count: servers.length, apiPort: await freePort(), statsPort: await freePort(),
    instancePorts: servers.map((s) => s.port), adminPorts: servers.map((s) => s.adminPort), requestLog: true,
  });
  const names = layout.instances.map((i) => i.name);
  const fleet = new Fleet(layout, config.projectRoot);
  const stop = async () => {
    try {
      await reportProxyTotals();
    } finally {
      // Stopped even if the report failed: a report that threw once left HAProxy running.
      await fleet.stopHaproxy();
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  const reportProxyTotals = async () => {
    // Connections opened to the instances against requests sent on a reused one: with reuse
    // lost (docs/PERFORMANCE.md, "The proxy path at 10,000 clients"), connects ≈ requests.
    const stats = await fleet.haproxyServerStats();
    const each = names.map((n) => stats.get(n)).filter((x): x is NonNullable<typeof x> => x !== undefined);
    const total = (field: string): number => each.reduce((sum, x) => sum + Number(x[field] ?? 0), 0);
    const most = each.map((x) => x['smax'] ?? '?').join(' / ');
    if (each.length > 0) progress(`HAProxy sent the ${names.length === 1 ? 'server' : `${names.length} instances`} ${total('stot')} requests: ${total('connect')} on a new connection, ${total('reuse')} on a reused one`);
    // Who answered the clients' 5xx: the instances' own (admission, outage) or HAProxy's
    // (queue full or timed out, no connection).
    const totals = await fleet.haproxyTotals();
    if (each.length > 0 && totals) {
      const [all, fromServer] = [Number(totals.frontend['hrsp_5xx'] ?? 0), total('hrsp_5xx')];
      const lines = logLinesSince(fleet.haproxyLogFile, 0);
      const own = proxyRefusalTimes(lines);
      progress(`clients got ${all} 5xx through HAProxy: ${fromServer} from the ${names.length === 1 ? 'server' : 'instances'}, ${all - fromServer} from HAProxy itself `
        + `(its log: ${own.at_once} refused at once, the queue full; ${own.after_queueing} after waiting in it); `
        + `at most ${most} requests at once on ${names.length === 1 ? 'the server' : 'each instance'} and ${totals.backend['qmax'] ?? '?'} queued`);
      const perSecond = refusalsPerSecond(lines);
      if (own.count > 0 && perSecond.length > 0) progress(`HAProxy's refusals per second of its log, from its first request (warm-ups included): ${perSecond.join(' ')}`);
    }
  };
  try {
    await fleet.startHaproxy();
    const ms = await until('HAProxy sees every instance UP', async () => {
      const up = await fleet.haproxyServers();
      return names.every((n) => up.get(n) === 'UP');
    }, 30_000);
    progress(`HAProxy on :${layout.apiPort} in front of :${servers.map((x) => x.port).join(', :')} (UP after ${ms} ms; ${layout.admission.instanceMaxconn} at once, ${layout.admission.queuePerInstance} queued, ${layout.admission.queueTimeoutMs} ms queue timeout)`);
  } catch (err) {
    await stop();
    throw err;
  }
  const logFile = fleet.haproxyLogFile;
  return {
    port: layout.apiPort, pid: fleet.haproxyPid(), stop,
    logMark: () => logSize(logFile),
    refusalsSince: (mark) => proxyRefusalTimes(logLinesSince(logFile, mark)),
  };
}
