import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import type { Scheduler } from '../../jobs/scheduler.ts';
import type { Metrics } from '../../metrics/registry.ts';
import { monthlyReportJob } from '../report/job.ts';
import { historyRetentionJob, historySnapshotJob } from './job.ts';
import { HistoryRecorder } from './snapshot.ts';

/** Registers the workload-history jobs (snapshots, retention) and the monthly report on the app's scheduler. */
export function registerHistoryJobs(scheduler: Scheduler, deps: { db: Database; config: Config; metrics: Metrics }): HistoryRecorder {
  const recorder = new HistoryRecorder(deps);
  scheduler.register(historySnapshotJob(recorder, deps.config.history.intervalSeconds * 1000));
  scheduler.register(historyRetentionJob(recorder));
  scheduler.register(monthlyReportJob({ db: deps.db, config: deps.config }));
  return recorder;
}
