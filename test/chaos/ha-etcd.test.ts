import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { sleep, waitFor, type ChaosApp } from './support/env.ts';
import { printHaLogs } from './support/ha-logs.ts';
import { describeFailures } from './support/load.ts';
import { failuresAre503WithRetryAfter } from './support/scenario.ts';
import { startHaApp } from './support/ha-app.ts';
import { createHaPrivateStack, type HaPrivateStack } from './support/ha-stack.ts';
import { runHaScenario, waitHealthy } from './support/ha-scenario.ts';
import type { EtcdMember } from '../../src/tools/stack/ha/etcd.ts';
import { checkStatus } from '../../src/tools/stack/ha/patroni-rest.ts';

/**
 * etcd faults on a private HA stack, the app reading and writing through HAProxy with the
 * members listed statically (DATABASE_REPLICA_URLS; ha-failover.test.ts uses Patroni's list):
 *  - one etcd member killed, the raft leader (the worst case: the other two must elect one
 *    first, and Patroni's lock renewal must not time out meanwhile): nothing should happen;
 *  - two killed, the quorum lost: Patroni cannot renew the leader lock, so the leader
 *    demotes itself within retry_timeout; writes must then get 503 with Retry-After quickly,
 *    never hang, and come back by themselves when etcd does.
 */
let ps: HaPrivateStack;
let app: ChaosApp;

beforeAll(async () => {
  ps = await createHaPrivateStack('etcd');
  app = await startHaApp(ps, 'etcd');
}, 240_000);

afterAll(async () => {
  await app?.close();
  await ps?.destroy();
}, 180_000);

/** True once no member answers 200 on /primary: the leader has given up its role. */
async function noPrimary(): Promise<boolean> {
  const codes = await Promise.all(ps.stack.members.map((m) => checkStatus(m.restUrl, '/primary')));
  return codes.every((c) => c !== 200);
}

describe('chaos: HA etcd faults', () => {
  it('one etcd member killed: no effect', async () => {
    await waitHealthy(ps);
    let victim: EtcdMember | undefined;
    await waitFor('etcd: a raft leader', async () => {
      const leading = await Promise.all(ps.stack.etcd.map((e) => e.isRaftLeader()));
      victim = ps.stack.etcd[leading.indexOf(true)];
      return victim !== undefined;
    }, 30_000);
    if (!victim) throw new Error('no etcd raft leader');
    const killed = victim;
    const others = ps.stack.etcd.filter((e) => e !== killed);
    let leaderlessMs = -1;
    const r = await runHaScenario({
      name: `etcd member ${killed.spec.name} (the raft leader) killed`, ps, app,
      inject: async () => {
        const t0 = Date.now();
        killed.kill();
        // How long the other two had no leader: what Patroni's renewal must outlast.
        void waitFor('etcd: a new raft leader', async () => (await Promise.all(others.map((e) => e.isRaftLeader(300)))).includes(true), 20_000)
          .then(() => { leaderlessMs = Date.now() - t0; }, () => undefined);
      },
      faultOver: async () => { await sleep(6_000); return true; }, // longer than retry_timeout (4 s)
      heal: async () => { killed.start(); },
    });
    console.log(`[chaos-ha] etcd without a raft leader for ${leaderlessMs} ms after ${killed.spec.name} was killed`);
    onTestFailed(() => printHaLogs(ps, r.faultAt - 3_000, Math.max(r.outageTo, r.faultAt + 8_000) + 3_000));
    expect(r.ackedMissing).toBe(0);
    expect(r.failedReads + r.failedWrites, JSON.stringify(r.failureCodes)).toBe(0);
    expect(r.writeOutageMs, 'longest gap between acknowledged writes, ms').toBeLessThan(3_000);
  }, 150_000);

  it('etcd quorum lost: the leader stops accepting writes, the app answers 503 with Retry-After, never hangs', async () => {
    await waitHealthy(ps);
    const [, a, b] = ps.stack.etcd;
    if (!a || !b) throw new Error('need three etcd members');
    let demotedAfterMs = 0;
    const r = await runHaScenario({
      name: `etcd quorum lost (${a.spec.name} and ${b.spec.name} killed)`, ps, app,
      inject: async () => { a.kill(); b.kill(); },
      faultOver: async () => {
        if (demotedAfterMs === 0 && await noPrimary()) demotedAfterMs = Date.now();
        // Hold the fault 5 s past the demotion so the app's behaviour without a primary is seen.
        return demotedAfterMs > 0 && Date.now() - demotedAfterMs > 5_000;
      },
      faultTimeoutMs: 60_000,
      heal: async () => { a.start(); b.start(); },
    });
    onTestFailed(() => printHaLogs(ps, r.faultAt - 3_000, Math.max(r.outageTo, demotedAfterMs) + 3_000));
    expect(r.failedWrites, 'writes refused while no member may be primary').toBeGreaterThan(0);
    expect(failuresAre503WithRetryAfter(r.samples), describeFailures(r.samples)).toBe(true);
    // Never a hang: a refused request is answered within the pool's acquire timeout (3 s) and then some.
    expect(r.slowestFailureMs, 'slowest failed request, ms').toBeLessThan(6_000);
    expect(r.ackedMissing).toBe(0);
  }, 200_000);
});
