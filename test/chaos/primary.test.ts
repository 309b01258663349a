import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';
import { socialStep, startChaosApp, type ChaosApp } from './support/env.ts';
import { describeFailures, isFailure } from './support/load.ts';
import { failuresAre503WithRetryAfter, runScenario, type ScenarioResult } from './support/scenario.ts';

/**
 * The primary stopped, and the pools saturated by slow queries, under load, on a private
 * stack. The design promises 503 with Retry-After for what cannot be served (writes without
 * a primary; requests that find no free connection within the acquire timeout), never a
 * 500, reads from the replicas while the primary is down, and recovery without a restart.
 */
let ps: PrivateStack;

beforeAll(async () => {
  ps = await createPrivateStack('chaos-primary');
}, 180_000);

afterAll(async () => {
  if (ps && !(await ps.stack.primary.isRunning())) await ps.stack.primary.start();
  await ps?.destroy();
}, 120_000);

function expectCommon(r: ScenarioResult, app: ChaosApp): void {
  expect(r.healthzAfter, 'the instance still serves').toBe(200);
  expect(r.afterRecovery.requests, 'requests after recovery').toBeGreaterThan(20);
  expect(r.afterRecovery.failedReads + r.afterRecovery.failedWrites, describeFailures(r.afterSamples)).toBe(0);
  for (const [node, n] of Object.entries(r.peakConnections)) {
    expect(n, `app connections on ${node}`).toBeLessThanOrEqual(app.rt.deps.config.pool.size + app.rt.deps.config.pool.maxOverflow);
  }
}

/** A write through the API succeeds (the recovery probe). */
async function canWrite(app: ChaosApp): Promise<boolean> {
  const res = await fetch(`${app.baseUrl}/api/feed`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${app.users[0]?.token}` },
    body: JSON.stringify({ content: 'probe' }),
  }).catch(() => undefined);
  return res?.status === 201;
}

describe('chaos: primary and pools', () => {
  it('the primary stopped: writes get 503 with Retry-After fast, reads keep being served, writes resume after restart', async () => {
    const app = await startChaosApp(ps, 'primary', { BGC_POOL_ACQUIRE_TIMEOUT_MS: '1000' });
    try {
      const r = await runScenario({
        name: 'primary stopped', ps, app, step: socialStep(app, { writeShare: 0.3 }), holdMs: 4_000,
        inject: async () => { await ps.stack.primary.stop('fast'); },
        heal: async () => { await ps.stack.primary.start(); },
        recovered: () => canWrite(app),
      });
      const failedWrites = r.faultSamples.filter((s) => s.kind === 'write' && isFailure(s));
      expect(failedWrites.length, 'writes failed while the primary was down').toBeGreaterThan(0);
      expect(failuresAre503WithRetryAfter(r.samples), describeFailures(r.samples)).toBe(true);
      // "Fast": a 503 comes from a refused connection, well within the acquire timeout.
      const slowest = Math.max(...failedWrites.map((s) => s.ms));
      expect(slowest, 'slowest failed write, ms').toBeLessThan(3_000);
      expect(r.all.failedReads, describeFailures(r.samples.filter((s) => s.kind === 'read'))).toBe(0);
      expect(r.duringFault.reads).toBeGreaterThan(30);
      expectCommon(r, app);
    } finally {
      if (!(await ps.stack.primary.isRunning())) await ps.stack.primary.start();
      await app.close();
    }
  });

  it('pool saturation by slow queries: 503 DB_POOL_TIMEOUT with Retry-After, never more connections than the pool allows, recovery by itself', async () => {
    // 4 connections per node (2 + 2 overflow), 500 ms acquire timeout.
    const app = await startChaosApp(ps, 'pool', { BGC_POOL_SIZE: '2', BGC_POOL_MAX_OVERFLOW: '2', BGC_POOL_ACQUIRE_TIMEOUT_MS: '500' });
    const db = app.rt.deps.db;
    const max = app.rt.deps.config.pool.size + app.rt.deps.config.pool.maxOverflow;
    let sleepers: Promise<unknown> = Promise.resolve();
    try {
      const r = await runScenario({
        name: 'pool saturation (pg_sleep holds every connection)', ps, app, step: socialStep(app), holdMs: 100,
        // Slow statements through the app's own pools hold every connection of every node for 4 s.
        inject: async () => {
          sleepers = Promise.allSettled([db.primary, ...db.replicas].flatMap((pool) =>
            Array.from({ length: max }, () => pool.query('SELECT pg_sleep(4) /* chaos: slow query */'))));
        },
        heal: async () => { await sleepers; },
        recovered: async () => (await canWrite(app)) && db.router.snapshot().every((s) => s.available),
      });
      const failed = r.samples.filter(isFailure);
      expect(failed.length, 'requests refused while saturated').toBeGreaterThan(0);
      expect(failuresAre503WithRetryAfter(r.samples), describeFailures(r.samples)).toBe(true);
      expect(failed.every((s) => s.code === 'DB_POOL_TIMEOUT'), describeFailures(r.samples)).toBe(true);
      expectCommon(r, app);
    } finally {
      await sleepers;
      await app.close();
    }
  });
});
