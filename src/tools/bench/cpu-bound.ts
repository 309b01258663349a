import type { CpuUse } from './cpu-accounting.ts';

/**
 * What the cores allow at the CPU a workload spent per request: the rate at which every core of
 * this machine would be busy, which no tuning of waits, pools or queues can pass. A target above
 * it is bound by the CPU per request, and the report says by how much (issues 15 and 16 ask for
 * that when a target cannot be met on two shared cores).
 *
 * Two figures, because the load generator shares the machine in the bench but not in a
 * deployment: with every process the bench measured, and with the serving side only (the API
 * instances, HAProxy, PostgreSQL and Redis: everything but the load generator and the harness).
 */
export interface CpuBound {
  /** CPU ms per request over every measured process tree. */
  readonly all_ms_per_request: number;
  /** The same without the load generator and the harness. */
  readonly serving_ms_per_request: number;
  /** Requests/s at which all the machine's cores would be busy, at all_ms_per_request. */
  readonly rps_at_all_cores: number;
  /** The same at serving_ms_per_request (the load generator on another machine). */
  readonly serving_rps_at_all_cores: number;
  /** The measured rate as a share of rps_at_all_cores. */
  readonly share_of_bound: number;
}

/** Not part of the serving side: they would not share a production machine with it. */
const NOT_SERVING = new Set(['load_generator', 'harness']);

/**
 * Null when any component's figure is unknown (a server on another machine, a process that
 * exited): a bound from a partial sum would be too high, and never shown as if it were whole.
 */
export function cpuBound(cpu: CpuUse | undefined, measuredRps: number, cores: number): CpuBound | null {
  if (!cpu || cores <= 0) return null;
  const figures = Object.entries(cpu.cpu_ms_per_request);
  if (figures.length === 0 || figures.some(([, ms]) => ms === null)) return null;
  const all = figures.reduce((n, [, ms]) => n + (ms ?? 0), 0);
  const serving = figures.filter(([name]) => !NOT_SERVING.has(name)).reduce((n, [, ms]) => n + (ms ?? 0), 0);
  if (all <= 0 || serving <= 0) return null;
  const atAll = (cores * 1000) / all;
  return {
    all_ms_per_request: round3(all),
    serving_ms_per_request: round3(serving),
    rps_at_all_cores: Math.round(atAll),
    serving_rps_at_all_cores: Math.round((cores * 1000) / serving),
    share_of_bound: round3(measuredRps / atAll),
  };
}

/** Cores a rate would keep busy at a CPU cost per request (e.g. half the durable-commit floor). */
export function coresFor(rps: number, msPerRequest: number): number {
  return round3((rps * msPerRequest) / 1000);
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
