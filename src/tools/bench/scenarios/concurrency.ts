import type { ScenarioResult } from '../bench-report.ts';
import type { BenchOptions } from '../options.ts';
import type { ConfigurationRun, WorkloadMeasure } from '../report-types.ts';
import { API_MAIN_THREAD } from '../cpu-accounting.ts';

/**
 * The concurrency scenario of DESIGN §6: 10,000 keep-alive clients at a fixed total of
 * 2,000 req/s of the mixed workload (paced open loop, every client takes its turn), with
 * zero errors, p99 ≤ 100 ms and no more PostgreSQL connections than the pools allow.
 * The CLI sets the load; this turns the run into the scenario's figures.
 */
export const CONCURRENCY_DEFAULTS = { connections: 10_000, rate: 2_000 } as const;

export function concurrencyFigures(run: ConfigurationRun, opts: BenchOptions, poolLimit: number): ScenarioResult {
  const m = run.workloads.mixed;
  const peak = m ? Math.max(0, ...Object.values(m.max_pg_connections)) : null;
  return {
    summary: m
      ? `${opts.connections} keep-alive clients, ${opts.rate} req/s mixed (paced): ${m.requests} requests, ${m.errors} errors, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms, peak PG connections per node ${JSON.stringify(m.max_pg_connections)} (pool limit ${poolLimit}); generator lag p99 ${m.generator_lag_p99_ms ?? '-'} ms${eventLoopWaited(m)}${warmupErrors(m)}.`
      : 'the mixed workload did not run',
    workloads: { mixed: m ? { mixed: m } : {} },
    figures: { clients: opts.connections, rate: opts.rate ?? null, errors: m?.errors ?? null, p99_ms: m?.p99_ms ?? null, peak_pg_connections: peak, pool_limit_per_node: poolLimit },
  };
}

/** The API's event loop waiting for a core: on shared cores, the stalls behind bursts of refusals. */
function eventLoopWaited(m: WorkloadMeasure): string {
  const share = m.cpu?.waiting?.[API_MAIN_THREAD];
  return share === null || share === undefined ? '' : `; the API's event loop waited for a core ${(share * 100).toFixed(1)}% of the run`;
}

/** The warm-up is when the clients connect and send their first requests: its refusals are said, not hidden. */
function warmupErrors(m: WorkloadMeasure): string {
  return m.warmup ? `; in the warm-up before it (the clients connecting): ${m.warmup.errors} errors of ${m.warmup.requests}` : '';
}
