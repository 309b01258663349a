import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencyProxy } from '../../src/tools/bench/latency-proxy.ts';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';
import { PASSWORD, socialStep, startChaosApp, type ChaosApp } from './support/env.ts';
import { describeFailures } from './support/load.ts';
import { runScenario, type ScenarioResult } from './support/scenario.ts';

/**
 * Redis killed, and a latency spike between the app and every store, under load, on a
 * private stack. Redis is an optimisation (docs/ARCHITECTURE.md, "Redis down (fail-open)"),
 * so nothing may fail while it is gone; a slow network makes requests slower, not failed.
 */
let ps: PrivateStack;

beforeAll(async () => {
  ps = await createPrivateStack('chaos-redis');
}, 180_000);

afterAll(async () => {
  await ps?.stack.redis.start().catch(() => undefined);
  await ps?.destroy();
}, 120_000);

function expectCommon(r: ScenarioResult, app: ChaosApp): void {
  expect(r.healthzAfter, 'the instance still serves').toBe(200);
  expect(r.afterRecovery.requests, 'requests after recovery').toBeGreaterThan(10);
  for (const [node, n] of Object.entries(r.peakConnections)) {
    expect(n, `app connections on ${node}`).toBeLessThanOrEqual(app.rt.deps.config.pool.size + app.rt.deps.config.pool.maxOverflow);
  }
}

describe('chaos: Redis and network latency', () => {
  it('Redis killed (SHUTDOWN NOSAVE) and restarted: zero failed requests, login still works (fail-open), Redis in use again', async () => {
    const app = await startChaosApp(ps, 'redis');
    let loginDuringOutage = 0;
    try {
      const r = await runScenario({
        name: 'Redis killed', ps, app, step: socialStep(app), holdMs: 4_000,
        inject: async () => {
          await ps.stack.redis.stop();
          // The login rate limiter lives in Redis: with Redis gone it must let logins through.
          const res = await fetch(`${app.baseUrl}/api/auth/login`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: app.users[0]?.email, password: PASSWORD }),
          });
          loginDuringOutage = res.status;
        },
        heal: async () => { await ps.stack.redis.start(); },
        recovered: async () => (await app.rt.deps.readiness()).redis.ok,
      });
      expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
      expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
      expect(r.duringFault.requests).toBeGreaterThan(50);
      expect(loginDuringOutage, 'login with Redis down').toBe(200);
      expectCommon(r, app);
    } finally {
      await ps.stack.redis.start();
      await app.close();
    }
  });

  it('a latency spike (200 ms each way to PostgreSQL and Redis): zero failed requests, latency back to normal afterwards', async () => {
    const targets = [ps.primaryUrl, ...ps.replicaUrls, ps.redisUrl].map((u) => new URL(u));
    const proxies = targets.map((u) => new LatencyProxy({ host: u.hostname, port: Number(u.port) }, 0));
    const ports = await Promise.all(proxies.map((p) => p.listen()));
    const via = (u: URL, port: number | undefined) => { const v = new URL(u.toString()); v.port = String(port); return v.toString(); };
    const app = await startChaosApp(ps, 'latency', {}, {
      primaryUrl: via(targets[0]!, ports[0]),
      replicaUrls: [via(targets[1]!, ports[1]), via(targets[2]!, ports[2])],
      redisUrl: via(targets[3]!, ports[3]),
    });
    const setDelay = (ms: number) => { for (const p of proxies) p.delayMs = ms; };
    try {
      const r = await runScenario({
        name: 'latency spike 200 ms each way', ps, app, step: socialStep(app), holdMs: 5_000,
        inject: async () => setDelay(200),
        heal: async () => setDelay(0),
        recovered: async () => app.rt.deps.db.router.snapshot().every((s) => s.available),
      });
      expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
      expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
      const quantile = (xs: number[], q: number) => xs.sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? 0;
      const during = quantile(r.faultSamples.map((s) => s.ms), 0.9);
      const after = quantile(r.afterSamples.map((s) => s.ms), 0.9);
      // Every write and every cache miss needs at least one database or Redis round trip,
      // 400 ms during the spike; hits served from the in-process L1 need none, and they are
      // often the majority, so the median can stay low (219 ms seen). The 90th percentile
      // is a request that went over the wire.
      expect(during, 'the spike was real: 90th percentile during it, ms').toBeGreaterThan(400);
      expect(after, '90th percentile after it, ms').toBeLessThan(during);
      expectCommon(r, app);
    } finally {
      setDelay(0);
      await app.close();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
