import { describe, expect, it } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * A replica that has not streamed since it started (its upstream refused it, or was down while
 * it restarted): pg_last_wal_receive_lsn() is NULL, so its own lag figure says 0 and no received
 * position shows the stream stopped. How long the primary has been past what it replayed must
 * take it out of rotation, as for a stream that stopped (no I/O: the pools answer the poller's
 * statements from the test's values, on the test's clock).
 */
function fakePool(name: string, role: 'primary' | 'replica', row: () => Record<string, unknown>): ManagedPool {
  return { name, role, closed: false, checksDirect: false, probe: async () => ({ rows: [row()] }) } as unknown as ManagedPool;
}

describe('a replica that is not streaming', () => {
  it('leaves rotation once the primary has been past its replayed position for longer than the max lag', async () => {
    let now = Date.parse('2026-12-31T23:59:30Z');
    let primaryLsn = '0/2000';
    const primary = fakePool('primary', 'primary', () => ({ lsn: primaryLsn }));
    // What system.replica_status answers for such a standby: replayed 0/1000, received NULL, lag 0.
    const replica = fakePool('replica1', 'replica', () => ({ in_recovery: true, replay_lsn: '0/1000', receive_lsn: null, lag_ms: 0, paused: false }));
    const router = new ReplicaRouter(primary, [replica], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0, now: () => now });
    await router.pollOnce();
    expect(router.snapshot()[0]?.available).toBe(true);
    for (let i = 0; i < 6; i++) {
      now += 500;
      primaryLsn = `0/${(0x3000 + i * 0x100).toString(16)}`;
      await router.pollOnce();
    }
    expect(router.snapshot()[0]).toMatchObject({ available: false });
    expect(router.snapshot()[0]?.lagMs).toBeGreaterThan(2_000);
  });
});

describe('the position of a write when the app\'s primary pool has no connection for it', () => {
  it('is the primary\'s position from the poller\'s next poll, asked on its own connection after the commit', async () => {
    let primaryLsn = '0/1000';
    const primary = {
      name: 'primary', role: 'primary', closed: false, checksDirect: false,
      probe: async () => ({ rows: [{ lsn: primaryLsn }] }),
      query: async () => { throw Object.assign(new Error('timeout exceeded when trying to connect'), { code: 'DB_POOL_TIMEOUT' }); },
    } as unknown as ManagedPool;
    const replica = fakePool('replica1', 'replica', () => ({ in_recovery: true, replay_lsn: '0/1000', receive_lsn: '0/1000', lag_ms: 0, paused: false }));
    const router = new ReplicaRouter(primary, [replica], { maxLagMs: 2_000, pollMs: 50, readYourWritesWaitMs: 0 });
    await router.start();
    try {
      primaryLsn = '0/5000'; // the write committed: the primary is here now
      const started = Date.now();
      const lsn = await router.writtenLsn();
      console.log(`position from the next poll after ${Date.now() - started} ms`);
      expect(lsn).toBe('0/5000');
    } finally {
      router.stop();
    }
  });

  it('without a poller (a tool, not the app) the pool\'s error stands', async () => {
    const primary = { name: 'primary', role: 'primary', closed: false, query: async () => { throw new Error('pool timeout'); } } as unknown as ManagedPool;
    const router = new ReplicaRouter(primary, [fakePool('replica1', 'replica', () => ({}))], { maxLagMs: 2_000, pollMs: 50, readYourWritesWaitMs: 0 });
    await expect(router.writtenLsn()).rejects.toThrow(/pool timeout/);
  });
});
