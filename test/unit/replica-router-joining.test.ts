import { describe, expect, it } from 'vitest';
import { ReplicaRouter } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';

/**
 * Read-your-writes marks while the replica set is empty (src/db/replica-router.ts). With
 * Patroni's discovery a member can join at any moment and is admitted after one poll, up to
 * a second behind: a write made while the set was empty must still leave its mark, or the
 * writer's next read can go to that member from before the write. A fixed set with no
 * replicas keeps skipping the LSN fetch (every read goes to the primary).
 * (No I/O: the primary pool answers the position statement.)
 */
const PRIMARY_AT = '0/7000';
const primary = {
  name: 'primary', role: 'primary', closed: false,
  query: async () => ({ rows: [{ lsn: PRIMARY_AT }] }),
} as unknown as ManagedPool;

const router = () => new ReplicaRouter(primary, [], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });

describe('marks with no replica yet', () => {
  it('are kept when replicas may join (Patroni discovery)', async () => {
    const r = router();
    r.expectReplicasToJoin();
    expect(await r.noteWrite('writer')).toBe(PRIMARY_AT);
    expect(await r.requiredLsn({ userId: 'writer' })).toBe(PRIMARY_AT);
  });

  it('are skipped with a fixed empty set', async () => {
    const r = router();
    expect(await r.noteWrite('writer')).toBeUndefined();
    expect(await r.requiredLsn({ userId: 'writer' })).toBeUndefined();
  });
});
