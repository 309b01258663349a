import { Writable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLock, SCHEDULER_LOCK_KEY } from '../../src/db/leader-lock.ts';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * A leader-only job whose outcome cannot be written (the leader's session died during the
 * run): the scheduler logs it and counts it in bgc_job_record_failures_total instead of
 * dropping it silently. On a real database: the run terminates the leader's own backend.
 */
let tdb: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  tdb = await createTestDatabase('sched-outcome');
  admin = await tdb.admin();
});
afterAll(async () => {
  await admin?.end();
  await tdb?.drop();
});

/** Polls `cond` every 20 ms until it holds or `ms` pass; returns whether it held. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

describe('scheduler outcome bookkeeping', () => {
  it('logs and counts a run whose outcome could not be written to scheduled_jobs', async () => {
    const lines: Array<{ msg?: string; job?: string; statement?: string }> = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string }); done(); } });
    const logger = createLogger(tdb.config({ LOG_LEVEL: 'warn' }), sink);
    const metrics = new Metrics();
    const leader = new LeaderLock({ url: tdb.primaryUrl, key: SCHEDULER_LOCK_KEY, applicationName: 'bgc-sched-outcome' });
    const scheduler = new Scheduler({ leader, instanceId: 'outcome', logger, metrics, tickMs: 50 });
    let ran = false;
    scheduler.register({
      name: 'test.outcome',
      intervalMs: 60_000,
      run: async () => {
        const pid = await leader.backendPid();
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // The session's error handler marks it broken; bounded wait for that.
        expect(await until(() => !leader.isLeader, 5_000)).toBe(true);
        ran = true;
      },
    });
    const started = Date.now();
    scheduler.start();
    try {
      expect(await until(() => lines.some((l) => l.msg === 'job outcome not recorded'), 15_000)).toBe(true);
    } finally {
      await scheduler.stop();
    }
    console.log(`outcome failure seen after ${Date.now() - started} ms`);
    expect(ran).toBe(true);
    expect(lines.find((l) => l.msg === 'job outcome not recorded')).toMatchObject({ job: 'test.outcome', statement: 'scheduler.record_success' });
    const counted = (await metrics.jobRecordFailures.get()).values.find((v) => v.labels.job === 'test.outcome')?.value;
    expect(counted).toBe(1);
    expect(scheduler.states()[0]).toMatchObject({ runs: 1, failures: 0 });
  });
});
