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

/** `root` and every live process below it. */
function liveTree(root: number, table: Map<number, ProcTimes>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, t] of table) children.set(t.ppid, [...(children.get(t.ppid) ?? []), pid]);
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (!table.has(pid)) continue;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Seconds a thread has been runnable but not running, waiting for a core (the second field of
 * /proc/<pid>/task/<tid>/schedstat, in ns); null without schedstats or once it exited.
 */
function threadWaitSeconds(pid: number, tid: number): number | null {
  try {
    const wait = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
    return Number.isFinite(wait) ? wait / 1e9 : null;
  } catch {
    return null;
  }
}

/** Run-queue wait of every thread of the live processes in `root`'s tree (exited ones are not counted). */
function treeWaitSeconds(root: number, table: Map<number, ProcTimes>): number | null {
  const pids = liveTree(root, table);
  if (pids.length === 0) return null;
  let total = 0;
  for (const pid of pids) {
    let tids: string[];
    try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) total += threadWaitSeconds(pid, Number(tid)) ?? 0;
  }
  return total;
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

/** A component to account for, by the name the report uses: one or more process trees (null: not found). */
export interface CpuTarget { readonly name: string; readonly pids: readonly number[] | null }

export type CpuSnapshot = {
  readonly atMs: number;
  readonly seconds: Readonly<Record<string, number | null>>;
  /** Run-queue wait of each component's threads, and of the API's main threads (API_MAIN_THREAD). */
  readonly waitSeconds: Readonly<Record<string, number | null>>;
};

/** The API instances' main threads (their event loops), apart from their helper threads. */
export const API_MAIN_THREAD = 'api_main_thread';

/**
 * Per component: milliseconds of CPU per request, the average number of cores busy, and the
 * average number of its threads that were runnable but waiting for a core. On two cores shared
 * by every process of the stack, the last says who was kept off the CPU: the API's main thread
 * waiting is time its requests wait with nothing to show for it in the event loop's delay
 * (docs/PERFORMANCE.md, "Refusals at half capacity").
 */
export interface CpuUse {
  readonly cpu_ms_per_request: Readonly<Record<string, number | null>>;
  readonly cores: Readonly<Record<string, number | null>>;
  readonly waiting?: Readonly<Record<string, number | null>>;
}

/** The harness itself is this process (it samples pg_stat_activity and scrapes /metrics). */
export const HARNESS = 'harness';

export class CpuAccountant {
  private constructor(readonly targets: readonly CpuTarget[], readonly harnessBackends: Readonly<Record<string, number>> = {}) {}

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
    /**
     * The harness's own backends, by node name (the connection sampler's): inside the node's
     * process tree, but the harness's work, so their CPU is moved from the node to HARNESS.
     */
    readonly harnessBackends?: Readonly<Record<string, number>>;
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
    return new CpuAccountant(targets, opts.harnessBackends);
  }

  snapshot(): CpuSnapshot {
    const table = processTable();
    const seconds: Record<string, number | null> = {};
    for (const t of this.targets) {
      // A tree that is gone (an instance exited) makes the component's figure unknown, not smaller.
      seconds[t.name] = sumOrNull(t.pids?.map((pid) => treeSeconds(pid, table)) ?? [null]);
    }
    const own = process.cpuUsage();
    seconds[HARNESS] = (own.user + own.system) / 1e6;
    for (const [node, pid] of Object.entries(this.harnessBackends)) {
      // The sampler keeps its connections for the whole run; one that was lost is skipped, and
      // its time stays in its node's figure.
      const backend = table.get(pid);
      const nodeSeconds = seconds[node];
      if (!backend || nodeSeconds === null || nodeSeconds === undefined) continue;
      seconds[node] = nodeSeconds - backend.ticks / USER_HZ;
      seconds[HARNESS] += backend.ticks / USER_HZ;
    }
    const waitSeconds: Record<string, number | null> = {};
    for (const t of this.targets) waitSeconds[t.name] = sumOrNull(t.pids?.map((pid) => treeWaitSeconds(pid, table)) ?? [null]);
    const api = this.targets.find((t) => t.name === 'api');
    waitSeconds[API_MAIN_THREAD] = sumOrNull(api?.pids?.map((pid) => threadWaitSeconds(pid, pid)) ?? [null]);
    return { atMs: performance.now(), seconds, waitSeconds };
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
    const waiting: Record<string, number | null> = {};
    for (const [name, end] of Object.entries(after.waitSeconds)) {
      const start = before.waitSeconds[name];
      waiting[name] = end === null || start === null || start === undefined || wallSeconds <= 0 ? null : round3(Math.max(0, end - start) / wallSeconds);
    }
    return { cpu_ms_per_request: perRequest, cores, waiting };
  }
}

/** The sum, or null when any part is unknown (a figure is never made smaller by a missing part). */
function sumOrNull(values: ReadonlyArray<number | null>): number | null {
  return values.some((v) => v === null) ? null : (values as number[]).reduce((a, b) => a + b, 0);
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
