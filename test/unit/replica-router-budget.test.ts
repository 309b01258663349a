import { describe, expect, it } from 'vitest';
import { ReplicaRouter, type RouteDecision } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';
import { DbUnavailableError } from '../../src/db/errors.ts';

/**
 * The router's decisions once the primary's budget for replica reads is spent (no I/O:
 * the states are set the way the poller sets them; the routing tests on a real 3-node
 * stack are test/integration/replica-routing.test.ts).
 */
const pool = (name: string): ManagedPool => ({ name, closed: false }) as unknown as ManagedPool;

function routerWith(replicaStates: Array<{ reachable: boolean; promoted?: boolean; replayLsn?: string }>) {
  const primary = pool('primary');
  const replicas = replicaStates.map((_, i) => pool(`replica${i + 1}`));
  const router = new ReplicaRouter(primary, replicas, { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });
  replicas.forEach((r, i) => {
    const st = router.states.get(r);
    if (!st) throw new Error('no state');
    // Out of rotation (lag), as the poller leaves a lagging replica.
    Object.assign(st, { available: false, promoted: false, replayLsn: '0/1000', ...replicaStates[i] });
  });
  return { router, primary };
}

/** Decisions until the first one not on the primary (the 500-token burst comes first). */
async function afterBudget(router: ReplicaRouter, ctx: { minLsn?: string } = {}): Promise<RouteDecision | Error> {
  for (let i = 0; i < 2_000; i++) {
    try {
      const d = await router.choose('chat.conversation_history', ctx, new Set());
      if (d.reason !== 'fallback_unhealthy') return d;
    } catch (err) {
      return err as Error;
    }
  }
  throw new Error('the budget never ran out');
}

describe('replica router past the primary fallback budget', () => {
  it('spends the budget on the primary first, then reads from a replica that is only lagging', async () => {
    const { router } = routerWith([{ reachable: true }, { reachable: true }]);
    const first = await router.choose('chat.conversation_history', {}, new Set());
    expect(first).toMatchObject({ node: 'primary', reason: 'fallback_unhealthy' });
    const d = await afterBudget(router);
    expect(d).not.toBeInstanceOf(Error);
    expect(d).toMatchObject({ reason: 'lagging_over_budget' });
    expect((d as RouteDecision).node).toMatch(/^replica[12]$/);
    expect(router.fallbacks).toBeGreaterThanOrEqual(500);
  });

  it('never serves a reader from a replica that has not replayed its required LSN: 503 instead', async () => {
    const { router } = routerWith([{ reachable: true, replayLsn: '0/1000' }, { reachable: true, replayLsn: '0/2000' }]);
    const behind = await afterBudget(router, { minLsn: '0/3000' });
    expect(behind).toBeInstanceOf(DbUnavailableError);
    expect((behind as DbUnavailableError).code).toBe('DB_UNAVAILABLE');
    // The replica that has replayed it may serve it (once the tokens that refilled
    // meanwhile, 250 a second, are spent again).
    const caughtUp = await afterBudget(router, { minLsn: '0/1800' });
    expect(caughtUp).toMatchObject({ node: 'replica2', reason: 'lagging_over_budget', requiredLsn: '0/1800' });
  });

  it('never uses an unreachable or promoted replica: 503 instead', async () => {
    const { router } = routerWith([{ reachable: false }, { reachable: true, promoted: true }]);
    const d = await afterBudget(router);
    expect(d).toBeInstanceOf(DbUnavailableError);
  });
});
