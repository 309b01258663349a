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
    // One write timed during the spike: a write always crosses the wire to the primary, so
    // it proves the spike was real whatever share of the load the in-process cache served.
    let probeWriteMs = 0;
    const timedWrite = async () => {
      const t0 = performance.now();
      const res = await fetch(`${app.baseUrl}/api/feed`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${app.users[0]?.token}` },
        body: JSON.stringify({ content: 'latency probe' }),
      });
      expect(res.status, 'the probe write').toBe(201);
      return performance.now() - t0;
    };
    try {
      const r = await runScenario({
        name: 'latency spike 200 ms each way', ps, app, step: socialStep(app), holdMs: 5_000,
        inject: async () => { setDelay(200); probeWriteMs = await timedWrite(); },
        heal: async () => setDelay(0),
        recovered: async () => app.rt.deps.db.router.snapshot().every((s) => s.available),
      });
      expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
      expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
      const quantile = (xs: number[], q: number) => xs.sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? 0;
      const after = quantile(r.afterSamples.map((s) => s.ms), 0.5);
      // Hits served from the in-process L1 need no round trip, and they can be most of the
      // load (a 90th percentile of 211 ms was seen during the spike), so percentiles of the
      // load say little about the spike itself; the timed write does.
      console.log(`[chaos] latency spike: probe write ${Math.round(probeWriteMs)} ms during it; median after it ${after} ms`);
      expect(probeWriteMs, 'the spike was real: one write during it, ms').toBeGreaterThanOrEqual(400);
      expect(after, 'median after it, ms').toBeLessThan(probeWriteMs);
      expectCommon(r, app);
    } finally {
      setDelay(0);
      await app.close();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
