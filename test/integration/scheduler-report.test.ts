import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { loadMonitoringFixture } from '../helpers/monitoring-fixture.ts';
import { freePort } from '../helpers/free-port.ts';
import { LeaderLock, SCHEDULER_LOCK_KEY } from '../../src/db/leader-lock.ts';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { Database } from '../../src/db/database.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { monthlyReportJob } from '../../src/ops/report/job.ts';
import type { Config } from '../../src/config/index.ts';

/**
 * SC-015 with two app instances: two schedulers (each with its own leader session and pools)
 * on one database, the clock set to 2026-11-01 00:30 UTC. October's report must be generated
 * and stored exactly once, and its files written once.
 */
let tdb: TestDatabase;
let admin: pg.Client;
let config: Config;
let outDir: string;
const dbs: Database[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FIRST_OF_NOVEMBER = () => new Date('2026-11-01T00:30:00Z');

beforeAll(async () => {
  tdb = await createTestDatabase('sched_report');
  admin = await tdb.admin();
  await loadMonitoringFixture(admin);
  await tdb.syncReplicas();
  config = tdb.config({ BGC_POOL_SIZE: '1', BGC_POOL_MAX_OVERFLOW: '3', LOG_LEVEL: 'silent', BGC_ALERTMANAGER_URL: `http://127.0.0.1:${await freePort()}` });
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-sched-report-'));
});
afterAll(async () => {
  for (const d of dbs) await d.close();
  await admin?.end();
  await tdb?.drop();
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

async function appInstance(name: string, generated: string[], clock: () => Date, dir: string) {
  const db = new Database(config, { applicationName: `bgc-${name}` });
  await db.start();
  dbs.push(db);
  const leader = new LeaderLock({ url: tdb.primaryUrl, key: SCHEDULER_LOCK_KEY, applicationName: `bgc-sched-${name}` });
  const scheduler = new Scheduler({ leader, instanceId: name, logger: createLogger(config), tickMs: 50 });
  const job = monthlyReportJob({ db, config, clock, intervalMs: 200, outDir: dir, onGenerated: (m) => generated.push(`${name}:${m}`) });
  scheduler.register(job);
  return { db, scheduler, job };
}

describe('monthly report job with two app instances', () => {
  it('on the 1st, the previous month is reported exactly once', async () => {
    const generated: string[] = [];
    const a = await appInstance('a', generated, FIRST_OF_NOVEMBER, outDir);
    const b = await appInstance('b', generated, FIRST_OF_NOVEMBER, outDir);
    a.scheduler.start();
    b.scheduler.start();
    try {
      const deadline = Date.now() + 30_000;
      while (generated.length === 0 && Date.now() < deadline) await sleep(50);
      // Keep both running for many more intervals: nobody may generate it again.
      await sleep(1_500);
    } finally {
      await Promise.all([a.scheduler.stop(), b.scheduler.stop()]);
    }
    expect(generated).toHaveLength(1);
    expect(generated[0]).toMatch(/^[ab]:2026-10$/);
    const winner = generated[0]?.slice(0, 1);
    const { rows } = await admin.query<{ month: string; format: string; generated_by: string }>(
      `SELECT month, format, generated_by FROM monitoring.reports WHERE month = '2026-10' ORDER BY format`);
    expect(rows).toEqual(['html', 'json', 'md'].map((format) => ({ month: '2026-10', format, generated_by: `scheduler (${winner})` })));
    expect(fs.readdirSync(outDir).sort()).toEqual(['bgc-report-2026-10.html', 'bgc-report-2026-10.json', 'bgc-report-2026-10.md']);
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'bgc-report-2026-10.json'), 'utf8')) as { month: string; slo: Array<{ id: string; status: string; figure: string }> };
    expect(json.month).toBe('2026-10');
    // The report counts itself as the evidence of SC-015.
    expect(json.slo.find((s) => s.id === 'SC-015')).toMatchObject({ status: 'met' });
    expect(json.slo.find((s) => s.id === 'SC-015')?.figure).toContain('this report by the scheduler at 2026-11-01T00:30:00.000Z');
  });

  it('two instances that both believe they lead (no leader lock) still store one report', async () => {
    await admin.query(`DELETE FROM monitoring.reports WHERE month = '2026-10'`);
    const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-race-a-'));
    const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-race-b-'));
    try {
      const generated: string[] = [];
      const a = await appInstance('a2', generated, FIRST_OF_NOVEMBER, dirA);
      const b = await appInstance('b2', generated, FIRST_OF_NOVEMBER, dirB);
      const logger = createLogger(config);
      const ctx = (instanceId: string) => ({ signal: new AbortController().signal, instanceId, logger, startedAt: new Date() });
      // Bypass the scheduler: run both jobs' bodies at the same moment.
      await Promise.all([a.job.run(ctx('a2')), b.job.run(ctx('b2'))]);
      expect(generated).toHaveLength(1);
      const { rows } = await admin.query<{ n: number; who: number }>(`SELECT count(*)::int AS n, count(DISTINCT generated_by)::int AS who FROM monitoring.reports WHERE month = '2026-10'`);
      expect(rows[0]).toEqual({ n: 3, who: 1 });
      // Only the winner wrote files.
      expect(fs.readdirSync(dirA).length + fs.readdirSync(dirB).length).toBe(3);
    } finally {
      fs.rmSync(dirA, { recursive: true, force: true });
      fs.rmSync(dirB, { recursive: true, force: true });
    }
  });

  it('on a later day it does nothing once the month is stored, and skips months without snapshots', async () => {
    const generated: string[] = [];
    const c = await appInstance('c', generated, () => new Date('2026-11-05T10:00:00Z'), outDir);
    const logger = createLogger(config);
    await c.job.run({ signal: new AbortController().signal, instanceId: 'c', logger, startedAt: new Date() });
    expect(generated).toEqual([]); // October already stored
    // December 2nd: November has no snapshots in the fixture and it is not the 1st: no empty report.
    const d = await appInstance('d', generated, () => new Date('2026-12-02T10:00:00Z'), outDir);
    await d.job.run({ signal: new AbortController().signal, instanceId: 'd', logger, startedAt: new Date() });
    expect(generated).toEqual([]);
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM monitoring.reports WHERE month = '2026-11'`);
    expect(rows[0]?.n).toBe(0);
  });

  it('a month an operator stored before it ended, or stored in one format only, is reported by the job all the same', async () => {
    await admin.query(`DELETE FROM monitoring.reports WHERE month = '2026-10'`);
    // `bgc report --month 2026-10 --format md --store` run on October 15th.
    await admin.query(`INSERT INTO monitoring.reports (month, format, content, generated_by, created_at) VALUES ('2026-10', 'md', 'half a month', 'cli', '2026-10-15T12:00:00Z')`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-midmonth-'));
    try {
      const generated: string[] = [];
      const f = await appInstance('f', generated, FIRST_OF_NOVEMBER, dir);
      const logger = createLogger(config);
      await f.job.run({ signal: new AbortController().signal, instanceId: 'f', logger, startedAt: new Date() });
      expect(generated).toEqual(['f:2026-10']);
      const { rows } = await admin.query<{ format: string; generated_by: string; partial: boolean }>(
        `SELECT format, generated_by, content = 'half a month' AS partial FROM monitoring.reports WHERE month = '2026-10' ORDER BY format`);
      expect(rows).toEqual(['html', 'json', 'md'].map((format) => ({ format, generated_by: 'scheduler (f)', partial: false })));
      // Complete now: the next run does nothing.
      await f.job.run({ signal: new AbortController().signal, instanceId: 'f', logger, startedAt: new Date() });
      expect(generated).toEqual(['f:2026-10']);
      // `bgc report --format json --store` after the month's end, before the job's run: that
      // format stays the operator's, the job adds the others (before, it rolled back every run).
      await admin.query(`DELETE FROM monitoring.reports WHERE month = '2026-10'`);
      await admin.query(`INSERT INTO monitoring.reports (month, format, content, generated_by) VALUES ('2026-10', 'json', '{}', 'cli')`);
      await f.job.run({ signal: new AbortController().signal, instanceId: 'f', logger, startedAt: new Date() });
      expect(generated).toEqual(['f:2026-10', 'f:2026-10']);
      const { rows: after } = await admin.query<{ format: string; generated_by: string }>(
        `SELECT format, generated_by FROM monitoring.reports WHERE month = '2026-10' ORDER BY format`);
      expect(after).toEqual([{ format: 'html', generated_by: 'scheduler (f)' }, { format: 'json', generated_by: 'cli' }, { format: 'md', generated_by: 'scheduler (f)' }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stored month whose files were not written gets them from the stored rows on the next run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-rewrite-'));
    try {
      const generated: string[] = [];
      const e = await appInstance('e', generated, FIRST_OF_NOVEMBER, dir);
      const logger = createLogger(config);
      // October is stored (above) and this instance's folder holds none of its files: as if the
      // write after the commit had failed.
      await e.job.run({ signal: new AbortController().signal, instanceId: 'e', logger, startedAt: new Date() });
      expect(generated).toEqual([]);
      const { rows } = await admin.query<{ format: string; content: string }>(`SELECT format, content FROM monitoring.reports WHERE month = '2026-10' ORDER BY format`);
      expect(rows).toHaveLength(3);
      for (const r of rows) expect(fs.readFileSync(path.join(dir, `bgc-report-2026-10.${r.format}`), 'utf8')).toBe(r.content);
      // A file present is left alone.
      fs.writeFileSync(path.join(dir, 'bgc-report-2026-10.md'), 'edited by hand');
      await e.job.run({ signal: new AbortController().signal, instanceId: 'e', logger, startedAt: new Date() });
      expect(fs.readFileSync(path.join(dir, 'bgc-report-2026-10.md'), 'utf8')).toBe('edited by hand');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
