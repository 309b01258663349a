import os from 'node:os';
import { CpuAccountant } from './cpu-accounting.ts';
import { cpuBound } from './cpu-bound.ts';
import { DbTimeSampler } from './db-time.ts';
import { LatencyHistogram, roundMs } from './histogram.ts';
import type { LoadGenerator } from './load/runner.ts';
import type { LoadMode, LoadResult } from './load/types.ts';
import type { PgConnectionSampler } from './pg-sampler.ts';
import { commandsPerRequest, type CommandCounts, type RedisCommandSampler } from './redis-commands.ts';
import { serverMeasures, type EventLoopDelay, type WritesByName } from './server-metrics.ts';
import { ServerUnderTest } from './server-under-test.ts';
import type { OpMeasure, WorkloadMeasure } from './report-types.ts';
import type { WorkloadName } from './workloads/catalog.ts';

export interface RunSpec {
  readonly workload: WorkloadName;
  readonly mode: LoadMode;
  readonly connections: number;
  readonly rate?: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly timeoutMs: number;
}

export interface MeasureContext {
  readonly server: ServerUnderTest;
  /** Every instance behind HAProxy (`--instances N`), the server first; their metrics are added up. */
  readonly servers?: readonly ServerUnderTest[];
  /** Where the load goes: the server's port, or a proxy's in front of it (`--haproxy`). */
  readonly port?: number;
  readonly load: LoadGenerator;
  readonly sampler: PgConnectionSampler;
  readonly writes: WritesByName;
  /** Where the cores went (issue 15): absent when the harness could not locate the processes. */
  readonly cpu?: CpuAccountant;
  readonly dbTime?: DbTimeSampler;
  readonly redisCommands?: RedisCommandSampler;
}

/**
 * One workload against one server: a warm-up run (not measured: fills caches and pools,
 * lets the JIT settle), then the measured run bracketed by two /metrics scrapes while
 * pg_stat_activity is sampled on every node.
 */
export async function measureWorkload(ctx: MeasureContext, spec: RunSpec): Promise<WorkloadMeasure> {
  const job = { workload: spec.workload, mode: spec.mode, host: '127.0.0.1', port: ctx.port ?? ctx.server.port, connections: spec.connections, rate: spec.rate, timeoutMs: spec.timeoutMs };
  // The warm-up's clients stay connected for the measured run (open loop): the scenario
  // measures clients that are connected, not 10,000 connecting at once.
  const warmup = spec.warmupMs > 0 ? await ctx.load.run({ ...job, durationMs: spec.warmupMs, keepConnections: true }) : undefined;
  const servers = ctx.servers ?? [ctx.server];
  const before = await ServerUnderTest.metricsOf(servers);
  const dbBefore = await ctx.dbTime?.snapshot();
  const redisBefore = await ctx.redisCommands?.snapshot();
  const cpuBefore = ctx.cpu?.snapshot();
  ctx.sampler.start(100);
  let result: LoadResult;
  try {
    result = await ctx.load.run({ ...job, durationMs: spec.durationMs });
  } catch (err) {
    await ctx.sampler.stop();
    throw err;
  }
  const cpuAfter = ctx.cpu?.snapshot();
  const peaks = await ctx.sampler.stop();
  const dbAfter = await ctx.dbTime?.snapshot();
  const redisAfter = await ctx.redisCommands?.snapshot();
  const after = await ServerUnderTest.metricsOf(servers);
  const server = serverMeasures(before, after, ctx.writes, result.responses);
  const measure = toMeasure(spec, result, server, peaks);
  const cpu = cpuBefore && cpuAfter ? CpuAccountant.use(cpuBefore, cpuAfter, result.responses) : undefined;
  const bound = cpuBound(cpu, measure.rps, os.cpus().length);
  return {
    ...measure,
    ...(cpu ? { cpu } : {}),
    ...(bound ? { cpu_bound: bound } : {}),
    ...(dbBefore && dbAfter ? { db_time_top: DbTimeSampler.top(dbBefore, dbAfter, result.responses) } : {}),
    ...redisUse(redisBefore, redisAfter, result.responses),
    ...(warmup ? { warmup: { requests: warmup.responses, errors: warmup.non2xx + warmup.socketErrors + warmup.timeouts + warmup.unsent } } : {}),
  };
}

export function toMeasure(
  spec: Pick<RunSpec, 'workload' | 'mode' | 'connections' | 'rate'>,
  result: LoadResult,
  server: (Pick<WorkloadMeasure, 'cache_hit_ratio' | 'cache_by_name' | 'replica_read_share' | 'round_trips_per_request'> & {
    query_p99_ms: Record<string, number>; reads_by_query: WorkloadMeasure['reads_by_query']; routing: WorkloadMeasure['routing'];
    server_mean_ms?: number | null; event_loop_delay_ms?: EventLoopDelay | null;
    server_time_by_route?: Record<string, { requests: number; mean_ms: number }>;
  }) | undefined,
  peaks: Record<string, number>,
): WorkloadMeasure {
  const h = LatencyHistogram.from(result.histogram);
  const seconds = result.elapsedMs / 1000;
  // Closed loop stops at the deadline: requests still running then are neither answers
  // nor errors. If nothing at all came back, say so instead of printing zeros.
  const none = h.count === 0;
  const notes = none && result.responses === 0 ? [`no request completed within ${seconds.toFixed(1)} s (every connection was still waiting)`] : [];
  const perOp: Record<string, OpMeasure> = {};
  for (const [op, s] of Object.entries(result.perOp)) {
    const oh = LatencyHistogram.from(s.histogram);
    perOp[op] = { requests: s.count, errors: s.errors, p50_ms: roundMs(oh.percentile(50)), p95_ms: roundMs(oh.percentile(95)), p99_ms: roundMs(oh.percentile(99)) };
  }
  return {
    workload: spec.workload,
    mode: result.mode,
    latency_source: result.engine,
    connections: spec.connections,
    rate: spec.rate ?? null,
    duration_s: Math.round(seconds * 100) / 100,
    requests: result.responses,
    rps: seconds > 0 ? Math.round(result.responses / seconds) : 0,
    p50_ms: none ? null : roundMs(h.percentile(50)),
    p95_ms: none ? null : roundMs(h.percentile(95)),
    p99_ms: none ? null : roundMs(h.percentile(99)),
    max_ms: none ? null : roundMs(h.maxMs),
    errors: result.non2xx + result.socketErrors + result.timeouts + result.unsent,
    non2xx: result.non2xx,
    socket_errors: result.socketErrors,
    timeouts: result.timeouts,
    status_counts: result.statusCounts,
    cache_hit_ratio: round4(server?.cache_hit_ratio ?? null),
    cache_by_name: server?.cache_by_name ?? {},
    replica_read_share: round4(server?.replica_read_share ?? null),
    max_pg_connections: peaks,
    round_trips_per_request: round4(server?.round_trips_per_request ?? null),
    reads_by_query: server?.reads_by_query ?? {},
    routing: server?.routing ?? {},
    query_p99_ms: Object.fromEntries(Object.entries(server?.query_p99_ms ?? {}).map(([q, v]) => [q, Number.isFinite(v) ? v : null])),
    per_op: perOp,
    sample_errors: [...notes, ...result.sampleErrors],
    ...timeSplit(none ? undefined : h.meanMs, server),
    ...(result.mode === 'open' ? { generator_lag_p99_ms: roundMs(result.generatorLagP99Ms ?? 0), service_p99_ms: roundMs(result.serviceP99Ms ?? 0) } : {}),
  };
}

/** The client's mean against the server's (closed loop: req/s = connections / client mean). */
function timeSplit(
  clientMeanMs: number | undefined,
  server: { server_mean_ms?: number | null; event_loop_delay_ms?: EventLoopDelay | null; server_time_by_route?: Record<string, { requests: number; mean_ms: number }> } | undefined,
): Pick<WorkloadMeasure, 'time_split'> {
  const serverMeanMs = server?.server_mean_ms;
  if (clientMeanMs === undefined || serverMeanMs === undefined || serverMeanMs === null) return {};
  const byRoute = Object.entries(server?.server_time_by_route ?? {}).sort(([, a], [, b]) => b.requests * b.mean_ms - a.requests * a.mean_ms);
  return {
    time_split: {
      client_mean_ms: roundMs(clientMeanMs),
      server_mean_ms: roundMs(serverMeanMs),
      outside_mean_ms: roundMs(Math.max(0, clientMeanMs - serverMeanMs)),
      by_route: Object.fromEntries(byRoute),
      event_loop_delay_ms: server?.event_loop_delay_ms ?? null,
    },
  };
}

function redisUse(before: CommandCounts | undefined, after: CommandCounts | undefined, requests: number): Pick<WorkloadMeasure, 'redis_commands'> {
  const use = before && after ? commandsPerRequest(before, after, requests) : undefined;
  return use ? { redis_commands: use } : {};
}

function round4(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10_000) / 10_000;
}
