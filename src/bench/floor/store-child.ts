/**
 * Floors for the data stores, measured from their own process (DESIGN §5): a Redis GET
 * from many ioredis clients (one connection each, no auto-pipelining: every GET waits
 * for its reply) and PostgreSQL `SELECT 1` from a few pg clients. Closed loop: each
 * client sends its next command as soon as the previous one answered.
 * This is the one place outside src/cache that talks to Redis: it measures Redis itself,
 * not the app's cache.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { LatencyHistogram } from '../histogram.ts';
import { BENCH_SQL } from '../bench.sql.ts';

export interface StoreFloorJob {
  readonly type: 'redis' | 'pg';
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

process.on('message', (m: unknown) => {
  void (async () => {
    const job = m as StoreFloorJob;
    try {
      const result = job.type === 'redis' ? await redisFloor(job) : await pgFloor(job);
      process.send?.({ type: 'result', ...result });
    } catch (err) {
      process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
