import type { ChildProcess } from 'node:child_process';
import { roundMs, LatencyHistogram, type HistogramSnapshot } from '../histogram.ts';
import { LoadGenerator } from '../load/runner.ts';
import { forkBenchChild, request, stopProcess, waitForMessage } from '../processes.ts';
import type { FloorMeasure } from '../report-types.ts';
import { EMPTY_BENCH_DATA } from '../data/bench-data.ts';
import type { StoreFloorJob } from './store-child.ts';

/**
 * The floor of DESIGN §5, measured on the same machine in the same run: what the HTTP
 * stack, Redis and PostgreSQL can do with nothing of ours in the way. Workloads are
 * compared with these ("cached profile rps / trivial route rps").
 */
export interface FloorOptions {
  readonly httpConnections: number;
  readonly redisClients: number;
  readonly pgClients: number;
  /** Clients of the durable-commit floor: the write workloads' connection count. */
  readonly commitClients: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly redisUrl: string;
  readonly pgUrl: string;
}

export async function measureFloor(opts: FloorOptions, load?: LoadGenerator): Promise<Record<string, FloorMeasure>> {
  const stores = forkBenchChild('floor/store-child.ts');
  try {
    return {
      trivial_route: await trivialRoute(opts, load),
      redis_get: await storeFloor(stores, 'redis_get', `Redis GET of a 450-byte value, ${opts.redisClients} ioredis clients, no pipelining, closed loop`,
        { type: 'redis', url: opts.redisUrl, clients: opts.redisClients, durationMs: opts.durationMs }, opts.warmupMs),
      select_1: await storeFloor(stores, 'select_1', `PostgreSQL SELECT 1 on the primary, ${opts.pgClients} pg clients, closed loop`,
        { type: 'pg', url: opts.pgUrl, clients: opts.pgClients, durationMs: opts.durationMs }, opts.warmupMs),
      durable_commit: await storeFloor(stores, 'durable_commit',
        `PostgreSQL durable one-row commit on the primary (pgbench-style INSERT of a ~100-byte row into a plain table, no index, synchronous_commit on), ${opts.commitClients} pg clients, closed loop`,
        { type: 'pg_commit', url: opts.pgUrl, clients: opts.commitClients, durationMs: opts.durationMs }, opts.warmupMs),
    };
  } finally {
    if (stores.connected) stores.disconnect();
    await stopProcess(stores, 5_000);
  }
}

async function trivialRoute(opts: FloorOptions, shared: LoadGenerator | undefined): Promise<FloorMeasure> {
  const server = forkBenchChild('floor/trivial-server.ts');
  const listening = waitForMessage<{ port: number; bytes: number }>(server, 'listening', 30_000);
  const load = shared ?? await LoadGenerator.start(EMPTY_BENCH_DATA);
  try {
    const { port, bytes } = await listening;
    const job = { workload: 'trivial' as const, mode: 'closed' as const, host: '127.0.0.1', port, connections: opts.httpConnections, timeoutMs: 10_000 };
    if (opts.warmupMs > 0) await load.run({ ...job, durationMs: opts.warmupMs });
    const r = await load.run({ ...job, durationMs: opts.durationMs });
    const h = LatencyHistogram.from(r.histogram);
    return {
      name: 'trivial_route',
      description: `Fastify route returning a constant ${bytes}-byte JSON, ${opts.httpConnections} connections, the same closed loop as the workloads`,
      clients: opts.httpConnections,
      rps: Math.round(r.responses / (r.elapsedMs / 1000)),
      p50_ms: roundMs(h.percentile(50)), p95_ms: roundMs(h.percentile(95)), p99_ms: roundMs(h.percentile(99)),
      errors: r.non2xx + r.socketErrors + r.timeouts,
    };
  } finally {
    if (!shared) await load.stop();
    if (server.connected) server.disconnect();
    await stopProcess(server, 5_000);
  }
}

async function storeFloor(child: ChildProcess, name: string, description: string, job: StoreFloorJob, warmupMs: number): Promise<FloorMeasure> {
  type Reply = { histogram: HistogramSnapshot; errors: number; elapsedMs: number };
  if (warmupMs > 0) await request<Reply>(child, { ...job, durationMs: warmupMs }, 'result', warmupMs + 30_000);
  const r = await request<Reply>(child, job, 'result', job.durationMs + 30_000);
  const h = LatencyHistogram.from(r.histogram);
  return {
    name, description, clients: job.clients,
    rps: Math.round(h.count / (r.elapsedMs / 1000)),
    p50_ms: roundMs(h.percentile(50)), p95_ms: roundMs(h.percentile(95)), p99_ms: roundMs(h.percentile(99)),
    errors: r.errors,
  };
}
