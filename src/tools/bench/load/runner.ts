import type { ChildProcess } from 'node:child_process';
import { forkBenchChild, request, stopProcess } from '../processes.ts';
import type { BenchData } from '../data/bench-data.ts';
import type { LoadJob, LoadResult } from './types.ts';

/** The harness side of the load generator child: start it, hand it data, run jobs. */
export class LoadGenerator {
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess) { this.#child = child; }

  /** The generator's process (its CPU is accounted for as `load_generator`). */
  get pid(): number | undefined { return this.#child.pid; }

  /** `niceness`: the child's scheduling priority (forkBenchChild); the default leaves it as the harness's. */
  static async start(data: BenchData, niceness?: number): Promise<LoadGenerator> {
    const child = forkBenchChild('load/child.ts', {}, niceness);
    const gen = new LoadGenerator(child);
    await request(child, { type: 'init', data, seed: 1 }, 'ready', 60_000);
    return gen;
  }

  /** Replaces the data requests are drawn from (the same process serves every configuration). */
  async setData(data: BenchData): Promise<void> {
    await request(this.#child, { type: 'init', data, seed: 1 }, 'ready', 60_000);
  }

  async run(job: Omit<LoadJob, 'type'>): Promise<LoadResult> {
    // Generous bound: the run itself, connection set-up for big client counts, and drain.
    const bound = job.durationMs + job.timeoutMs * 2 + 60_000;
    return request<LoadResult>(this.#child, { type: 'run', ...job }, 'result', bound);
  }

  async stop(): Promise<void> {
    if (this.#child.connected) this.#child.disconnect();
    await stopProcess(this.#child, 5_000);
  }
}
