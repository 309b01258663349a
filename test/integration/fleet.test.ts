import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/test-fleet.ts';
import path from 'node:path';
import { Fleet } from '../../src/tools/stack/fleet/fleet.ts';
import { buildFleetLayout } from '../../src/tools/stack/fleet/layout.ts';
import { until } from '../../src/tools/stack/ha/owned-process.ts';

/**
 * A fleet (src/tools/stack/fleet): 3 `bgc serve` processes behind HAProxy on the test database,
 * a steady loop of 6 keep-alive clients through the proxy throughout.
 *  - Rolling restart, SIGTERM one instance at a time (each drains: /readyz fails, HAProxy
 *    takes it out, in-flight requests finish), restart it, wait until HAProxy has it UP
 *    again: 0 failed requests.
 *  - SIGKILL one: at most the requests in flight at that moment fail (HAProxy redispatches
 *    new connections that the dead instance refuses), and the loop keeps succeeding after.
 */
let tf: TestFleet;
let fleet: Fleet;

beforeAll(async () => {
  tf = await startTestFleet('fleet', { instances: 3, drainMs: 3_000 });
  fleet = tf.fleet;
}, 240_000);

afterAll(async () => { await tf?.stop(); }, 120_000);

interface Outcome { phase: string; status: number; error?: string; at: number }

describe('fleet behind HAProxy', () => {
  it('rolling restart fails 0 requests; SIGKILL fails at most the requests in flight', async () => {
    const base = tf.base;
    const reg = await fetch(`${base}/api/auth/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `fleet_${process.pid}@example.test`, username: `fleet_${process.pid}`, password: 'correct Horse 42' }),
    });
    expect(reg.status).toBe(201);
    const { token } = (await reg.json()) as { token: string };

    let phase = 'warm';
    let running = true;
    let inflight = 0;
    const outcomes: Outcome[] = [];
    // A GET is retried once when a reused keep-alive connection closes before any answer, as
    // browsers do for idempotent requests (RFC 9110 §9.2.2); undici's fetch does not. CI saw
    // one such close right after a rolling restart in one run of three. Retries are counted
    // and printed; a failure of the retry still fails the test.
    let retried = 0;
    const get = async () => {
      const once = () => fetch(`${base}/api/feed?type=global`, { headers: { authorization: `Bearer ${token}` } });
      try { return await once(); } catch (err) {
        if (!/other side closed/.test(`${String(err)} ${String((err as Error).cause)}`)) throw err;
        retried++;
        return once();
      }
    };
    const worker = async () => {
      while (running) {
        const p = phase;
        inflight++;
        try {
          const res = await get();
          await res.arrayBuffer();
          outcomes.push({ phase: p, status: res.status, at: Date.now() });
        } catch (err) {
          outcomes.push({ phase: p, status: 0, error: err instanceof Error ? `${err.message} ${String(err.cause)}` : String(err), at: Date.now() });
        } finally { inflight--; }
      }
    };
    const workers = Array.from({ length: 6 }, () => worker());
    try {
      await until('some requests answered', () => outcomes.length >= 30, 30_000, 50);

      phase = 'rolling';
      for (const i of fleet.layout.instances) {
        const t0 = Date.now();
        expect(await fleet.stopInstance(i.name)).toBe(true);
        const stoppedMs = Date.now() - t0;
        fleet.startInstance(i.name);
        await fleet.waitReady(i.name, 120_000);
        const upMs = await until(`${i.name} UP in HAProxy`, async () => (await fleet.haproxyServers()).get(i.name) === 'UP', 60_000);
        console.log(`[fleet] ${i.name}: drained and exited in ${stoppedMs} ms, back UP ${Date.now() - t0} ms after SIGTERM (${upMs} ms waiting for HAProxy)`);
      }
      phase = 'after-rolling';
      await until('requests after the rolling restart', () => outcomes.filter((o) => o.phase === 'after-rolling').length >= 20, 30_000, 50);

      const inflightAtKill = inflight;
      phase = 'kill';
      const killedAt = Date.now();
      fleet.killInstance('api2');
      const downMs = await until('api2 DOWN in HAProxy', async () => (await fleet.haproxyServers()).get('api2')?.startsWith('DOWN') === true, 30_000, 100);
      phase = 'after-kill';
      // Steady again: 30 answers in a row succeed (bounded wait).
      await until('30 successes in a row after the kill', () => outcomes.length >= 30 && outcomes.slice(-30).every((o) => o.status === 200 && o.phase === 'after-kill'), 30_000, 50);

      const count = (ph: string, ok: boolean) => outcomes.filter((o) => o.phase === ph && (o.status === 200) === ok).length;
      const failedOf = (ph: string) => outcomes.filter((o) => o.phase === ph && o.status !== 200);
      console.log(`[fleet] rolling restart: ${count('rolling', true)} ok, ${count('rolling', false)} failed; ${retried} GETs retried once after a closed keep-alive connection; `
        + `SIGKILL of api2 with ${inflightAtKill} requests in flight through the proxy: ${count('kill', true)} ok, ${count('kill', false)} failed `
        + `(DOWN in HAProxy after ${downMs} ms), then ${count('after-kill', true)} ok, ${count('after-kill', false)} failed; `
        + `failures (ms after the kill): ${JSON.stringify([...failedOf('rolling'), ...failedOf('after-rolling'), ...failedOf('kill'), ...failedOf('after-kill')].slice(0, 6).map((o) => ({ ...o, at: o.at - killedAt })))}`);
      expect(count('rolling', true)).toBeGreaterThan(0);
      // A request is judged by when it failed, not when it started: one started just before
      // the SIGKILL and in flight on api2 belongs to the kill's bound (CI saw exactly that).
      expect(outcomes.filter((o) => o.status !== 200 && o.at < killedAt)).toEqual([]);
      // Bound: no more failures than requests in flight when api2 died (HAProxy does not retry
      // a request already sent). Both phases count: before HAProxy advertised its own
      // keep-alive limit (src/tools/stack/fleet/haproxy-config.ts), requests started after the DOWN
      // mark also failed ("other side closed" on an idle client connection HAProxy closed).
      expect(outcomes.filter((o) => o.status !== 200 && o.at >= killedAt).length).toBeLessThanOrEqual(inflightAtKill);
    } finally {
      running = false;
      await Promise.all(workers);
    }
  }, 600_000);

  it('`up` with another instance count resizes a running fleet (3 → 2 → 3) without failing a request', async () => {
    const base = tf.base;
    const reg = await fetch(`${base}/api/auth/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `resize_${process.pid}@example.test`, username: `resize_${process.pid}`, password: 'correct Horse 42' }),
    });
    expect(reg.status).toBe(201);
    const { token } = (await reg.json()) as { token: string };
    // The same folder and ports as the running fleet, with `count` of its instances: what
    // `bgc stack up --instances <count>` builds on a running fleet (fleetFor).
    const sized = (count: number, env: Record<string, string> = fleet.env): Fleet => {
      const l = fleet.layout;
      return new Fleet(buildFleetLayout(path.dirname(l.dir), {
        count, apiPort: l.apiPort, statsPort: l.statsPort, drainMs: l.drainMs,
        instancePorts: l.instances.slice(0, count).map((i) => i.port), adminPorts: l.instances.slice(0, count).map((i) => i.adminPort),
      }), fleet.projectRoot, env);
    };
    // Growing a running fleet with another Redis (no --sentinel this time) would split it in two: refused, nothing started.
    const otherRedis = await sized(3, { ...fleet.env, REDIS_URL: 'redis://127.0.0.1:1' }).up(() => undefined, 10_000).then(() => undefined, (e: unknown) => e);
    expect(String(otherRedis)).toMatch(/started with other settings \(REDIS_URL/);

    let running = true;
    const failures: string[] = [];
    let ok = 0;
    let retried = 0;
    const servedBy = new Set<string>();
    const get = () => fetch(`${base}/api/feed?type=global`, { headers: { authorization: `Bearer ${token}` } });
    const worker = async () => {
      while (running) {
        try {
          // As in the test above: a GET retried once when a reused connection closes unanswered.
          const res = await get().catch((err: unknown) => {
            if (!/other side closed/.test(`${String(err)} ${String((err as Error).cause)}`)) throw err;
            retried++;
            return get();
          });
          await res.arrayBuffer();
          if (res.status === 200) { ok++; servedBy.add(res.headers.get('x-bgc-instance') ?? '?'); } else failures.push(`HTTP ${res.status}`);
        } catch (err) {
          failures.push(err instanceof Error ? `${err.message} ${String(err.cause)}` : String(err));
        }
      }
    };
    const workers = Array.from({ length: 6 }, () => worker());
    try {
      await until('some requests answered', () => ok >= 30, 30_000, 50);
      for (const count of [2, 3]) {
        const t0 = Date.now();
        const lines: string[] = [];
        await sized(count).up((l) => lines.push(l), 120_000);
        servedBy.clear();
        const before = ok;
        await until(`requests after the resize to ${count}`, () => ok >= before + 40, 30_000, 50);
        console.log(`[fleet] resized to ${count} in ${Date.now() - t0} ms: ${lines.join('; ')}; served since by ${[...servedBy].sort().join(',')}`);
        expect(sized(count).strayInstances()).toEqual([]);
        expect([...(await fleet.haproxyServers()).keys()].sort()).toEqual(fleet.layout.instances.slice(0, count).map((i) => i.name));
        expect([...servedBy].every((n) => fleet.layout.instances.slice(0, count).some((i) => i.name === n))).toBe(true);
      }
      expect(fleet.layout.instances.every((i) => fleet.pidOf(i.name) !== undefined)).toBe(true);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    console.log(`[fleet] resize: ${ok} ok, ${failures.length} failed, ${retried} GETs retried once after a closed keep-alive connection; ${JSON.stringify(failures.slice(0, 5))}`);
    expect(failures).toEqual([]);
  }, 600_000);
});
