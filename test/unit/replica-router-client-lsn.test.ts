import { describe, expect, it } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * A client's X-BGC-LSN is a claim: one past any WAL the primary can have written (a forged
 * `FFFFFFFF/FFFFFFFF`) is clamped to the primary's newest sampled position, so it costs what
 * a real, current position costs. Before: no replica could ever have replayed it, so each
 * read of the request waited the whole read-your-writes bound and then read the primary.
 * (No I/O: the pools answer the poller's two statements.)
 */
const PRIMARY_AT = '0/5000';
const fakePool = (name: string, role: 'primary' | 'replica'): ManagedPool => ({
  name, role, closed: false,
  query: async () => ({
    rows: role === 'primary'
      ? [{ lsn: PRIMARY_AT }]
      : [{ in_recovery: true, replay_lsn: PRIMARY_AT, receive_lsn: PRIMARY_AT, lag_ms: 0, paused: false }],
  }),
}) as unknown as ManagedPool;

async function polledRouter(): Promise<ReplicaRouter> {
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
});
