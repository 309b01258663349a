/**
 * Floors for the data stores, measured from their own process (DESIGN §5): a Redis GET
 * from many ioredis clients (one connection each, no auto-pipelining: every GET waits
 * for its reply), PostgreSQL `SELECT 1` from a few pg clients, and a durable one-row
 * commit from as many pg clients as the workloads' connections. Closed loop: each
 * client sends its next command as soon as the previous one answered.
 * This is the one place outside src/cache that talks to Redis: it measures Redis itself,
 * not the app's cache.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { LatencyHistogram } from '../histogram.ts';
import { BENCH_SQL } from '../bench.sql.ts';

export interface StoreFloorJob {
  /** pg: SELECT 1; pg_commit: one durable one-row INSERT per transaction. */
  readonly type: 'redis' | 'pg' | 'pg_commit';
  readonly url: string;
  readonly clients: number;
  readonly durationMs: number;
}

async function closedLoop(clients: number, durationMs: number, op: (i: number) => Promise<void>) {
  const hist = new LatencyHistogram();
  let errors = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(Array.from({ length: clients }, async (_v, i) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try { await op(i); hist.record(performance.now() - t0); } catch { errors++; }
    }
  }));
  return { histogram: hist.snapshot(), errors, elapsedMs: performance.now() - started };
}

async function redisFloor(job: StoreFloorJob) {
  const conns = Array.from({ length: job.clients }, () => new Redis(job.url, { enableAutoPipelining: false, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(conns.map((c) => c.connect()));
    const key = 'bgc:bench:floor:key';
    await conns[0]?.set(key, 'x'.repeat(450), 'EX', 300);
    const r = await closedLoop(job.clients, job.durationMs, async (i) => { await conns[i]?.get(key); });
    await conns[0]?.del(key);
    return r;
  } finally {
    conns.forEach((c) => c.disconnect());
  }
}

async function pgFloor(job: StoreFloorJob) {
  const conns = Array.from({ length: job.clients }, () => new pg.Client({ connectionString: job.url, application_name: 'bgc-bench-floor' }));
  try {
    await Promise.all(conns.map((c) => c.connect()));
    return await closedLoop(job.clients, job.durationMs, async (i) => { await conns[i]?.query(BENCH_SQL.selectOne); });
  } finally {
    await Promise.allSettled(conns.map((c) => c.end()));
  }
}

/**
 * What the disk allows a write path: each client commits one small row per transaction,
 * durably (synchronous_commit on, whatever the server default), closed loop. Concurrent
 * commits share WAL flushes (PostgreSQL's own group commit), as concurrent sends do.
 */
async function pgCommitFloor(job: StoreFloorJob) {
  const table = (sql: string) => sql.replace('%s', String(process.pid));
  const conns = Array.from({ length: job.clients }, () => new pg.Client({ connectionString: job.url, application_name: 'bgc-bench-floor' }));
  const payload = 'x'.repeat(64);
  try {
    await Promise.all(conns.map((c) => c.connect()));
    await conns[0]?.query(table(BENCH_SQL.commitFloorCreate));
    await Promise.all(conns.map((c) => c.query(BENCH_SQL.durableCommits)));
    const insert = { name: 'bench_floor_commit', text: table(BENCH_SQL.commitFloorInsert) };
    const counters = conns.map(() => 0);
    return await closedLoop(job.clients, job.durationMs, async (i) => {
      counters[i] = (counters[i] ?? 0) + 1;
      await conns[i]?.query({ ...insert, values: [i, counters[i], payload] });
    });
  } finally {
    await conns[0]?.query(table(BENCH_SQL.commitFloorDrop)).catch(() => undefined);
    await Promise.allSettled(conns.map((c) => c.end()));
  }
}

process.on('message', (m: unknown) => {
  void (async () => {
    const job = m as StoreFloorJob;
    try {
      const result = job.type === 'redis' ? await redisFloor(job) : job.type === 'pg_commit' ? await pgCommitFloor(job) : await pgFloor(job);
      process.send?.({ type: 'result', ...result });
    } catch (err) {
      process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
