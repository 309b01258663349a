import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import type { JobSpec } from '../../jobs/scheduler.ts';
import { defaultReportDir, generateReport, REPORT_FORMATS, writeMissingReportFiles } from './generate.ts';
import { openReportDatabase } from './batch-db.ts';
import { previousMonth } from './month.ts';
import { reportQueries } from './report.repository.ts';
import { reportStoreQueries } from './store.repository.ts';

export const REPORT_JOB_NAME = 'report.monthly';

export interface MonthlyReportJobDeps {
  readonly db: Database;
  readonly config: Config;
  /** Injectable clock (tests set it to the 1st of a month). */
  readonly clock?: () => Date;
  /** How often to check whether last month's report is due; default 15 minutes. */
  readonly intervalMs?: number;
  readonly outDir?: string;
  /** Called after this instance stored a report (tests count them). */
  readonly onGenerated?: (month: string, files: readonly string[]) => void;
}

/**
 * Generates last month's report (SC-015). Runs every few minutes on the leader and does real
 * work only when last month has no stored report: on the 1st of the month (UTC) shortly after
 * midnight, or on a later day if the app was down on the 1st — but then only if that month
 * has snapshots, so a fresh install does not file an empty report for a month it never saw.
 *
 * A month stored without its files (their write failed after the commit) gets them written
 * from the stored rows on the next run.
 *
 * Exactly once, even with two instances: the leader lock makes one instance run it, and if two
 * ever race (a stale leader), the unique (month, format) row lets one store it and the other
 * roll back without writing files.
 */
export function monthlyReportJob(deps: MonthlyReportJobDeps): JobSpec {
  return {
    name: REPORT_JOB_NAME,
    intervalMs: deps.intervalMs ?? 15 * 60_000,
    leaderOnly: true,
    run: async ({ instanceId, logger, startedAt }) => {
      // The claim's time is the database's (scheduled_jobs.last_started_at, clock_timestamp()):
      // a process clock a few minutes fast would otherwise take October for finished at 23:58
      // on the 31st and store a report short of its last minutes, for good (insert-if-absent).
      const now = deps.clock?.() ?? startedAt;
      const month = previousMonth(now);
      const outDir = deps.outDir ?? defaultReportDir(deps.config);
      // Done when every format is stored from after the month's end: a report an operator stored
      // mid-month (`bgc report --store`) covers part of it, and one format alone is not the report.
      const [stored] = await deps.db.query<{ formats: number }>(reportStoreQueries.completeFormats, [month.label, month.to.toISOString()]);
      if ((stored?.formats ?? 0) >= REPORT_FORMATS.length) {
        const rewritten = await writeMissingReportFiles(deps.db, outDir, month.label);
        if (rewritten.length) logger.warn({ job: REPORT_JOB_NAME, month: month.label, files: rewritten }, 'monthly report files were missing; written from the stored report');
        return;
      }
      if (now.getUTCDate() !== 1) {
        const [runs] = await deps.db.query<{ runs: number }>(reportQueries.runCount, [month.from.toISOString(), month.to.toISOString()], { forcePrimary: true });
        if (!runs || runs.runs === 0) return;
      }
      const batchDb = await openReportDatabase(deps.config, 'bgc-report-job');
      let result: Awaited<ReturnType<typeof generateReport>>;
      try {
        result = await generateReport({ db: batchDb, config: deps.config }, {
          month, formats: [...REPORT_FORMATS], outDir,
          generatedBy: `scheduler (${instanceId})`, store: 'insert-if-absent', now,
        });
      } finally {
        await batchDb.close();
      }
      if (!result.stored) {
        logger.info({ job: REPORT_JOB_NAME, month: month.label }, 'monthly report already stored by another instance');
        return;
      }
      logger.info({ job: REPORT_JOB_NAME, month: month.label, files: result.files }, 'monthly report generated');
      deps.onGenerated?.(month.label, result.files);
    },
  };
}
