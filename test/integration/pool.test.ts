import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import type pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { ManagedPool } from '../../src/db/managed-pool.ts';
import { defineQuery } from '../../src/catalog/types.ts';
import { DbUnavailableError, isPoolSaturated, isRetryableReadError } from '../../src/db/errors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

let tdb: TestDatabase;
let admin: pg.Client;

async function appConnections(appName: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [appName]);
  return Number(rows[0]?.n ?? 0);
}

beforeAll(async () => {
  tdb = await createTestDatabase('pool');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin.end();
  await tdb.drop();
});

describe('managed pool (FR-001, SC-002)', () => {
  it('opens pool_size connections at start-up, keeps them, and caps at size + overflow under load', async () => {
    const config = tdb.config({ BGC_POOL_IDLE_TIMEOUT_MS: '400' });
    const db = new Database(config, { applicationName: 'bgc-pooltest-a' });
    await db.start();
    try {
      expect(await appConnections('bgc-pooltest-a')).toBe(10);
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await appConnections('bgc-pooltest-a'));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      // pg_sleep holds each connection, so 200 concurrent queries must queue on the pool.
      await Promise.all(Array.from({ length: 200 }, () => db.primary.query('SELECT pg_sleep(0.02)')));
      sampling = false;
      await sampler;
      expect(peak).toBeGreaterThan(10);
      expect(peak).toBeLessThanOrEqual(30);
      // Overflow connections close again once idle; the standing 10 stay.
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && (await appConnections('bgc-pooltest-a')) > 10) await new Promise((r) => setTimeout(r, 100));
      expect(await appConnections('bgc-pooltest-a')).toBe(10);
      expect(db.primary.stats().total).toBe(10);
    } finally {
      await db.close();
    }
  });

  it('survives pg_terminate_backend of every idle connection: the next queries succeed', async () => {
    const db = new Database(tdb.config(), { applicationName: 'bgc-pooltest-b' });
    await db.start();
    try {
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 2000))::text AS n FROM pg_stat_activity
          WHERE application_name = 'bgc-pooltest-b' AND datname = current_database() AND state = 'idle'`);
      expect(Number(rows[0]?.n)).toBe(10);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => db.primary.query<{ v: number }>('SELECT $1::int AS v', [i])));
      expect(results.map((r) => r.rows[0]?.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      // The pool keeps at least its standing connections, never more than size + overflow.
      const n = await appConnections('bgc-pooltest-b');
      expect(n).toBeGreaterThanOrEqual(10);
      expect(n).toBeLessThanOrEqual(30);
    } finally {
      await db.close();
    }
  });

  it('pre-pings a connection that sat idle and replaces it if the server killed it', async () => {
    const config = tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '0', BGC_POOL_PREPING_AFTER_MS: '0' });
    const pool = new ManagedPool({ name: 'primary', role: 'primary', url: config.database.primaryUrl, pool: config.pool, applicationName: 'bgc-pooltest-c' });
    await pool.prefill();
    try {
      const before = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await admin.query('SELECT pg_terminate_backend($1, 2000)', [before.rows[0]?.pid]);
      const after = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(after.rows[0]?.pid).not.toBe(before.rows[0]?.pid);
    } finally {
      await pool.close();
    }
  });

  it('a node that accepts but never answers is unavailable, not a saturated pool (a read may move on)', async () => {
    // A listener that takes the connection and never speaks: pg waits for the server's
    // first message until the acquire timeout, with no client of the pool checked out.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const config = tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '0', BGC_POOL_ACQUIRE_TIMEOUT_MS: '300' });
    const pool = new ManagedPool({ name: 'replica1', role: 'replica', url: `postgres://postgres@127.0.0.1:${port}/postgres`, pool: config.pool, applicationName: 'bgc-pooltest-silent', lazy: true });
    try {
      const err = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbUnavailableError);
      expect((err as DbUnavailableError).code, (err as Error).message).toBe('DB_UNAVAILABLE');
      expect(isRetryableReadError(err) && !isPoolSaturated(err)).toBe(true);
    } finally {
      await pool.close();
      silent.close();
    }
  });

  it('a transaction whose ROLLBACK fails gives its connection up instead of handing it to the next request', async () => {
    const pidOf = defineQuery({ name: 'pooltest.pid', description: 'test read', target: 'primary', sample: [], sql: 'SELECT pg_backend_pid() AS pid' });
    const db = new Database(tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '0', BGC_STATEMENT_TIMEOUT_MS: '500' }), { applicationName: 'bgc-pooltest-rollback', clientQueryTimeout: true });
    await db.start();
    let stopped = 0;
    try {
      // The backend freezes after the statement, so the ROLLBACK after the caller's error
      // runs into the client-side bound (statement timeout + 1 s).
      const err: unknown = await db.transaction(async (tx) => {
        const [row] = await tx.query<{ pid: number }>(pidOf, []);
        stopped = row?.pid ?? 0;
        process.kill(stopped, 'SIGSTOP');
        throw new Error('the caller failed after its statement');
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe('the caller failed after its statement');
      process.kill(stopped, 'SIGCONT');
      const before = stopped;
      stopped = 0;
      const t0 = performance.now();
      const next = await db.primary.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      console.log(`[pool] after a failed ROLLBACK on backend ${before}, the next statement ran on ${next.rows[0]?.pid} in ${Math.round(performance.now() - t0)} ms`);
      expect(next.rows[0]?.pid, 'the connection of the failed ROLLBACK was not reused').not.toBe(before);
    } finally {
      if (stopped) process.kill(stopped, 'SIGCONT');
      await db.close();
    }
  });

  it('a saturated pool yields the typed timeout error instead of hanging', async () => {
    const config = tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '1', BGC_POOL_ACQUIRE_TIMEOUT_MS: '200' });
    const pool = new ManagedPool({ name: 'primary', role: 'primary', url: config.database.primaryUrl, pool: config.pool, applicationName: 'bgc-pooltest-d' });
    await pool.prefill();
    try {
      const holders = [pool.query('SELECT pg_sleep(1)'), pool.query('SELECT pg_sleep(1)')];
      const started = Date.now();
      const err = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbUnavailableError);
      expect((err as DbUnavailableError).code).toBe('DB_POOL_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(900);
      await Promise.all(holders);
    } finally {
      await pool.close();
    }
  });
});
