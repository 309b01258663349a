import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './processes.ts';
import type { PairedResult } from './paired.ts';
import type { FloorRatio } from './ratios.ts';
import type { ConfigurationRun, FloorMeasure, Ratio, RoundTripProbe, WorkloadMeasure } from './report-types.ts';

export interface Check { readonly name: string; readonly ok: boolean; readonly detail: string }

export interface ScenarioResult {
  readonly summary: string;
  readonly workloads: Readonly<Record<string, Readonly<Record<string, WorkloadMeasure>>>>;
  readonly figures: Readonly<Record<string, unknown>>;
}

export interface BenchMeta {
  readonly command: string;
  readonly preset: string;
  readonly date: string;
  readonly git_commit: string | null;
  readonly machine: { readonly cpus: number; readonly cpu_model: string; readonly memory_gb: number; readonly node: string; readonly os: string; readonly load_average_at_start: readonly number[] };
  /** 1/5/15-minute load averages when the run ended: above the core count, other work shared the CPUs. */
  load_average_at_end: readonly number[];
  readonly duration_s: number;
  readonly warmup_s: number;
  readonly connections: number;
  readonly rate: number | null;
  readonly latency_ms: number | null;
  /** The server reached PostgreSQL through PgBouncer (`--pgbouncer`); absent in older reports. */
  readonly pgbouncer?: boolean;
  /** The load reached the server through the fleet's HAProxy (`--haproxy`); absent in older reports. */
  readonly haproxy?: boolean;
  /** `--server-env` settings the server under test ran with; absent in older reports. */
  readonly server_env?: Readonly<Record<string, string>>;
  readonly latency_note: string;
  readonly databases: Readonly<Record<string, unknown>>;
  total_seconds: number;
}

/** Everything one `bgc bench` invocation measured; written as-is by --json. */
export interface BenchReport {
  readonly version: 1;
  readonly meta: BenchMeta;
  /** The optimized configuration's workloads (the acceptance shape: per workload rps, p50_ms, …). */
  readonly workloads: Readonly<Record<string, WorkloadMeasure>>;
  readonly optimized: ConfigurationRun | null;
  readonly baseline: ConfigurationRun | null;
  readonly floor: Readonly<Record<string, FloorMeasure>> | null;
  readonly ratios: {
    readonly optimized_vs_baseline: Readonly<Record<string, Ratio & { p50_faster_pct: number | null }>> | null;
    readonly vs_floor: Readonly<Record<string, FloorRatio>> | null;
    /** Mixed workload, optimized and baseline alternating in short segments (steadier on a busy machine). */
    readonly mixed_paired: PairedResult | null;
  };
  readonly round_trips: readonly RoundTripProbe[] | null;
  readonly scenarios: Readonly<Record<string, ScenarioResult>>;
  readonly checks: readonly Check[];
}

/** The 1, 5 and 15 minute load averages now, to two decimals (read at the start and at the end of a run). */
export function loadAverage(): number[] {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}

export function machineInfo(): BenchMeta['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    memory_gb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    load_average_at_start: loadAverage(),
  };
}

/** The commit measured: from git, or from a REVISION file in an exported tree (git archive). */
export function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    const file = path.join(projectRoot, 'REVISION');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : null;
  }
}
