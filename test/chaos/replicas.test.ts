import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';
import { sleep, socialStep, startChaosApp, type ChaosApp } from './support/env.ts';
import { describeFailures, isFailure } from './support/load.ts';
import { readYourWritesStep } from './support/ryw-step.ts';
import { failuresAre503WithRetryAfter, runScenario, type ScenarioResult } from './support/scenario.ts';

/**
 * Replica faults and connection loss, under load, on a private primary + 2 replicas + Redis.
 * The design (docs/ARCHITECTURE.md, "Replica routing") promises that no read fails when a
 * replica dies, lags, or every connection is cut: reads move to another node.
 */
let ps: PrivateStack;
let app: ChaosApp;

const replicaState = (node: string) => app.rt.deps.db.router.snapshot().find((s) => s.node === node);
const pidOf = (dir: string) => Number(fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);

/** A postmaster and its children (every backend and auxiliary process), from /proc. */
function instancePids(postmaster: number): number[] {
  const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces, so read after its closing paren.
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
    } catch { return false; }
  }).map(Number);
  return [postmaster, ...children];
}

beforeAll(async () => {
  ps = await createPrivateStack('chaos-replicas');
  app = await startChaosApp(ps, 'replicas', { BGC_REPLICA_MAX_LAG_MS: '1000' });
}, 180_000);

afterAll(async () => {
  await app?.close();
  await ps?.destroy();
}, 120_000);

function expectCommon(r: ScenarioResult): void {
  expect(r.healthzAfter, 'the instance still serves').toBe(200);
  expect(r.afterRecovery.requests, 'requests after recovery').toBeGreaterThan(20);
  expect(r.afterRecovery.failedReads + r.afterRecovery.failedWrites, describeFailures(r.afterSamples)).toBe(0);
  for (const [node, n] of Object.entries(r.peakConnections)) {
    expect(n, `app connections on ${node}`).toBeLessThanOrEqual(app.rt.deps.config.pool.size + app.rt.deps.config.pool.maxOverflow);
  }
}

describe('chaos: replicas and connections', () => {
  it('SIGKILL of a replica: zero failed reads or writes; the replica rejoins rotation after restart', async () => {
    const node = ps.stack.replicas[1]!;
    const r = await runScenario({
      name: 'replica SIGKILL', ps, app, step: socialStep(app), holdMs: 3_000,
      inject: async () => { process.kill(pidOf(node.spec.dir), 'SIGKILL'); },
      heal: async () => {
        // The killed postmaster's backends exit on their own; until then start() fails.
        for (let i = 0; ; i++) {
          try { await node.start(); break; } catch (err) { if (i > 60) throw err; await sleep(250); }
        }
      },
      recovered: async () => replicaState('replica2')?.available === true,
    });
    expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
    expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
    expect(r.duringFault.reads).toBeGreaterThan(50);
    expectCommon(r);
  });

  it('a lagging replica (replay paused): zero failed reads, zero stale reads for the writer or an X-BGC-LSN reader', async () => {
    const replica = await connectNode(ps.stack.layout.replicaPorts[0]!, 'bgc');
    try {
      const r = await runScenario({
        name: 'replica lag (replay paused)', ps, app, step: readYourWritesStep(app, socialStep(app)), holdMs: 4_000,
        inject: async () => { await replica.query('SELECT pg_wal_replay_pause()'); },
        heal: async () => { await replica.query('SELECT pg_wal_replay_resume()'); },
        recovered: async () => replicaState('replica1')?.available === true,
      });
      expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
      expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
      expect(r.samples.filter((s) => s.name === 'own_history_after_write').length).toBeGreaterThan(10);
      expectCommon(r);
    } finally {
      await replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await replica.end();
    }
  });

  it('a frozen replica (SIGSTOP, its connections left open): a statement on it fails within the client bound, zero failed reads, no connection leaks', async () => {
    const node = ps.stack.replicas[0]!;
    const postmaster = pidOf(node.spec.dir);
    let pids: number[] = [postmaster];
    const db = app.rt.deps.db;
    const config = app.rt.deps.config;
    const replica1 = db.replicas.find((p) => p.name === 'replica1')!;
    // statement_timeout cannot fire on a stopped server: the client's bound (statement timeout +
    // 1 s, src/db/database.ts) ends the wait, and a read moves to another node.
    const boundMs = config.pool.statementTimeoutMs + 1_000;
    const signalAll = (sig: NodeJS.Signals) => { for (const pid of pids) { try { process.kill(pid, sig); } catch { /* exited */ } } };
    // A statement in flight on the node when it stops (the load's reads may or may not be).
    let inFlight: Promise<{ ms: number; error: string }> | undefined;
    let peakTotal = 0;
    const sampler = setInterval(() => { peakTotal = Math.max(peakTotal, replica1.stats().total); }, 100);
    let r: ScenarioResult;
    try {
      r = await runScenario({
        name: 'replica frozen (SIGSTOP)', ps, app, step: socialStep(app), holdMs: boundMs + 4_000,
        inject: async () => {
          const started = Date.now();
          inFlight = replica1.query('SELECT pg_sleep(0.3)').then(
            () => ({ ms: Date.now() - started, error: 'none' }),
            (err: unknown) => ({ ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) }));
          // The postmaster first, so it forks no backend between the listing and the stop.
          process.kill(postmaster, 'SIGSTOP');
          pids = instancePids(postmaster);
          signalAll('SIGSTOP');
        },
        heal: async () => { signalAll('SIGCONT'); },
        recovered: async () => replicaState('replica1')?.available === true,
      });
    } finally {
      signalAll('SIGCONT');
      clearInterval(sampler);
    }
    const stranded = await inFlight!;
    const slowest = Math.max(0, ...r.faultSamples.filter((s) => s.kind === 'read').map((s) => s.ms));
    console.log(`[chaos] replica frozen: ${pids.length} processes stopped; the statement in flight failed after ${stranded.ms} ms (${stranded.error}); ` +
      `slowest read during the fault ${slowest} ms; replica1 pool peak ${peakTotal} connections (bound ${boundMs} ms)`);
    // Without the bound it waited for SIGCONT (the hold) and then succeeded.
    expect(stranded.error).toMatch(/did not answer within/);
    expect(stranded.ms).toBeLessThan(boundMs + 3_000);
    expect(slowest, 'no read waited for the stopped node past the client bound').toBeLessThan(boundMs + 3_000);
    expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
    expect(r.all.failedWrites, describeFailures(r.samples)).toBe(0);
    expect(r.duringFault.reads).toBeGreaterThan(50);
    // One probe at a time on a node that does not answer: a probe per poll held a connection each (20 in 10 s).
    expect(peakTotal, 'replica1 connections while it was stopped').toBeLessThanOrEqual(config.pool.size + 5);
    expectCommon(r);
  });

  it('every app connection terminated on all nodes, three times: zero failed reads; a failed write is a 503 with Retry-After; pools refill', async () => {
    const kill = async () => {
      await Promise.all([ps.stack.layout.primaryPort, ...ps.stack.layout.replicaPorts].map(async (port) => {
        const c = await connectNode(port, 'postgres');
        try {
          await c.query(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'bgc-%' AND pid <> pg_backend_pid()`);
        } finally { await c.end(); }
      }));
    };
    const size = app.rt.deps.config.pool.size;
    const r = await runScenario({
      name: 'all app connections terminated', ps, app, step: socialStep(app), holdMs: 100,
      inject: async () => { await kill(); await sleep(1_000); await kill(); await sleep(1_000); await kill(); },
      heal: async () => undefined,
      recovered: async () => app.rt.deps.db.poolStats().every((s) => s.total >= size) &&
        app.rt.deps.db.router.snapshot().every((s) => s.available),
    });
    expect(r.all.failedReads, describeFailures(r.samples)).toBe(0);
    expect(failuresAre503WithRetryAfter(r.samples.filter(isFailure)), describeFailures(r.samples)).toBe(true);
    expectCommon(r);
  });
});
