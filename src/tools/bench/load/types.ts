import type { HistogramSnapshot } from '../histogram.ts';
import type { BenchData } from '../data/bench-data.ts';
import type { WorkloadName } from '../workloads/catalog.ts';

/** One HTTP request as the generators send it; `op` names it in per-operation stats. */
export interface HttpRequestSpec {
  readonly op: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * How a run generates load. closed: N connections, each sends its next request when
 * the previous answered (load/closed-loop.ts) — measures capacity. open: requests scheduled at
 * an even rate over N keep-alive connections whatever the server does (our pacer) —
 * latency at a fixed rate, measured from the scheduled send time.
 */
export type LoadMode = 'closed' | 'open';

export interface LoadJob {
  readonly type: 'run';
  readonly workload: WorkloadName | 'trivial';
  readonly mode: LoadMode;
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  readonly durationMs: number;
  /** Total requests per second for open-loop runs. */
  readonly rate?: number;
  /** Per-request timeout; a request that takes longer counts as an error. */
  readonly timeoutMs: number;
  /**
   * Open loop: leave the connections open at the end for the next run to the same host, port
   * and client count (a warm-up hands its clients to the measured run). Ignored by the closed loop.
   */
  readonly keepConnections?: boolean;
}

export interface OpStats {
  readonly count: number;
  readonly errors: number;
  readonly histogram: HistogramSnapshot;
}

export interface LoadResult {
  readonly type: 'result';
  readonly mode: LoadMode;
  readonly engine: string;
  readonly elapsedMs: number;
  /** Responses received (any status). */
  readonly responses: number;
  readonly non2xx: number;
  /** Socket errors, resets and timeouts. */
  readonly socketErrors: number;
  readonly timeouts: number;
  readonly statusCounts: Readonly<Record<string, number>>;
  readonly histogram: HistogramSnapshot;
  /** 2xx answers only. */
  readonly okHistogram?: HistogramSnapshot;
  /** 503 answers only (refusals by admission control or an outage). */
  readonly refusedHistogram?: HistogramSnapshot;
  readonly perOp: Readonly<Record<string, OpStats>>;
  /** Open loop: requests scheduled but never sent because every connection was busy at the end. */
  readonly unsent: number;
  /** Open loop: the most connections that were open at once. */
  readonly peakOpenConnections: number;
  /** Open loop: p99 from the actual send (queueing for a free connection excluded). */
  readonly serviceP99Ms?: number;
  /** Open loop: how late the generator's timer made requests due (its own lag, excluded from latency). */
  readonly generatorLagP99Ms?: number;
  readonly sampleErrors: readonly string[];
}

export interface InitMessage {
  readonly type: 'init';
  readonly data: BenchData;
  readonly seed: number;
}
