import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * A replica out for a failed read while its health checks go to the node directly (behind
 * PgBouncer, ManagedPool.checksDirect) comes back only once a statement through its pool
 * answers (src/db/replica-router.ts, #checkPoolPath). A check through the pool that started
 * before a newer failed read proves nothing after it: it must not clear that read's mark.
 * Fake timers; the pool answers its SELECT 1 after 300 ms.
 */
const LSN = '0/7000';
const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => { setTimeout(() => resolve(value), ms); });
const primary = {
  name: 'primary', role: 'primary', closed: false, checksDirect: false,
  probe: async () => ({ rows: [{ lsn: LSN }] }),
  query: async () => ({ rows: [{ lsn: LSN }] }),
} as unknown as ManagedPool;
let poolPathChecks = 0;
const replica = {
  name: 'replica1', role: 'replica', closed: false, checksDirect: true, acquireTimeoutMs: 1_000,
  probe: async () => ({ rows: [{ in_recovery: true, replay_lsn: LSN, receive_lsn: LSN, lag_ms: 0, paused: false }] }),
  query: () => { poolPathChecks++; return after(300, { rows: [{ '?column?': 1 }] }); },
} as unknown as ManagedPool;

afterEach(() => { vi.useRealTimers(); });

async function poll(router: ReplicaRouter): Promise<void> {
  const tick = router.pollOnce();
  await vi.advanceTimersByTimeAsync(400);
  await tick;
}

describe('the check through a replica pool', () => {
  it('a read that fails while the check runs keeps the replica suspect: the next poll checks the pool again', async () => {
    vi.useFakeTimers();
    const router = new ReplicaRouter(primary, [replica], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });
    router.reportFailure(replica, new Error('server closed the connection unexpectedly'));
    expect(router.snapshot()[0]).toMatchObject({ available: false });

    const tick = router.pollOnce();
    await vi.advanceTimersByTimeAsync(100);
    expect(poolPathChecks).toBe(1);
    // The check has not answered yet; a newer read fails through the pool.
    router.reportFailure(replica, new Error('query_wait_timeout'));
    await vi.advanceTimersByTimeAsync(300);
    await tick;

    // Before, the first check's answer cleared the mark: the next polls went by the direct
    // check alone and re-admitted the replica without asking its pool again.
    await poll(router);
    expect(poolPathChecks).toBe(2);
    await poll(router);
    await poll(router);
    expect(poolPathChecks).toBe(2);
    expect(router.snapshot()[0]).toMatchObject({ available: true });
  });
});
