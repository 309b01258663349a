import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * Overlapping polls (src/db/replica-router.ts, #pollReplica). The poller ticks every pollMs and
 * each tick checks the primary before the replicas. With a primary check slower than a tick, one
 * tick's replica poll landed while the next tick's was still in flight: its probe was refused
 * and counted as a failed poll of a healthy replica (two in a row eject it). Fake timers; the
 * pools answer after fixed delays.
 */
const LSN = '0/7000';
let primaryMs = 0;
const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => { setTimeout(() => resolve(value), ms); });
const primary = {
  name: 'primary', role: 'primary', closed: false, checksDirect: false,
  probe: () => after(primaryMs, { rows: [{ lsn: LSN }] }),
  query: async () => ({ rows: [{ lsn: LSN }] }),
} as unknown as ManagedPool;
const replica = {
  name: 'replica1', role: 'replica', closed: false, checksDirect: false,
  probe: () => after(200, { rows: [{ in_recovery: true, replay_lsn: LSN, receive_lsn: LSN, lag_ms: 0, paused: false }] }),
} as unknown as ManagedPool;

afterEach(() => { vi.useRealTimers(); });

describe('overlapping polls', () => {
  it('a replica poll that would overlap its own running poll is skipped, not counted as failed', async () => {
    vi.useFakeTimers();
    const router = new ReplicaRouter(primary, [replica], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });
    const first = router.pollOnce();
    await vi.advanceTimersByTimeAsync(300);
    await first;
    expect(router.snapshot()[0]).toMatchObject({ available: true, lastError: undefined });

    // The primary now takes 650 ms: tick 1 polls the replica at 650 ms, while tick 2 (at 500 ms,
    // its own primary check refused at once as still running) polls it from 500 to 700 ms.
    primaryMs = 650;
    const tick1 = router.pollOnce();
    await vi.advanceTimersByTimeAsync(500);
    const tick2 = router.pollOnce();
    await vi.advanceTimersByTimeAsync(160);
    // 660 ms: before, tick 1's probe had just been refused and counted ("the previous probe has not answered").
    expect(router.snapshot()[0]).toMatchObject({ available: true, lastError: undefined });
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all([tick1, tick2]);
    expect(router.snapshot()[0]).toMatchObject({ available: true, lastError: undefined });
  });
});
