import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Health checks on their own connection (ManagedPool.probe): a pool whose every client is
 * busy serving the app is a busy node, not a down one. Before, the router's poll queued for
 * a pooled connection behind the app's reads, timed out twice, and took a healthy replica
 * out of rotation; /readyz's ping of the primary queued the same way.
 */
let tdb: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  tdb = await createTestDatabase('probe');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin.end();
  await tdb.drop();
});

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe('health checks on a saturated pool', () => {
  it('every pooled connection checked out: the replicas stay in rotation and the primary answers readiness', async () => {
    const db = new Database(tdb.config({ BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '0', BGC_POOL_ACQUIRE_TIMEOUT_MS: '3000', BGC_REPLICA_POLL_MS: '100' }), { applicationName: 'bgc-probetest' });
    await db.start();
    const held: Array<{ release: () => void }> = [];
    try {
      const tookMs = await until(() => db.router.snapshot().length === 2 && db.router.snapshot().every((r) => r.available), 15_000, 'both replicas in rotation');
      console.log(`[replica-probe-busy-pool] both replicas in rotation after ${tookMs} ms`);
      // The polls run by hand from here, so none overlaps another (an overlap counts as a failed poll).
      db.router.stop();
      for (const pool of [db.primary, ...db.replicas]) {
        for (let i = 0; i < 2; i++) {
          const client = await pool.acquire();
          held.push({ release: () => pool.release(client) });
        }
      }
      expect(db.primary.stats().idle).toBe(0);
      for (let i = 0; i < 4; i++) await db.router.pollOnce();
      for (const r of db.router.snapshot()) {
        expect({ node: r.node, available: r.available, error: r.lastError }).toEqual({ node: r.node, available: true, error: undefined });
      }
      const pingStart = performance.now();
      await db.pingPrimary();
      const pingMs = performance.now() - pingStart;
      console.log(`[replica-probe-busy-pool] primary ping with its pool saturated: ${pingMs.toFixed(1)} ms`);
      expect(pingMs).toBeLessThan(750); // /readyz's bound (src/app/runtime.ts)
      // One check connection per node, told apart from the app's pooled ones.
      const { rows } = await admin.query<{ app: string; n: number }>(
        `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'bgc-probetest%' GROUP BY 1 ORDER BY 1`);
      expect(rows).toEqual([{ app: 'bgc-probetest', n: 2 }, { app: 'bgc-probetest-probe', n: 1 }]);
    } finally {
      for (const h of held) h.release();
      await db.close();
    }
  });
});
