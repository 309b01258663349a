import { describe, expect, it } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * A replica whose WAL stream stopped (its primary died and Patroni has not repointed it, or a
 * partition) has replayed all it received, so its own lag figure is 0; the router must still
 * see it fall behind the primary and take it out of rotation. No I/O: the pools answer the
 * poller's two statements from the test's variables, on the test's clock.
 */
function stack() {
  let now = Date.parse('2026-12-06T12:00:00Z');
  let primaryLsn = '0/1000';
  const replicaRow = { in_recovery: true, replay_lsn: '0/1000', receive_lsn: '0/1000', lag_ms: 0, paused: false };
  const primary = { name: 'primary', role: 'primary', closed: false, probe: async () => ({ rows: [{ lsn: primaryLsn }] }) } as unknown as ManagedPool;
  const replica = { name: 'replica1', role: 'replica', closed: false, probe: async () => ({ rows: [{ ...replicaRow }] }) } as unknown as ManagedPool;
  const router = new ReplicaRouter(primary, [replica], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0, now: () => now });
  return {
    router, replicaRow,
    /** One poll 500 ms later, the primary at `lsn`. */
    poll: async (lsn: string) => { now += 500; primaryLsn = lsn; await router.pollOnce(); return router.snapshot()[0]; },
  };
}

const hex = (n: number): string => `0/${n.toString(16).toUpperCase()}`;

describe('a replica whose stream stopped', () => {
  it('stays in rotation while its stream follows the primary, leaves it once the primary is maxLag past what it received', async () => {
    const { poll, replicaRow } = stack();
    // Flowing: the replica receives and replays what the primary wrote a moment ago.
    for (let i = 1; i <= 8; i++) {
      const lsn = hex(0x1000 + i * 0x100);
      Object.assign(replicaRow, { receive_lsn: lsn, replay_lsn: lsn });
      expect((await poll(lsn))?.available).toBe(true);
    }
    // Stopped: the primary moves on; the replica reports lag 0 (all received WAL replayed).
    const states = [];
    for (let i = 1; i <= 8; i++) states.push(await poll(hex(0x2000 + i * 0x100)));
    const out = states.findIndex((s) => s?.available === false);
    console.log(`stream stopped: out of rotation at poll ${out + 1} (${(out + 1) * 500} ms), lag ${states[out]?.lagMs} ms`);
    expect(out).toBeGreaterThanOrEqual(3); // not before maxLag (2 s) has passed
    expect(out).toBeLessThanOrEqual(5);
  });
});
