import { purgeNamespace } from '../../cache/purge.ts';
import { allQueries } from '../../catalog/all.ts';
import type { Config } from '../../config/index.ts';
import type { BenchUrls } from './bench-db.ts';
import { startBenchHaproxy, type BenchHaproxy } from './haproxy-front.ts';
import { EMPTY_BENCH_DATA, type BenchData } from './data/bench-data.ts';
import { prepareData } from './data/load-data.ts';
import { CpuAccountant } from './cpu-accounting.ts';
import { RedisCommandSampler } from './redis-commands.ts';
import { DbTimeSampler } from './db-time.ts';
import { LatencyProxies } from './latency-proxies.ts';
import { LoadGenerator } from './load/runner.ts';
import { measureWorkload, type RunSpec } from './measure.ts';
import { PgConnectionSampler } from './pg-sampler.ts';
import type { ConfigurationRun, RoundTripProbe, WorkloadMeasure } from './report-types.ts';
import { probeRoundTrips } from './round-trips.ts';
import { ServerUnderTest, type Endpoints } from './server-under-test.ts';
import type { WorkloadName } from './workloads/catalog.ts';

/**
 * One configuration (optimized or baseline): start (proxies if asked, the server under
 * test), measure (sessions, then each workload in turn), stop. Starting is separate so
 * the harness can bring both servers up at once; an idle server costs nothing measurable.
 */
export interface ConfigurationPlan {
  readonly configuration: 'optimized' | 'baseline';
  readonly urls: BenchUrls;
  readonly redisUrl: string;
  readonly runId: string;
  readonly workloads: readonly WorkloadName[];
  readonly spec: Omit<RunSpec, 'workload'>;
  /** Reuse the optimized run's actors (same sessions, copied into the baseline database). */
  readonly data?: BenchData;
  readonly login: { readonly maxActors: number; readonly budgetMs: number };
  readonly latencyMs?: number;
  /**
   * A login is a write: for the next 30 s (the app's read-your-writes window) that user's
   * reads need a replica that has replayed it, and may wait or go to the primary. Real
   * traffic is mostly past that window, so full runs wait it out before measuring.
   */
  readonly settleAfterLoginMs?: number;
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** `node --cpu-prof` for the server under test, into this folder. */
  readonly cpuProfDir?: string;
  /**
   * The load goes through the fleet's HAProxy in front of the server (`--haproxy`), and with
   * `instances` above 1 (`--instances N`) in front of that many servers with the same settings.
   */
  readonly haproxy?: { readonly config: Config; readonly instances?: number };
  readonly progress: (m: string) => void;
}

export interface StartedConfiguration {
  readonly plan: ConfigurationPlan;
  readonly server: ServerUnderTest;
  /** Every instance: the server, then the others behind HAProxy (`--instances N`). */
  readonly servers: readonly ServerUnderTest[];
  readonly proxies: LatencyProxies | undefined;
  readonly front: BenchHaproxy | undefined;
  /** Where the load goes: the server's port, or HAProxy's in front of it. */
  readonly loadPort: number;
  readonly env: Readonly<Record<string, string>>;
  readonly startSeconds: number;
  readonly replicaUrls: readonly string[];
}

export interface ConfigurationOutcome {
  readonly run: ConfigurationRun;
  readonly data: BenchData;
  readonly dataStartedAt: Date | undefined;
}

let writesCache: Map<string, boolean> | undefined;
async function writesByName(): Promise<Map<string, boolean>> {
  writesCache ??= new Map((await allQueries()).map((q) => [q.name, q.writes]));
  return writesCache;
}

export async function startConfiguration(plan: ConfigurationPlan): Promise<StartedConfiguration> {
  const baseline = plan.configuration === 'baseline';
  const direct: Endpoints = { primaryUrl: plan.urls.primaryUrl, replicaUrls: baseline ? [] : plan.urls.replicaUrls, redisUrl: plan.redisUrl };
  const env: Record<string, string> = {
    BGC_CACHE_NAMESPACE: `bgc:bench:${plan.runId}:${plan.configuration}`,
    // No background jobs in either configuration: partition retention would archive and
    // drop the bench data's oldest months (large holds 30 months, retention is 24), and
    // both sides are compared on request handling alone.
    BGC_JOBS_ENABLED: 'false',
    ...plan.extraEnv,
  };
  let proxies: LatencyProxies | undefined;
  if (plan.latencyMs !== undefined && plan.latencyMs > 0) {
    proxies = await LatencyProxies.start(direct, plan.latencyMs);
    plan.progress(`${plan.configuration}: latency proxies add ${plan.latencyMs} ms each way to PostgreSQL and Redis`);
  }
  try {
    const t0 = performance.now();
    const nodeArgs = plan.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${plan.cpuProfDir}`] : [];
    const count = plan.haproxy?.instances ?? 1;
    const startOne = () => ServerUnderTest.start({ endpoints: proxies?.endpoints ?? direct, baseline, extraEnv: env, nodeArgs });
    const starting = await Promise.allSettled(Array.from({ length: count }, startOne));
    const servers = starting.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = starting.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const [server] = servers;
    if (failed || !server) {
      await Promise.all(servers.map((s) => s.stop()));
      throw failed?.reason ?? new Error('no server under test started');
    }
    const startSeconds = (performance.now() - t0) / 1000;
    plan.progress(`${plan.configuration} server${count > 1 ? `s (${count} instances)` : ''} ready on :${servers.map((s) => s.port).join(', :')} in ${startSeconds.toFixed(1)} s`);
    let front: BenchHaproxy | undefined;
    if (plan.haproxy) {
      try {
        front = await startBenchHaproxy(plan.haproxy.config, servers, plan.progress);
      } catch (err) {
        await Promise.all(servers.map((s) => s.stop()));
        throw err;
      }
    }
    return { plan, server, servers, proxies, front, loadPort: front?.port ?? server.port, env, startSeconds, replicaUrls: direct.replicaUrls };
  } catch (err) {
    await proxies?.stop();
    throw err;
  }
}

export async function stopConfiguration(started: StartedConfiguration | undefined): Promise<void> {
  if (!started) return;
  // The servers and latency proxies stop even if the front's stop (and its report) failed.
  try {
    await started.front?.stop();
  } finally {
    await Promise.all(started.servers.map((s) => s.stop()));
    await started.proxies?.stop();
  }
  // Each run has a namespace of its own, and its entries would outlive it by the cache's grace
  // (6 h): runs piled up until Redis reached maxmemory and evicted keys of the runs after them
  // (251,651 evictions on the dev stack in one session), which can skew their hit ratios.
  const namespace = started.env.BGC_CACHE_NAMESPACE;
  if (namespace !== undefined) {
    await purgeNamespace(started.plan.redisUrl, namespace).catch((err: unknown) => {
      started.plan.progress(`${started.plan.configuration}: could not remove the run's cache keys (${err instanceof Error ? err.message : String(err)})`);
    });
  }
}

/** Sessions (unless given), the round-trip probe behind proxies, then every workload. */
export async function measureConfiguration(started: StartedConfiguration, load: LoadGenerator): Promise<ConfigurationOutcome> {
  const { plan, server, proxies } = started;
  let data = plan.data;
  let dataStartedAt: Date | undefined;
  const setup: Record<string, number | string> = { server_start_s: round1(started.startSeconds) };
  if (!data && plan.workloads.some((w) => w !== 'healthz')) {
    const prepared = await prepareData({
      primaryUrl: plan.urls.primaryUrl, baseUrl: server.baseUrl,
      maxActors: plan.login.maxActors, loginBudgetMs: plan.login.budgetMs, maxProfiles: 1_000_000, conversationsPerActor: 50,
    });
    data = prepared.data;
    dataStartedAt = prepared.startedAt;
    Object.assign(setup, { logins: data.actors.length, login_failures: prepared.loginFailures, login_s: prepared.loginSeconds, profiles: data.profileIds.length });
    plan.progress(`${data.actors.length} seeded users logged in through the API in ${prepared.loginSeconds} s`);
    const settle = plan.settleAfterLoginMs ?? 0;
    if (settle > 0) {
      plan.progress(`waiting ${Math.round(settle / 1000)} s for the logins' read-your-writes window to pass`);
      await new Promise((r) => setTimeout(r, settle));
    }
  }
  const benchData = data ?? EMPTY_BENCH_DATA;
  await load.setData(benchData);

  let roundTrips: RoundTripProbe[] | undefined;
  if (proxies) {
    plan.progress(`${plan.configuration}: counting round trips per request through the proxies`);
    roundTrips = await probeRoundTrips(server.baseUrl, proxies, benchData);
  }

  const nodes = [{ node: 'primary', url: plan.urls.primaryUrl }, ...started.replicaUrls.map((url, i) => ({ node: `replica${i + 1}`, url }))];
  const sampler = await PgConnectionSampler.open(nodes, plan.urls.database);
  // Direct addresses, not the latency proxies': the processes are found by the port they listen on.
  const directNodes = [{ name: 'primary', url: plan.urls.primaryUrl }, ...started.replicaUrls.map((url, i) => ({ name: `replica${i + 1}`, url }))];
  const cpu = await CpuAccountant.locate({ api: started.servers.map((s) => s.pid), loadGenerator: load.pid, nodes: directNodes, redisUrl: plan.redisUrl, proxy: started.front?.pid, harnessBackends: sampler.backendPids });
  const dbTime = await DbTimeSampler.open(nodes);
  const redisCommands = await RedisCommandSampler.open(plan.redisUrl);
  try {
    const writes = await writesByName();
    const workloads: Record<string, WorkloadMeasure> = {};
    for (const w of plan.workloads) {
      plan.progress(`${plan.configuration}: ${w} (${plan.spec.mode === 'open' ? `${plan.spec.rate} req/s paced over ${plan.spec.connections} connections` : `${plan.spec.connections} connections`}, ${plan.spec.durationMs / 1000} s after ${plan.spec.warmupMs / 1000} s warm-up)`);
      workloads[w] = await measureWorkload({ server, servers: started.servers, port: started.loadPort, load, sampler, writes, cpu, dbTime, ...(redisCommands ? { redisCommands } : {}) }, { ...plan.spec, workload: w });
    }
    return {
      run: {
        configuration: plan.configuration,
        database: plan.urls.database,
        server_env: Object.fromEntries(Object.entries(started.env).filter(([k]) => k.startsWith('BGC_'))),
        setup,
        workloads,
        ...(roundTrips ? { round_trips: roundTrips } : {}),
      },
      data: benchData,
      dataStartedAt,
    };
  } finally {
    await sampler.close();
    await dbTime.close();
    redisCommands?.close();
  }
}

/** Start, measure, stop: one configuration on its own (the growth scenario). */
export async function runConfiguration(plan: ConfigurationPlan): Promise<ConfigurationOutcome> {
  const load = await LoadGenerator.start(EMPTY_BENCH_DATA);
  let started: StartedConfiguration | undefined;
  try {
    started = await startConfiguration(plan);
    return await measureConfiguration(started, load);
  } finally {
    await stopConfiguration(started);
    await load.stop();
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
