import fs from 'node:fs';
import { findListener } from '../stack/listeners.ts';

/**
 * Where the cores went during a workload (issue 15): CPU seconds of the API server, of each
 * PostgreSQL node, of Redis, of the load generator and of this harness, read from /proc
 * before and after the measured run. Every process is counted with its whole tree, exited
 * children included: PostgreSQL runs a backend process per connection and the postmaster
 * reaps them, and the kernel then adds a reaped child's time to its parent's cutime/cstime,
 * so "root + reaped + live descendants" never loses a backend that came and went mid-run.
 */

/** /proc/<pid>/stat counts in USER_HZ ticks, 100 per second on every Linux this runs on. */
const USER_HZ = 100;

interface ProcTimes {
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in ticks: the process and its reaped children. */
  readonly ticks: number;
}

function readStat(pid: number): ProcTimes | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // exited between listing and reading: its time is in its parent's cutime now
  }
  // Fields after the command name (which may hold spaces and parentheses): state is field 3.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (field: number) => Number(f[field - 3] ?? 0);
  return { ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17) };
}

function processTable(): Map<number, ProcTimes> {
  const table = new Map<number, ProcTimes>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const t = readStat(Number(name));
    if (t) table.set(Number(name), t);
  }
  return table;
}

/** CPU seconds used so far by `root` and every process below it. */
function treeSeconds(root: number, table: Map<number, ProcTimes>): number | null {
  if (!table.has(root)) return null;
  const children = new Map<number, number[]>();
  for (const [pid, t] of table) children.set(t.ppid, [...(children.get(t.ppid) ?? []), pid]);
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    ticks += table.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return ticks / USER_HZ;
}

/** A process tree to account for, by the name the report uses. */
/** A component to account for, by the name the report uses: one or more process trees (null: not found). */
export interface CpuTarget { readonly name: string; readonly pids: readonly number[] | null }

export type CpuSnapshot = { readonly atMs: number; readonly seconds: Readonly<Record<string, number | null>> };

/** Per component: milliseconds of CPU per request, and the average number of cores busy. */
export interface CpuUse {
  readonly cpu_ms_per_request: Readonly<Record<string, number | null>>;
  readonly cores: Readonly<Record<string, number | null>>;
}

/** The harness itself is this process (it samples pg_stat_activity and scrapes /metrics). */
export const HARNESS = 'harness';

export class CpuAccountant {
  private constructor(readonly targets: readonly CpuTarget[]) {}

  /**
   * Finds each server by the port it listens on (PostgreSQL's postmaster, redis-server),
   * so the figures hold for any stack on this machine; a server on another machine, or one
   * this user cannot see, is reported as null rather than guessed.
   */
  static async locate(opts: {
    /** The API's instances (several behind HAProxy with `--instances N`), added up. */
    readonly api: number | undefined | ReadonlyArray<number | undefined>;
    readonly loadGenerator: number | undefined;
    readonly nodes: ReadonlyArray<{ readonly name: string; readonly url: string }>;
    readonly redisUrl: string;
    /** HAProxy in front of the API (`--haproxy`). */
    readonly proxy?: number | undefined;
  }): Promise<CpuAccountant> {
    const byPort = async (url: string): Promise<number | null> => {
      const u = new URL(url);
      if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname)) return null;
      const holder = await findListener(Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432)));
      return holder?.pid ?? null;
    };
    const one = (pid: number | null | undefined): number[] | null => (pid === null || pid === undefined ? null : [pid]);
    const apis = (Array.isArray(opts.api) ? opts.api : [opts.api]) as ReadonlyArray<number | undefined>;
    const targets: CpuTarget[] = [{ name: 'api', pids: apis.some((p) => p === undefined) ? null : apis as number[] }];
    if (opts.proxy !== undefined) targets.push({ name: 'haproxy', pids: one(opts.proxy) });
    for (const n of opts.nodes) targets.push({ name: n.name, pids: one(await byPort(n.url)) });
    targets.push({ name: 'redis', pids: one(await byPort(opts.redisUrl)) });
    targets.push({ name: 'load_generator', pids: one(opts.loadGenerator) });
    return new CpuAccountant(targets);
  }

  snapshot(): CpuSnapshot {
    const table = processTable();
    const seconds: Record<string, number | null> = {};
    for (const t of this.targets) {
      // A tree that is gone (an instance exited) makes the component's figure unknown, not smaller.
      const each = t.pids?.map((pid) => treeSeconds(pid, table)) ?? [null];
      seconds[t.name] = each.some((v) => v === null) ? null : (each as number[]).reduce((a, b) => a + b, 0);
    }
    const own = process.cpuUsage();
    seconds[HARNESS] = (own.user + own.system) / 1e6;
    return { atMs: performance.now(), seconds };
  }

  /** What each component used between two snapshots, per request answered in between. */
  static use(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuUse {
    const wallSeconds = (after.atMs - before.atMs) / 1000;
    const perRequest: Record<string, number | null> = {};
    const cores: Record<string, number | null> = {};
    for (const [name, end] of Object.entries(after.seconds)) {
      const start = before.seconds[name];
      const used = end === null || start === null || start === undefined ? null : Math.max(0, end - start);
      perRequest[name] = used === null || requests === 0 ? null : round3((used * 1000) / requests);
      cores[name] = used === null || wallSeconds <= 0 ? null : round3(used / wallSeconds);
    }
    return { cpu_ms_per_request: perRequest, cores };
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
