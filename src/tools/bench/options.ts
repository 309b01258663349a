import type { Preset } from './bench-db.ts';
import type { WorkloadName } from './workloads/catalog.ts';
import type { RealtimeBenchOptions } from './scenarios/realtime.ts';

export type Scenario = 'growth' | 'concurrency' | 'latency' | 'realtime' | 'overload';

/** A fully resolved `bgc bench` invocation (the CLI fills defaults, quick mode and scenarios). */
export interface BenchOptions {
  readonly command: string;
  readonly workloads: readonly WorkloadName[];
  readonly preset: Preset;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  /** Total req/s for a paced open-loop run; undefined = closed loop. */
  readonly rate: number | undefined;
  readonly baseline: boolean;
  readonly floor: boolean;
  readonly latencyMs: number | undefined;
  /** The server under test reaches PostgreSQL through PgBouncer (transaction pooling), one per node. */
  readonly pgbouncer: boolean;
  /** The load reaches the server through the fleet's HAProxy (its admission included). */
  readonly haproxy: boolean;
  /** With `haproxy`: this many servers behind it, the fleet's instances (`--instances N`, default 1). */
  readonly instances: number;
  /** Run the server under test with `node --cpu-prof` into this folder (its profile is written when it stops). */
  readonly cpuProfDir?: string;
  /** BGC_* settings for the server under test (`--server-env`), over the bench's own. */
  readonly serverEnv?: Readonly<Record<string, string>>;
  readonly quick: boolean;
  readonly scenario: Scenario | undefined;
  readonly growthPresets: readonly [Preset, Preset];
  readonly timeoutMs: number;
  readonly login: { readonly maxActors: number; readonly budgetMs: number };
  readonly floorDurationMs: number;
  /** The realtime scenario's load (sockets, send rate, share of senders); set by the CLI for it. */
  readonly realtime?: RealtimeBenchOptions;
}
