import crypto from 'node:crypto';
import { poolCapacity, type Config } from '../../config/index.ts';
import { ensureBaselineDatabase } from './baseline-db.ts';
import { adminClient, ensureBenchDatabase, waitForReplicas } from './bench-db.ts';
import { gitCommit, loadAverage, machineInfo, type BenchMeta, type BenchReport, type Check, type ScenarioResult } from './bench-report.ts';
import { measureConfiguration, startConfiguration, stopConfiguration, type ConfigurationOutcome, type StartedConfiguration } from './configuration-run.ts';
import { EMPTY_BENCH_DATA } from './data/bench-data.ts';
import { LoadGenerator } from './load/runner.ts';
import { LSN_TTL_MS } from '../../db/lsn-store.ts';
import { copySessions } from './data/load-data.ts';
import { measureFloor } from './floor/floor.ts';
import { pairedMixed, type PairedResult } from './paired.ts';
import type { BenchOptions } from './options.ts';
import { versusBaseline, versusFloor } from './ratios.ts';
import type { ConfigurationRun, FloorMeasure } from './report-types.ts';
import { runGrowth } from './scenarios/growth.ts';
import { runRealtime } from './scenarios/realtime.ts';
import { concurrencyFigures } from './scenarios/concurrency.ts';
import { runOverload } from './scenarios/overload.ts';
import { startBenchPgBouncer } from './pgbouncer-front.ts';

/**
 * `bgc bench` from start to finish: bench databases, the optimized configuration, the
 * baseline, the floor, ratios and checks. Returns the report; the CLI prints it, writes
 * the JSON and turns failed checks into a non-zero exit.
 */
/** Alternating optimized/baseline segments of the mixed workload for the paired comparison. */
const PAIRED_ROUNDS = 4;
/** The durable-commit floor uses the workloads' connection count, up to this many PostgreSQL clients (max_connections 400). */
const MAX_COMMIT_FLOOR_CLIENTS = 100;
/** The app's read-your-writes window after a write (LSN_TTL_MS, src/db/lsn-store.ts), plus a second. */
const RYW_WINDOW_MS = LSN_TTL_MS + 1_000;

export async function runBench(config: Config, opts: BenchOptions, print: (m: string) => void): Promise<BenchReport> {
  const started = performance.now();
  const progress = (m: string) => print(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${m}`);
  await assertStackReachable(config);
  const runId = crypto.randomBytes(4).toString('hex');
  const meta: BenchMeta = {
    command: opts.command,
    preset: opts.scenario === 'growth' ? opts.growthPresets.join('+') : opts.scenario === 'realtime' ? 'none (the realtime scenario makes its own users)' : opts.preset,
    date: new Date().toISOString(),
    git_commit: gitCommit(),
    machine: machineInfo(),
    duration_s: opts.durationMs / 1000,
    warmup_s: opts.warmupMs / 1000,
    connections: opts.connections,
    rate: opts.rate ?? null,
    latency_ms: opts.latencyMs ?? null,
    pgbouncer: opts.pgbouncer,
    haproxy: opts.haproxy,
    server_env: opts.serverEnv ?? {},
    latency_note: opts.realtime
      ? `${opts.realtime.sendRate} sends/s paced through the REST API; delivery latency from the server's publish right after the send's commit to receipt on the recipient's socket`
      : opts.scenario === 'overload'
      ? `closed loop to measure capacity, then ${opts.connections} keep-alive clients offered 4× that rate open loop; latency from when each request became due`
      : opts.rate
      ? `open loop: requests paced evenly at ${opts.rate} req/s over ${opts.connections} keep-alive connections; latency counted from when each request became due`
      : `closed loop (${opts.connections} keep-alive connections): latency is measured at full capacity, not at a fixed rate`,
    databases: {},
    total_seconds: 0,
    load_average_at_end: [],
  };

  if (opts.scenario === 'growth') {
    const growth = await runGrowth(config, opts, runId, progress);
    meta.total_seconds = Math.round((performance.now() - started) / 1000);
    meta.load_average_at_end = loadAverage();
    return emptyReport(meta, { growth: growth.scenario }, growth.checks);
  }

  if (opts.scenario === 'realtime' && opts.realtime) {
    const realtime = await runRealtime(config, { realtime: opts.realtime, durationMs: opts.durationMs, warmupMs: opts.warmupMs, timeoutMs: opts.timeoutMs }, runId, progress);
    meta.total_seconds = Math.round((performance.now() - started) / 1000);
    meta.load_average_at_end = loadAverage();
    return emptyReport(meta, { realtime: realtime.scenario }, realtime.checks);
  }

  if (opts.scenario === 'overload') {
    const overload = await runOverload(config, opts, runId, progress);
    meta.total_seconds = Math.round((performance.now() - started) / 1000);
    meta.load_average_at_end = loadAverage();
    return emptyReport(meta, { overload: overload.scenario }, overload.checks);
  }

  const bench = await ensureBenchDatabase(config, opts.preset, progress);
  const base = opts.baseline ? await ensureBaselineDatabase(config, bench, progress) : undefined;
  (meta.databases as Record<string, unknown>).optimized = bench.marker;
  if (base) (meta.databases as Record<string, unknown>).baseline = base.marker;
  progress('waiting for the replicas to replay the bench data');
  await waitForReplicas(bench.urls.primaryUrl, bench.urls.replicaUrls, 10 * 60_000);

  const spec = {
    mode: opts.rate ? 'open' as const : 'closed' as const,
    connections: opts.connections, rate: opts.rate, warmupMs: opts.warmupMs, durationMs: opts.durationMs, timeoutMs: opts.timeoutMs,
  };
  // The round-trip probe needs profiles that are not cached yet: no warm-up at start-up.
  if (opts.pgbouncer && base) throw new Error('--pgbouncer and --baseline do not combine: the baseline has its own database');
  const pgbouncer = opts.pgbouncer ? await startBenchPgBouncer(config, bench.urls, progress) : undefined;
  const extraEnv = opts.latencyMs || pgbouncer || opts.serverEnv
    ? { ...(opts.latencyMs ? { BGC_CACHE_WARM_COUNT: '0' } : {}), ...pgbouncer?.env, ...opts.serverEnv }
    : undefined;
  const settleAfterLoginMs = opts.quick ? 0 : RYW_WINDOW_MS;
  const common = { redisUrl: config.redis.url, runId, workloads: opts.workloads, spec, login: opts.login, latencyMs: opts.latencyMs, extraEnv, settleAfterLoginMs, cpuProfDir: opts.cpuProfDir, progress };

  // Both servers start at once (compiling and warming in parallel); the baseline one then
  // idles, with no connection open, until its turn. One load generator serves both.
  const optPlan = { ...common, configuration: 'optimized' as const, urls: bench.urls, ...(opts.haproxy ? { haproxy: { config, instances: opts.instances } } : {}) };
  const loadStarting = LoadGenerator.start(EMPTY_BENCH_DATA);
  const starting = [startConfiguration(optPlan), ...(base ? [startConfiguration({ ...common, configuration: 'baseline' as const, urls: base.urls })] : [])];
  const settled = await Promise.allSettled([loadStarting, ...starting]);
  const [loadResult, optResult, baseResult] = settled;
  const load = loadResult?.status === 'fulfilled' ? loadResult.value as LoadGenerator : undefined;
  const optStarted = optResult?.status === 'fulfilled' ? optResult.value as StartedConfiguration : undefined;
  const baseStarted = baseResult?.status === 'fulfilled' ? baseResult.value as StartedConfiguration : undefined;

  let optimized: ConfigurationOutcome;
  let baseline: ConfigurationRun | null = null;
  let floor: Record<string, FloorMeasure> | null = null;
  let paired: PairedResult | null = null;
  try {
    const failure = settled.find((r) => r.status === 'rejected');
    if (failure?.status === 'rejected') throw failure.reason;
    if (!load || !optStarted) throw new Error('the optimized configuration did not start');
    optimized = await measureConfiguration(optStarted, load);
    if (base && baseStarted) {
      if (optimized.dataStartedAt && optimized.data.actors.length > 0) {
        const copied = await copySessions(bench.urls.primaryUrl, base.urls.primaryUrl, optimized.data.actors.map((a) => a.id), optimized.dataStartedAt);
        progress(`copied ${copied} sessions into ${base.urls.database} (the baseline acts as the same users)`);
      }
      baseline = (await measureConfiguration({ ...baseStarted, plan: { ...baseStarted.plan, data: optimized.data } }, load)).run;
      if (opts.workloads.includes('mixed') && optimized.data.actors.length > 0) {
        progress(`mixed, paired: ${PAIRED_ROUNDS} rounds of optimized and baseline segments, alternating`);
        paired = await pairedMixed(load, { optimized: optStarted.server.port, baseline: baseStarted.server.port }, spec, PAIRED_ROUNDS, opts.quick ? 1_000 : 3_000);
      }
    }
    await stopConfiguration(optStarted);
    await stopConfiguration(baseStarted);
    if (opts.floor) {
      progress('floor: trivial route, Redis GET, SELECT 1, durable one-row commit');
      floor = await measureFloor({
        httpConnections: opts.connections, redisClients: 50, pgClients: 8, commitClients: Math.min(opts.connections, MAX_COMMIT_FLOOR_CLIENTS),
        durationMs: opts.floorDurationMs, warmupMs: Math.min(opts.warmupMs, 2_000),
        redisUrl: config.redis.url, pgUrl: bench.urls.primaryUrl,
      }, load);
    }
  } finally {
    await stopConfiguration(optStarted);
    await stopConfiguration(baseStarted);
    await load?.stop();
    await pgbouncer?.stop();
  }

  const scenarios: Record<string, ScenarioResult> = {};
  if (opts.scenario === 'concurrency') scenarios.concurrency = concurrencyFigures(optimized.run, opts, poolCapacity(config.pool));
  if (opts.scenario === 'latency') {
    scenarios.latency = {
      summary: `All traffic to PostgreSQL and Redis through a proxy adding ${opts.latencyMs} ms each way (${2 * (opts.latencyMs ?? 0)} ms per round trip); round trips counted on the wire.`,
      workloads: {},
      figures: { round_trips: optimized.run.round_trips ?? [] },
    };
  }

  const checks = standardChecks(optimized.run, baseline, floor, paired, opts, poolCapacity(config.pool));
  meta.total_seconds = Math.round((performance.now() - started) / 1000);
  meta.load_average_at_end = loadAverage();
  return {
    version: 1,
    meta,
    workloads: optimized.run.workloads,
    optimized: optimized.run,
    baseline,
    floor,
    ratios: {
      optimized_vs_baseline: baseline ? versusBaseline(optimized.run.workloads, baseline.workloads) : null,
      vs_floor: floor ? versusFloor(optimized.run.workloads, floor) : null,
      mixed_paired: paired,
    },
    round_trips: optimized.run.round_trips ?? null,
    scenarios,
    checks,
  };
}

function standardChecks(opt: ConfigurationRun, base: ConfigurationRun | null, floor: Record<string, FloorMeasure> | null, paired: PairedResult | null, opts: BenchOptions, limit: number): Check[] {
  const checks: Check[] = [];
  const errors = (ws: ConfigurationRun['workloads']) => Object.values(ws).reduce((s, w) => s + w.errors, 0);
  checks.push({ name: 'optimized: zero request errors', ok: errors(opt.workloads) === 0, detail: `${errors(opt.workloads)} errors` });
  // The naive baseline may well time out on a big dataset: that is a finding, not a
  // harness failure, except in the smoke test where the dataset is small.
  if (base && opts.quick) checks.push({ name: 'baseline: zero request errors', ok: errors(base.workloads) === 0, detail: `${errors(base.workloads)} errors` });
  if (floor) {
    const fe = Object.values(floor).reduce((s, f) => s + f.errors, 0);
    checks.push({ name: 'floor: zero errors', ok: fe === 0, detail: `${fe} errors` });
  }
  const om = opt.workloads.mixed;
  if (paired && opts.quick) {
    checks.push({ name: 'mixed: optimized not slower than baseline (rps, paired)', ok: paired.errors === 0 && paired.optimized_rps >= paired.baseline_rps, detail: `${paired.optimized_rps} vs ${paired.baseline_rps} req/s over ${paired.rounds.length} alternating rounds (${paired.errors} errors)` });
  }
  if (opts.scenario === 'concurrency' && om) {
    const peak = Math.max(0, ...Object.values(om.max_pg_connections));
    checks.push({ name: 'concurrency: zero errors', ok: om.errors === 0, detail: `${om.errors} errors of ${om.requests}` });
    checks.push({ name: 'concurrency: p99 ≤ 100 ms', ok: om.p99_ms !== null && om.p99_ms <= 100, detail: `p99 ${om.p99_ms} ms` });
    checks.push({ name: 'concurrency: PG connections within the pools', ok: peak <= limit, detail: `peak ${peak} per node (pool_size + max_overflow = ${limit})` });
  }
  return checks;
}

function emptyReport(meta: BenchMeta, scenarios: Record<string, ScenarioResult>, checks: Check[]): BenchReport {
  return { version: 1, meta, workloads: {}, optimized: null, baseline: null, floor: null, ratios: { optimized_vs_baseline: null, vs_floor: null, mixed_paired: null }, round_trips: null, scenarios, checks };
}

async function assertStackReachable(config: Config): Promise<void> {
  try {
    const c = await adminClient(config);
    await c.end();
  } catch (err) {
    const hint = config.usesLocalStack ? ' Start the local stack first: npx bgc stack up' : '';
    throw new Error(`cannot reach PostgreSQL at ${new URL(config.database.primaryUrl).host}: ${err instanceof Error ? err.message : String(err)}.${hint}`, { cause: err });
  }
}
