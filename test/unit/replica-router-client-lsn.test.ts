import { describe, expect, it } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * A client's X-BGC-LSN is a claim: one past any WAL the primary can have written (a forged
 * `FFFFFFFF/FFFFFFFF`) is lowered to the primary's position (asked when the claim is far past
 * the newest sample), so it costs what a real, current position costs. Before: no replica could ever have replayed it, so each
 * read of the request waited the whole read-your-writes bound and then read the primary.
 * (No I/O: the pools answer the poller's two statements.)
 */
const PRIMARY_AT = '0/5000';
/** What the primary answers now (a test moves it past the last sample). */
let primaryNow = PRIMARY_AT;
const fakePool = (name: string, role: 'primary' | 'replica'): ManagedPool => {
  const answer = async () => ({
    rows: role === 'primary'
      ? [{ lsn: primaryNow }]
      : [{ in_recovery: true, replay_lsn: PRIMARY_AT, receive_lsn: PRIMARY_AT, lag_ms: 0, paused: false }],
  });
  // query: the position asked for a read (#positionNow); probe: the poller's statements.
  return { name, role, closed: false, query: answer, probe: answer } as unknown as ManagedPool;
};

async function polledRouter(): Promise<ReplicaRouter> {
  primaryNow = PRIMARY_AT;
  const router = new ReplicaRouter(fakePool('primary', 'primary'), [fakePool('replica1', 'replica')], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });
  for (let i = 0; i < 3; i++) await router.pollOnce(); // three comfortable probes admit the replica
  return router;
}

describe('a client LSN past anything the primary has written', () => {
  it('is clamped to the primary\'s sampled position: the caught-up replica serves the read', async () => {
    const router = await polledRouter();
    const d = await router.choose('profiles.get', { minLsn: 'FFFFFFFF/FFFFFFFF' }, new Set());
    expect(d).toMatchObject({ node: 'replica1', reason: 'caught_up', requiredLsn: PRIMARY_AT });
  });

  it('a position just ahead of the sample (another instance\'s fresh write) is kept as it is', async () => {
    const router = await polledRouter();
    const d = await router.choose('profiles.get', { minLsn: '0/6000' }, new Set());
    expect(d).toMatchObject({ node: 'primary', reason: 'ryw_primary', requiredLsn: '0/6000' });
  });

  it('a genuine position past the slack, after WAL moved on faster than the polls, is checked against the primary and kept', async () => {
    const router = await polledRouter();
    // An index build wrote 96 MiB of WAL since the last poll; a client read its own write there.
    primaryNow = '0/6005000';
    const d = await router.choose('profiles.get', { minLsn: '0/6000000' }, new Set());
    // Before: lowered to the sample (0/5000), which the replica had replayed: a read without the write.
    expect(d).toMatchObject({ node: 'primary', reason: 'ryw_primary', requiredLsn: '0/6000000' });
    // A forged position is still lowered, to the primary's position now.
    const forged = await router.choose('profiles.get', { minLsn: 'FFFFFFFF/FFFFFFFF' }, new Set());
    expect(forged.requiredLsn).toBe('0/6005000');
  });
});
