import net from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { ManagedPool } from '../../src/db/managed-pool.ts';
import { PRIMARY_PORT } from '../helpers/constants.ts';
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

  it('a check whose server ends the connection right after an answer (in the same packet) raises no uncaught error, and the next check reconnects', async () => {
    // A proxy that, once armed, appends the FATAL a terminated backend sends (57P01) to the
    // packet carrying the next answer's ReadyForQuery, then closes: the client has the answer
    // and is still checked out (its release runs a microtask later) when the FATAL is parsed.
    // Before, pg-pool listened for a checked-out client's errors nowhere, and that 'error' was
    // uncaught: CI saw it end test processes when a primary stopped under the router's polls.
    let armed = false;
    const fields = Buffer.from('SFATAL\0C57P01\0Mterminating connection due to administrator command\0\0');
    const fatal = Buffer.concat([Buffer.from('E'), Buffer.alloc(4), fields]);
    fatal.writeInt32BE(4 + fields.length, 1);
    const proxy = net.createServer((client) => {
      const server = net.connect(PRIMARY_PORT, '127.0.0.1');
      client.on('data', (d) => server.write(d));
      server.on('data', (d: Buffer) => {
        const readyForQuery = d.length >= 6 && d[d.length - 6] === 0x5a; // 'Z', length 5, status
        if (armed && readyForQuery) {
          armed = false;
          client.end(Buffer.concat([d, fatal]));
          server.destroy();
          return;
        }
        client.write(d);
      });
      const close = () => { client.destroy(); server.destroy(); };
      client.on('error', close);
      server.on('error', close);
      client.on('close', close);
      server.on('close', close);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as net.AddressInfo).port;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => { uncaught.push(err); };
    process.prependListener('uncaughtException', onUncaught);
    const pool = new ManagedPool({ name: 'primary', role: 'primary', url: tdb.primaryUrl.replace(`:${PRIMARY_PORT}/`, `:${port}/`), pool: tdb.config().pool, applicationName: 'bgc-probekill' });
    try {
      await pool.openProbe();
      armed = true;
      const answered = await pool.probe<{ ok: number }>('SELECT 1 AS ok');
      expect(answered.rows[0]?.ok).toBe(1);
      await new Promise((r) => setTimeout(r, 200)); // the FATAL and the close are parsed meanwhile
      expect(uncaught.map(String)).toEqual([]);
      const again = await pool.probe<{ ok: number }>('SELECT 1 AS ok');
      expect(again.rows[0]?.ok).toBe(1);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      await pool.close();
      await new Promise((r) => proxy.close(r));
    }
  });
});
