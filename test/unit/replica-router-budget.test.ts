import { describe, expect, it } from 'vitest';
import { ReplicaRouter, type ProbeResult, type RouteDecision } from '../../src/db/replica-router.ts';
import type { ManagedPool } from '../../src/db/managed-pool.ts';
import { DbUnavailableError } from '../../src/db/errors.ts';
import { FallbackBudget } from '../../src/db/fallback-budget.ts';

/**
 * The router's decisions once the primary's budget for replica reads is spent (no I/O:
 * replica states come from probe results applied with the poller's own rules, and the
 * clock is the test's, so the budget refills only when the test moves it; the routing
 * tests on a real 3-node stack are test/integration/replica-routing.test.ts).
 */
const pool = (name: string, role: 'primary' | 'replica'): ManagedPool => ({ name, role, closed: false }) as unknown as ManagedPool;

const lagging = (replayLsn: string): ProbeResult => ({ ok: true, inRecovery: true, replayLsn, lagMs: 60_000, paused: false });
const promoted: ProbeResult = { ok: true, inRecovery: false, replayLsn: '0/1000', lagMs: 0, paused: false };
const failed: ProbeResult = { ok: false, error: 'timed out after 250 ms' };

function routerWith(probes: ReadonlyArray<readonly ProbeResult[]>) {
  let now = Date.parse('2026-12-31T23:59:30Z');
  const replicas = probes.map((_, i) => pool(`replica${i + 1}`, 'replica'));
  const router = new ReplicaRouter(pool('primary', 'primary'), replicas, { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0, now: () => now });
  replicas.forEach((r, i) => { for (const p of probes[i] ?? []) router.applyProbe(r, p); });
  return { router, advance: (ms: number) => { now += ms; } };
}

/** Decisions until the first one not on the primary (the 500-token burst comes first). */
async function afterBudget(router: ReplicaRouter, ctx: { minLsn?: string; userId?: string; boundedLag?: boolean } = {}): Promise<{ onPrimary: number; last: RouteDecision | Error }> {
  for (let i = 0; i < 2_000; i++) {
    try {
      const d = await router.choose('chat.conversation_history', ctx, new Set());
      if (d.reason !== 'fallback_unhealthy') return { onPrimary: i, last: d };
    } catch (err) {
      return { onPrimary: i, last: err as Error };
    }
  }
  throw new Error('the budget never ran out');
}

describe('replica router past the primary fallback budget', () => {
  it('spends exactly the 500-token burst on the primary, then reads from a replica that is only lagging', async () => {
    const { router } = routerWith([[lagging('0/1000')], [lagging('0/1000')]]);
    expect(router.snapshot().map((s) => [s.reachable, s.available])).toEqual([[true, false], [true, false]]);
    const { onPrimary, last } = await afterBudget(router);
    expect(onPrimary).toBe(500);
    expect(last).toMatchObject({ reason: 'lagging_over_budget' });
    expect((last as RouteDecision).node).toMatch(/^replica[12]$/);
    expect(router.fallbacks).toBe(500);
  });

  it('refills 250 tokens a second on its clock', async () => {
    const { router, advance } = routerWith([[failed, failed]]);
    expect((await afterBudget(router)).onPrimary).toBe(500);
    advance(1_000);
    const { onPrimary, last } = await afterBudget(router);
    expect(onPrimary).toBe(250);
    expect(last).toBeInstanceOf(DbUnavailableError);
  });

  it('never serves a reader from a replica that has not replayed its required LSN: 503 instead', async () => {
    const { router } = routerWith([[lagging('0/1000')], [lagging('0/2000')]]);
    const behind = (await afterBudget(router, { minLsn: '0/3000' })).last;
    expect(behind).toBeInstanceOf(DbUnavailableError);
    expect((behind as DbUnavailableError).code).toBe('DB_UNAVAILABLE');
    // The replica that has replayed it may serve it.
    const caughtUp = (await afterBudget(router, { minLsn: '0/1800' })).last;
    expect(caughtUp).toMatchObject({ node: 'replica2', reason: 'lagging_over_budget', requiredLsn: '0/1800' });
  });

  it("a signed-in reader only from a replica less behind than a write mark lives: older writes have no mark", async () => {
    // 60 s behind: the reader's own write of 40 s ago (its mark expired at 30 s) may be missing.
    const far = routerWith([[lagging('0/1000')]]);
    expect((await afterBudget(far.router, { userId: 'u1' })).last).toBeInstanceOf(DbUnavailableError);
    const near = routerWith([[{ ok: true, inRecovery: true, replayLsn: '0/1000', lagMs: 10_000, paused: false }]]);
    expect((await afterBudget(near.router, { userId: 'u1' })).last).toMatchObject({ reason: 'lagging_over_budget', node: 'replica1' });
  });

  it('bounds the lag the same way for a shared cached page loaded for signed-in readers (before: any lag)', async () => {
    const far = routerWith([[lagging('0/1000')]]);
    expect((await afterBudget(far.router, { boundedLag: true })).last).toBeInstanceOf(DbUnavailableError);
    const near = routerWith([[{ ok: true, inRecovery: true, replayLsn: '0/1000', lagMs: 10_000, paused: false }]]);
    expect((await afterBudget(near.router, { boundedLag: true })).last).toMatchObject({ reason: 'lagging_over_budget', node: 'replica1' });
  });

  it('after a failed primary read, serves a signed-in reader from no replica known to be that far behind', async () => {
    const { router } = routerWith([[lagging('0/1000')]]);
    expect(await router.lastResort('chat.inbox', { userId: 'u1' }, new Set())).toBeUndefined();
    expect(await router.lastResort('chat.inbox', { boundedLag: true }, new Set())).toBeUndefined();
    // Anonymous: any lag will do, as before.
    expect(await router.lastResort('chat.inbox', {}, new Set())).toMatchObject({ reason: 'last_resort', node: 'replica1' });
    // Not probed yet: it may serve.
    const unprobed = routerWith([[]]);
    expect(await unprobed.router.lastResort('chat.inbox', { userId: 'u1' }, new Set())).toMatchObject({ reason: 'last_resort', node: 'replica1' });
  });

  it('never uses an unreachable or promoted replica: 503 instead', async () => {
    const { router } = routerWith([[lagging('0/1000'), failed, failed], [promoted]]);
    expect(router.snapshot().map((s) => [s.reachable, s.promoted])).toEqual([[false, false], [true, true]]);
    expect((await afterBudget(router)).last).toBeInstanceOf(DbUnavailableError);
  });

  it('ejects after two failed probes, not one, and re-admits only after three comfortable ones', () => {
    const healthy: ProbeResult = { ok: true, inRecovery: true, replayLsn: '0/1000', lagMs: 10, paused: false };
    const { router } = routerWith([[healthy, healthy, healthy]]);
    const state = () => router.snapshot()[0];
    // Out at start; the first comfortable probe completes the initial streak.
    expect(state()?.available).toBe(true);
    router.applyProbe(router.replicas[0] as ManagedPool, failed);
    expect(state()?.available).toBe(true);
    router.applyProbe(router.replicas[0] as ManagedPool, failed);
    expect(state()).toMatchObject({ available: false, reachable: false });
    for (const expected of [false, false, true]) {
      router.applyProbe(router.replicas[0] as ManagedPool, healthy);
      expect(state()?.available).toBe(expected);
    }
    expect(state()?.lastPollAt).toBe(Date.parse('2026-12-31T23:59:30Z'));
  });
});

describe('FallbackBudget', () => {
  it('never refills past its burst and never refills backwards when the clock steps back', () => {
    let now = Date.parse('2028-02-29T12:00:00Z');
    const budget = new FallbackBudget(3, 1, () => now);
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    now -= 60_000;
    expect(budget.take()).toBe(false);
    now += 3_600_000;
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    expect(budget.spent).toBe(6);
  });
});

describe('replica router membership changes during a poll', () => {
  it('a replica removed while its probe runs is dropped quietly, not a rejected poll', async () => {
    let answer: (rows: unknown) => void = () => undefined;
    const probe = new Promise((resolve) => { answer = resolve; });
    const primary = { name: 'primary', role: 'primary', closed: false, probe: async () => ({ rows: [{ lsn: '0/1000' }] }) } as unknown as ManagedPool;
    let probing: () => void = () => undefined;
    const probeStarted = new Promise<void>((resolve) => { probing = resolve; });
    const leaving = { name: 'pg2', role: 'replica', closed: false, probe: () => { probing(); return probe; } } as unknown as ManagedPool;
    const router = new ReplicaRouter(primary, [leaving], { maxLagMs: 2_000, pollMs: 500, readYourWritesWaitMs: 0 });
    const poll = router.pollOnce();
    await probeStarted;
    // Patroni's /cluster no longer lists pg2: the discovery removes it mid-probe.
    router.removeReplica(leaving);
    answer({ rows: [{ in_recovery: true, replay_lsn: '0/1000', lag_ms: 0, paused: false }] });
    await expect(poll).resolves.toBeUndefined();
    expect(router.replicas).toEqual([]);
  });
});
