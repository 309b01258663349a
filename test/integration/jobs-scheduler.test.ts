import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { LeaderLock, SCHEDULER_LOCK_KEY } from '../../src/db/leader-lock.ts';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

let tdb: TestDatabase;
let admin: pg.Client;

const INTERVAL = 300;
const TICK = 75;
/**
 * A loaded 2-core machine's scheduling on top of a hand-over's one interval and a tick: the
 * runs wait for timers and for database round trips of their own. A hand-over that waited
 * for the old session to time out (server keepalive: about 25 s) is far past it.
 */
const HANDOVER_SLACK = 2_000;
/** How long to wait for runs that are due every INTERVAL (bounded polling, never a fixed sleep). */
const WAIT_MS = 15_000;
/**
 * The claim guarantees one interval between starts in the DATABASE's clock
 * (scheduled_jobs.last_started_at, set by the claim). A run's `at` here is taken after the
 * claim's answer arrived, and on a busy CI machine that answer was seen 140 ms late, so
 * lower bounds on gaps are checked on the claim times the scheduler hands each run
 * (JobContext.startedAt); `at` is only used for upper bounds (how soon a run happens).
 */
interface Run { instance: string; at: number; claimedMs: number }

/** The claim times of these runs (Unix ms, database clock), in start order. */
async function claimTimes(runs: readonly Run[]): Promise<number[]> {
  return runs.map((r) => r.claimedMs).sort((x, y) => x - y);
}

function expectGapsAtLeastOneInterval(times: readonly number[]): void {
  // Microsecond timestamps rounded to ms: allow 1 ms of rounding, nothing more.
  for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(INTERVAL - 1);
}

/**
 * Never more often than once per interval, on this process's clock too: runs whose claims
 * all fall within `spanMs` (first claim to the moment they were counted) are at most
 * spanMs / INTERVAL + 1 (1 ms of rounding per gap, as above).
 */
function expectAtMostOnePerInterval(count: number, spanMs: number): void {
  expect(count, `${count} runs in ${spanMs.toFixed(0)} ms`).toBeLessThanOrEqual(Math.floor(spanMs / (INTERVAL - 1)) + 1);
}

/** The middle gap between consecutive claims (ms). */
function medianGap(times: readonly number[]): number {
  const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0)).sort((x, y) => x - y);
  return gaps[Math.floor(gaps.length / 2)] ?? Number.NaN;
}

/** Polls `done` every 10 ms until it holds; throws after `limitMs`. Returns the ms it took. */
async function waitUntil(what: string, done: () => boolean, limitMs = WAIT_MS): Promise<number> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > limitMs) throw new Error(`[jobs-scheduler] timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - t0;
}

function instance(name: string, runs: Run[], opts: { fail?: boolean; metrics?: Metrics; jobMs?: number } = {}) {
  const logger = createLogger(tdb.config({ LOG_LEVEL: 'silent' }));
  const leader = new LeaderLock({ url: tdb.primaryUrl, key: SCHEDULER_LOCK_KEY, applicationName: `bgc-sched-${name}` });
  const scheduler = new Scheduler({ leader, instanceId: name, logger, metrics: opts.metrics, tickMs: TICK });
  let active = 0;
  let overlapped = false;
  scheduler.register({
    name: 'test.tick',
    intervalMs: INTERVAL,
    run: async (ctx) => {
      active++;
      if (active > 1) overlapped = true;
      runs.push({ instance: name, at: Date.now(), claimedMs: ctx.startedAt.getTime() });
      try {
        await new Promise((r) => setTimeout(r, opts.jobMs ?? 20));
        if (opts.fail) throw new Error('job failed on purpose');
      } finally {
        active--;
      }
    },
  });
  return { scheduler, leader, overlapped: () => overlapped };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  tdb = await createTestDatabase('jobs-sched');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin?.end();
  await tdb?.drop();
});

describe('leader-elected scheduler (SC-012)', () => {
  it('two instances on one database: the job runs once per interval, on the leader only; closing the leader hands it over within one interval', async () => {
    const runs: Run[] = [];
    const a = instance('a', runs);
    const b = instance('b', runs);
    a.scheduler.start();
    await sleep(40);
    b.scheduler.start();
    try {
      const RUNS = 6;
      const waited = await waitUntil(`${RUNS} runs`, () => runs.length >= RUNS);
      const counted = [...runs];
      const span = Date.now() - (counted[0]?.claimedMs ?? 0);
      const claims = await claimTimes(counted);
      console.log(`[jobs-scheduler] ${counted.length} runs after ${waited} ms, the first claimed ${span} ms before they were counted; `
        + `gaps between claims ${claims.slice(1).map((t, i) => t - (claims[i] ?? 0)).join(', ')} ms (interval ${INTERVAL} ms)`);
      const leaderName = counted[0]?.instance;
      expect(counted.every((r) => r.instance === leaderName)).toBe(true);
      // One run per interval, never more often: gaps on the database's clock, the count on ours.
      expectGapsAtLeastOneInterval(claims);
      expectAtMostOnePerInterval(counted.length, span);
      // And every interval, not every other one (a run each interval and a tick; half an
      // interval more for a loaded machine's scheduling, in the middle gap).
      expect(medianGap(claims)).toBeLessThan(2 * INTERVAL);

      const [leader, follower] = leaderName === 'a' ? [a, b] : [b, a];
      const closedAt = Date.now();
      await leader.scheduler.stop();
      // The leader's last run: the one that started last before the hand-over (read after the
      // stop, so a run that started while it was stopping counts).
      const lastLeaderRun = Math.max(...runs.filter((r) => r.instance === leaderName).map((r) => r.at));
      await waitUntil('a run on the other instance', () => runs.some((r) => r.instance !== leaderName));
      const takeover = runs.find((r) => r.instance !== leaderName);
      console.log(`[jobs-scheduler] hand-over: the follower ran ${(takeover?.at ?? 0) - lastLeaderRun} ms after the leader's last run, `
        + `${(takeover?.at ?? 0) - closedAt} ms after the leader began to stop (bound ${INTERVAL + TICK + HANDOVER_SLACK} ms)`);
      // Next run no later than one interval (plus one tick of the follower) after the leader's
      // last run, and never sooner than one interval after it: the schedule survives the hand-over.
      expect((takeover?.at ?? 0) - lastLeaderRun).toBeLessThanOrEqual(INTERVAL + TICK + HANDOVER_SLACK);
      expectGapsAtLeastOneInterval(await claimTimes(runs));
      expect((takeover?.at ?? 0) - closedAt).toBeLessThanOrEqual(INTERVAL + TICK + HANDOVER_SLACK);
      expect(follower.scheduler.isLeader).toBe(true);
      expect(a.overlapped() || b.overlapped()).toBe(false);
    } finally {
      await Promise.all([a.scheduler.stop(), b.scheduler.stop()]);
    }
  });

  it('a leader whose session is killed loses the lock; the job keeps its cadence and never runs twice at once', async () => {
    const runs: Run[] = [];
    const a = instance('a', runs, { jobMs: 100 });
    const b = instance('b', runs, { jobMs: 100 });
    a.scheduler.start();
    await sleep(40);
    b.scheduler.start();
    try {
      // A leader, with runs behind it, before its session is killed.
      await waitUntil('a leader with two runs', () => runs.length >= 2 && (a.scheduler.isLeader || b.scheduler.isLeader));
      const first = a.scheduler.isLeader ? a : b;
      const pid = await first.leader.backendPid();
      expect(pid).not.toBeNull();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const killedAt = Date.now();
      const waited = await waitUntil('three runs after the kill', () => runs.filter((r) => r.at > killedAt).length >= 3);
      const after = runs.filter((r) => r.at > killedAt);
      const claims = await claimTimes(runs);
      console.log(`[jobs-scheduler] session killed: next run ${(after[0]?.at ?? Infinity) - killedAt} ms later (bound ${INTERVAL + 2 * TICK + HANDOVER_SLACK} ms), `
        + `3 runs after ${waited} ms, on ${[...new Set(after.map((r) => r.instance))].join(', ')}`);
      expect((after[0]?.at ?? Infinity) - killedAt).toBeLessThanOrEqual(INTERVAL + 2 * TICK + HANDOVER_SLACK);
      expectGapsAtLeastOneInterval(claims);
      expectAtMostOnePerInterval(runs.length, Date.now() - (claims[0] ?? 0));
      expect(a.overlapped() || b.overlapped()).toBe(false);
    } finally {
      await Promise.all([a.scheduler.stop(), b.scheduler.stop()]);
    }
  });

  it('a running leader-only job is aborted as soon as the lock\'s session drops, not at the next tick', async () => {
    const logger = createLogger(tdb.config({ LOG_LEVEL: 'silent' }));
    let lost: (reason: string) => void = () => undefined;
    const leader = new LeaderLock({ url: tdb.primaryUrl, key: SCHEDULER_LOCK_KEY, applicationName: 'bgc-sched-abort', onLost: (r) => lost(r) });
    // Ticks far apart: only the lock's own report can stop the job in time.
    const scheduler = new Scheduler({ leader, instanceId: 'abort', logger, tickMs: 60_000 });
    lost = (r) => scheduler.leadershipLost(r);
    let running = false;
    let abortedAt = 0;
    scheduler.register({
      name: 'test.long',
      intervalMs: 120_000,
      run: async (ctx) => {
        running = true;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 20_000);
          ctx.signal.addEventListener('abort', () => { abortedAt = Date.now(); clearTimeout(t); resolve(); });
        });
      },
    });
    await admin.query(`DELETE FROM scheduled_jobs WHERE name = 'test.long'`);
    scheduler.start();
    try {
      await waitUntil('the long job running on the leader', () => running);
      const pid = await leader.backendPid();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const killedAt = Date.now();
      await waitUntil('the job aborted', () => abortedAt > 0, 10_000);
      console.log(`[jobs-scheduler] leader session killed: job aborted ${abortedAt - killedAt} ms later (next tick in 60 s)`);
      expect(abortedAt - killedAt).toBeLessThan(5_000);
      expect(scheduler.isLeader).toBe(false);
    } finally {
      await scheduler.stop();
    }
  });

  it('failures are counted and stored, never thrown out of the timer; success time is tracked', async () => {
    const metrics = new Metrics();
    const runs: Run[] = [];
    const bad = instance('bad', runs, { fail: true, metrics });
    bad.scheduler.start();
    try {
      const waited = await waitUntil('two failed runs', () => (bad.scheduler.states()[0]?.failures ?? 0) >= 2);
      console.log(`[jobs-scheduler] two failed runs after ${waited} ms`);
    } finally {
      await bad.scheduler.stop();
    }
    const state = bad.scheduler.states()[0];
    expect(state?.failures).toBeGreaterThanOrEqual(2);
    expect(state?.lastError).toBe('job failed on purpose');
    const failures = (await metrics.jobFailures.get()).values.find((v) => v.labels.job === 'test.tick')?.value;
    expect(failures).toBe(state?.failures);
    const row = await admin.query<{ failure_count: string; last_error: string }>(`SELECT failure_count::text, last_error FROM scheduled_jobs WHERE name = 'test.tick'`);
    expect(Number(row.rows[0]?.failure_count)).toBeGreaterThanOrEqual(2);

    const okRuns: Run[] = [];
    const good = instance('good', okRuns, { metrics });
    good.scheduler.start();
    try {
      const deadline = Date.now() + 2_000;
      while (good.scheduler.states()[0]?.lastSuccessAt === null && Date.now() < deadline) await sleep(20);
    } finally {
      await good.scheduler.stop();
    }
    const success = (await metrics.jobLastSuccess.get()).values.find((v) => v.labels.job === 'test.tick')?.value ?? 0;
    expect(Math.abs(success * 1000 - Date.now())).toBeLessThan(5_000);
  });

  it('a spec that passes leaderOnly through as undefined is still leader-only', async () => {
    const leader = new LeaderLock({ url: tdb.primaryUrl, key: SCHEDULER_LOCK_KEY, applicationName: 'bgc-sched-spec' });
    try {
      const scheduler = new Scheduler({ leader, instanceId: 'spec', logger: createLogger(tdb.config({ LOG_LEVEL: 'silent' })), tickMs: TICK });
      scheduler.register({ name: 'test.passthrough', intervalMs: INTERVAL, leaderOnly: undefined, run: async () => {} });
      scheduler.register({ name: 'test.everywhere', intervalMs: INTERVAL, leaderOnly: false, run: async () => {} });
      expect(scheduler.states().map((j) => [j.name, j.leaderOnly])).toEqual([['test.passthrough', true], ['test.everywhere', false]]);
    } finally {
      await leader.close();
    }
  });

  it('does not lead on a standby', async () => {
    const replicaLock = new LeaderLock({ url: tdb.replicaUrls[0] ?? '', key: SCHEDULER_LOCK_KEY, applicationName: 'bgc-sched-replica' });
    try {
      expect(await replicaLock.check()).toEqual({ leader: false, reason: 'replica' });
    } finally {
      await replicaLock.close();
    }
  });
});
