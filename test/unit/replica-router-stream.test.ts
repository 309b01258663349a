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
