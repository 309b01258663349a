import { describe, expect, it } from 'vitest';
import { coresFor, cpuBound } from '../../src/tools/bench/cpu-bound.ts';
import { versusFloor } from '../../src/tools/bench/ratios.ts';
import type { CpuUse } from '../../src/tools/bench/cpu-accounting.ts';
import type { FloorMeasure, WorkloadMeasure } from '../../src/tools/bench/report-types.ts';

/** A send run as measured on 2026-12-06 (API 0.171, primary 0.157 ms per send, …). */
const SEND_CPU: CpuUse = {
  cpu_ms_per_request: { api: 0.171, primary: 0.157, replica1: 0.036, replica2: 0.036, redis: 0.029, load_generator: 0.057, harness: 0.004 },
  cores: {},
};

describe('cpuBound', () => {
  it('adds every process for the bound and leaves the load generator and harness out of the serving side', () => {
    const b = cpuBound(SEND_CPU, 3253, 2);
    expect(b).not.toBeNull();
    expect(b?.all_ms_per_request).toBe(0.49);
    expect(b?.serving_ms_per_request).toBe(0.429);
    expect(b?.rps_at_all_cores).toBe(4082); // 2 cores × 1000 / 0.49 ms
    expect(b?.serving_rps_at_all_cores).toBe(4662);
    expect(b?.share_of_bound).toBeCloseTo(3253 / (2000 / 0.49), 3);
  });

  it('gives no bound when a component is unknown, rather than one from a partial sum', () => {
    expect(cpuBound({ ...SEND_CPU, cpu_ms_per_request: { ...SEND_CPU.cpu_ms_per_request, primary: null } }, 3253, 2)).toBeNull();
    expect(cpuBound(undefined, 3253, 2)).toBeNull();
    expect(cpuBound({ cpu_ms_per_request: {}, cores: {} }, 3253, 2)).toBeNull();
    expect(cpuBound(SEND_CPU, 3253, 0)).toBeNull();
  });

  it('counts the cores a rate keeps busy', () => {
    expect(coresFor(4622, 0.49)).toBe(2.265);
    expect(coresFor(0, 0.49)).toBe(0);
  });
});

describe('versusFloor: cores for half the durable-commit floor', () => {
  const floor: Record<string, FloorMeasure> = {
    durable_commit: { name: 'durable_commit', description: '', clients: 50, rps: 9245, p50_ms: 5, p95_ms: 10, p99_ms: 14, errors: 0 },
  };
  const measure = (workload: string, withCpu: boolean) => ({
    workload, rps: 3253, p99_ms: 32.9,
    ...(withCpu ? { cpu: SEND_CPU, cpu_bound: cpuBound(SEND_CPU, 3253, 2) ?? undefined } : {}),
  }) as unknown as WorkloadMeasure;

  it('is given for committing workloads with a CPU figure, over every process and the serving side', () => {
    const r = versusFloor({ send: measure('send', true) }, floor);
    expect(r.send?.rps_vs_durable_commit).toBe(0.352);
    expect(r.send?.cores_for_half_durable_commit).toEqual({ all: 2.265, serving: 1.983 });
  });

  it('is null without a CPU figure, and absent for reads', () => {
    expect(versusFloor({ send: measure('send', false) }, floor).send?.cores_for_half_durable_commit).toBeNull();
    expect(versusFloor({ profile: measure('profile', true) }, floor).profile).not.toHaveProperty('cores_for_half_durable_commit');
  });
});
