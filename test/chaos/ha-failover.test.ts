import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { waitFor, type ChaosApp } from './support/env.ts';
import { startHaApp } from './support/ha-app.ts';
import { printHaLogs } from './support/ha-logs.ts';
import { createHaPrivateStack, type HaPrivateStack } from './support/ha-stack.ts';
import { leaderOf, runHaScenario, waitHealthy, type HaScenarioResult } from './support/ha-scenario.ts';
import { formatTrace, startHaTrace, switchoverSteps, writeEvents } from './support/ha-trace.ts';

/**
 * Primary failover on a private HA stack (Patroni + etcd + HAProxy, src/tools/stack/ha), with the
 * app writing and reading through HAProxy's leader port and the members' direct ports:
 *  1. kill -9 of the leader's postmaster and Patroni: write outage ≤ 15 s, 0 failed reads,
 *     0 acknowledged writes lost, the old primary back as a streaming replica by itself;
 *  2. the leader's Patroni frozen (SIGSTOP) past the ttl: a new leader, 0 acknowledged
 *     writes lost, the old primary demoted and rejoined once it thaws;
 *  3. a planned `patronictl switchover`: write outage ≤ 5 s and no failed request for
 *     clients that retry a 503 once.
 * BGC_CHAOS_HA_RUNS repeats scenario 1 (docs/RELIABILITY.md has the five-run results).
 */
const RUNS = Number(process.env.BGC_CHAOS_HA_RUNS ?? '1');
/** A switchover slower than this prints its whole timeline (the target is 5 s). */
const TRACE_ABOVE_MS = 4_000;
let ps: HaPrivateStack;
let app: ChaosApp;

beforeAll(async () => {
  ps = await createHaPrivateStack('failover');
  // Replicas from Patroni's /cluster (BGC_PATRONI_URLS); test/chaos/ha-etcd.test.ts uses the static list.
  app = await startHaApp(ps, 'failover', { BGC_PATRONI_URLS: ps.patroniUrls.join(','), DATABASE_REPLICA_URLS: '' });
}, 240_000);

afterAll(async () => {
  await app?.close();
  await ps?.destroy();
}, 180_000);

/** The app's replica set (from /cluster) has lost the new leader and regained the old one, without a restart. */
async function expectReplicaSetFollows(oldLeader: string): Promise<void> {
  const source = app.rt.deps.db.patroni;
  expect(source, 'BGC_PATRONI_URLS discovery is on').toBeDefined();
  const ms = await waitFor('app replica set = the members that are not the leader', async () => {
    const cluster = await ps.cluster();
    const expected = cluster?.members.filter((m) => m.role !== 'leader').map((m) => m.name).sort() ?? [];
    const inRotation = app.rt.deps.db.router.snapshot().filter((s) => s.available).map((s) => s.node).sort();
    return expected.includes(oldLeader) && JSON.stringify(source?.members.sort()) === JSON.stringify(expected) && JSON.stringify(inRotation) === JSON.stringify(expected);
  }, 30_000);
  console.log(`[chaos-ha] app replica set ${JSON.stringify(source?.members)} (old primary ${oldLeader} in rotation) ${ms} ms after it rejoined`);
}

function expectNoLoss(r: HaScenarioResult): void {
  expect(r.ackedWrites, 'writes acknowledged during the scenario').toBeGreaterThan(20);
  expect(r.ackedMissing, 'acknowledged writes missing on the new leader').toBe(0);
}

describe('chaos: HA primary failover', () => {
  for (let run = 1; run <= RUNS; run++) {
    it(`kill -9 of the leader's postmaster and Patroni (run ${run}/${RUNS})`, async () => {
      await waitHealthy(ps);
      const old = await ps.leader();
      const r = await runHaScenario({
        name: `kill -9 leader ${old.spec.name} (run ${run})`, ps, app,
        inject: async () => { old.killHard(); },
        faultOver: async () => { const l = leaderOf(await ps.cluster()); return l !== undefined && l !== old.spec.name; },
        rejoinMember: old.spec.name,
      });
      onTestFailed(() => printHaLogs(ps, r.faultAt - 3_000, Math.max(r.outageTo, r.faultAt) + 5_000));
      expectNoLoss(r);
      expect(r.writeOutageMs, 'write outage, ms').toBeLessThanOrEqual(15_000);
      expect(r.failedReads, JSON.stringify(r.failureCodes)).toBe(0);
      expect(r.oldPrimaryRejoined, 'old primary back as a streaming replica').toBe(true);
      await expectReplicaSetFollows(old.spec.name);
    }, 200_000);
  }

  it("the leader's Patroni frozen (SIGSTOP) until another member leads", async () => {
    await waitHealthy(ps);
    const old = await ps.leader();
    const r = await runHaScenario({
      name: `SIGSTOP of ${old.spec.name}'s Patroni`, ps, app,
      inject: async () => { old.freeze(); },
      // Asked of the other members: the frozen one's REST API does not answer.
      faultOver: async () => { const l = leaderOf(await ps.cluster()); return l !== undefined && l !== old.spec.name; },
      heal: async () => { old.thaw(); },
      rejoinMember: old.spec.name,
    });
    onTestFailed(() => printHaLogs(ps, r.faultAt - 3_000, Math.max(r.outageTo, r.faultAt) + 5_000));
    expectNoLoss(r);
    expect(r.writeOutageMs, 'write outage, ms').toBeLessThanOrEqual(15_000);
    expect(r.oldPrimaryRejoined, 'old primary demoted and back as a streaming replica').toBe(true);
  }, 200_000);

  it('a planned switchover (patronictl switchover)', async () => {
    await waitHealthy(ps);
    const old = await ps.leader();
    const trace = startHaTrace(ps);
    const r = await runHaScenario({
      name: `switchover from ${old.spec.name}`, ps, app, retry503Once: true,
      inject: async () => {
        trace.mark('test', 'patronictl switchover issued');
        await promisify(execFile)('patronictl', ['-c', old.configFile, 'switchover', '--leader', old.spec.name, '--force'], { timeout: 60_000 });
        trace.mark('test', 'patronictl switchover answered');
      },
      faultOver: async () => { const l = leaderOf(await ps.cluster()); return l !== undefined && l !== old.spec.name; },
      rejoinMember: old.spec.name,
    }).catch((err: unknown) => { trace.stop(0, 0); throw err; });
    // Where the outage went, ms after the last write acknowledged before it: the milestones
    // always, the whole timeline (logs, HAProxy, the app's failed and slow writes) when the
    // outage nears the target or BGC_CHAOS_HA_TRACE=1.
    const from = Math.min(r.faultAt, r.outageFrom) - 500;
    const to = r.outageTo + 1_000;
    const events = [...trace.stop(from, to), ...writeEvents(r.samples, r.outageFrom, r.outageTo)].sort((a, b) => a.at - b.at);
    const newLeader = leaderOf(await ps.cluster()) ?? '?';
    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(`[chaos-ha] switchover steps, ms after the last acknowledged write: ${switchoverSteps(events, old.spec.name, newLeader, r.outageFrom)}, ` +
      `first write acknowledged ${r.outageTo - r.outageFrom} (patronictl issued ${r.faultAt - r.outageFrom}); load average ${load}`);
    if (r.writeOutageMs > TRACE_ABOVE_MS || process.env.BGC_CHAOS_HA_TRACE === '1') {
      console.log(`[chaos-ha] switchover timeline (0 = last write acknowledged before the gap):\n${formatTrace(events, r.outageFrom)}`);
    }
    expectNoLoss(r);
    // Issue 17's target. Before the promotion callback (src/tools/stack/ha/promotion-slots.ts)
    // CI measured 3.4-5.4 s; the remaining ~3 s are mostly Patroni's own fixed pauses
    // (docs/RELIABILITY.md, "Where a switchover's write outage goes").
    console.log(`[chaos-ha] switchover write outage ${r.writeOutageMs} ms against the 5,000 ms target`);
    expect(r.writeOutageMs, 'write outage, ms').toBeLessThanOrEqual(5_000);
    expect(r.failedReads + r.failedWrites, `requests failed after one retry: ${JSON.stringify(r.failureCodes)}`).toBe(0);
    expect(r.oldPrimaryRejoined).toBe(true);
  }, 200_000);
});
