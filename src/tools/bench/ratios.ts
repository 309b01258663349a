import { coresFor } from './cpu-bound.ts';
import type { FloorMeasure, Ratio, WorkloadMeasure } from './report-types.ts';

/**
 * Ratios printed after the tables. optimized / baseline: rps above 1 is better,
 * latency below 1 is better (0.2 = 80% faster). Workload / floor: how much of the bare
 * HTTP stack's throughput a workload keeps.
 */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return Math.round((a / b) * 1000) / 1000;
}

export function versusBaseline(opt: Readonly<Record<string, WorkloadMeasure>>, base: Readonly<Record<string, WorkloadMeasure>>): Record<string, Ratio & { p50_faster_pct: number | null }> {
  const out: Record<string, Ratio & { p50_faster_pct: number | null }> = {};
  for (const [name, o] of Object.entries(opt)) {
    const b = base[name];
    if (!b) continue;
    const p50 = ratio(o.p50_ms, b.p50_ms);
    out[name] = {
      rps: ratio(o.rps, b.rps), p50, p95: ratio(o.p95_ms, b.p95_ms), p99: ratio(o.p99_ms, b.p99_ms),
      p50_faster_pct: p50 === null ? null : Math.round((1 - p50) * 1000) / 10,
    };
  }
  return out;
}

export interface FloorRatio {
  readonly rps_vs_trivial_route: number | null;
  readonly p99_vs_trivial_route: number | null;
  /** Write workloads only: throughput as a share of the durable one-row commit floor (issue 16 asks ≥ 0.5 for send). */
  readonly rps_vs_durable_commit?: number | null;
  /**
   * Write workloads only: cores that half the durable-commit floor would keep busy at the CPU
   * the workload spent per request, over every process and on the serving side only (cpu-bound.ts).
   * Above the machine's cores, the ≥ 50% target is bound by CPU per request, not by the disk.
   */
  readonly cores_for_half_durable_commit?: { readonly all: number; readonly serving: number } | null;
}

/** Workloads whose every request commits a write: they are read against the durable-commit floor. */
const COMMITTING_WORKLOADS = new Set(['send', 'post', 'comment']);

export function versusFloor(opt: Readonly<Record<string, WorkloadMeasure>>, floor: Readonly<Record<string, FloorMeasure>>): Record<string, FloorRatio> {
  const route = floor.trivial_route;
  const commit = floor.durable_commit;
  const out: Record<string, FloorRatio> = {};
  for (const [name, o] of Object.entries(opt)) {
    out[name] = {
      rps_vs_trivial_route: ratio(o.rps, route?.rps), p99_vs_trivial_route: ratio(o.p99_ms, route?.p99_ms),
      ...(COMMITTING_WORKLOADS.has(name) ? {
        rps_vs_durable_commit: ratio(o.rps, commit?.rps),
        cores_for_half_durable_commit: commit && o.cpu_bound
          ? { all: coresFor(commit.rps / 2, o.cpu_bound.all_ms_per_request), serving: coresFor(commit.rps / 2, o.cpu_bound.serving_ms_per_request) }
          : null,
      } : {}),
    };
  }
  return out;
}
