import type { CpuUse } from './cpu-accounting.ts';
import type { CpuBound } from './cpu-bound.ts';
import type { RedisCommandUse } from './redis-commands.ts';
import type { EntryTime } from './db-time.ts';
import type { EventLoopDelay } from './server-metrics.ts';

/** The JSON document `bgc bench --json FILE` writes, and the table on stdout is printed from. */
export interface OpMeasure {
  readonly requests: number;
  readonly errors: number;
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
}

export interface WorkloadMeasure {
  readonly workload: string;
  /** closed: capacity run (our closed loop); open: paced at a fixed rate (our generator). */
  readonly mode: 'closed' | 'open';
  readonly latency_source: string;
  readonly connections: number;
  readonly rate: number | null;
  readonly duration_s: number;
  readonly requests: number;
  readonly rps: number;
  /** Latency percentiles; null when no request completed within the run (all were still in flight). */
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
  /** non-2xx responses + socket errors + timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  readonly socket_errors: number;
  readonly timeouts: number;
  readonly status_counts: Readonly<Record<string, number>>;
  readonly cache_hit_ratio: number | null;
  readonly cache_by_name: Readonly<Record<string, { hits: number; misses: number; hit_ratio: number | null }>>;
  readonly replica_read_share: number | null;
  /** Peak app connections (application_name bgc-api) seen in pg_stat_activity, per node. */
  readonly max_pg_connections: Readonly<Record<string, number>>;
  readonly round_trips_per_request: number | null;
  /** Per catalog query: p99 upper bound (ms) from the server's histogram; null above the last bucket. */
  readonly query_p99_ms: Readonly<Record<string, number | null>>;
  readonly reads_by_query: Readonly<Record<string, { replica: number; primary: number }>>;
  readonly routing: Readonly<Record<string, number>>;
  readonly per_op: Readonly<Record<string, OpMeasure>>;
  readonly sample_errors: readonly string[];
  /** Where a request's time went, as means (ms): at the client, in the server's handler, and the API's event-loop delay (server-metrics.ts). */
  readonly time_split?: TimeSplit;
  /** CPU per request and cores busy, per process tree (api, primary, replica1…, redis, load_generator, harness). */
  readonly cpu?: CpuUse;
  /** What the cores allow at that CPU per request (cpu-bound.ts); absent when a component's CPU is unknown. */
  readonly cpu_bound?: CpuBound;
  /** The catalog entries the database spent most executor time on, per request, by node. */
  readonly db_time_top?: readonly EntryTime[];
  /** Redis commands per request (INFO commandstats; script-run commands included) and the busiest ones. */
  readonly redis_commands?: RedisCommandUse;
  /** Open loop: how late the generator made requests due (p99), to show it kept its pace. */
  readonly generator_lag_p99_ms?: number;
  /** Open loop: p99 from the actual send, i.e. without waiting for a free connection. */
  readonly service_p99_ms?: number;
  /** The unmeasured warm-up before the run (its clients connecting and first requests): what it asked and how much failed. */
  readonly warmup?: { readonly requests: number; readonly errors: number };
}

export interface TimeSplit {
  readonly client_mean_ms: number;
  readonly server_mean_ms: number;
  /** client − server: socket queues, the event loop reaching the request, the generator reading the answer. */
  readonly outside_mean_ms: number;
  /** Per route: requests and the handler's mean (ms), busiest first by their product. */
  readonly by_route: Readonly<Record<string, { requests: number; mean_ms: number }>>;
  readonly event_loop_delay_ms: EventLoopDelay | null;
}

export interface FloorMeasure {
  readonly name: string;
  readonly description: string;
  readonly clients: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly errors: number;
}

export interface Ratio {
  readonly rps: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface RoundTripProbe {
  readonly case: string;
  readonly requests: number;
  readonly pg_round_trips_per_request: number;
  readonly redis_round_trips_per_request: number;
  readonly latency_ms_median: number;
  readonly implied_round_trips: number;
}

export interface ConfigurationRun {
  readonly configuration: 'optimized' | 'baseline';
  readonly database: string;
  readonly server_env: Readonly<Record<string, string>>;
  readonly setup: Readonly<Record<string, number | string>>;
  readonly workloads: Readonly<Record<string, WorkloadMeasure>>;
  readonly round_trips?: readonly RoundTripProbe[];
}
