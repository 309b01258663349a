import type { JobSpec } from '../../jobs/scheduler.ts';
import type { HistoryRecorder } from './snapshot.ts';

export const SNAPSHOT_JOB_NAME = 'history.snapshot';
export const RETENTION_JOB_NAME = 'history.retention';

/**
 * The snapshot job (leader only: one snapshot per interval across all app instances; the
 * scheduler's claim row in scheduled_jobs enforces the interval even across a leader change).
 */
export function historySnapshotJob(recorder: HistoryRecorder, intervalMs: number): JobSpec {
  return {
    name: SNAPSHOT_JOB_NAME,
    intervalMs,
    leaderOnly: true,
    run: async ({ logger }) => {
      const s = await recorder.snapshot();
      const down = s.nodes.filter((n) => !n.ok);
      if (down.length > 0) logger.warn({ job: SNAPSHOT_JOB_NAME, down: down.map((n) => `${n.node}: ${n.error}`) }, 'snapshot: nodes unreachable');
      const resets = s.nodes.filter((n) => n.resetDetected).map((n) => n.node);
      if (resets.length > 0) logger.warn({ job: SNAPSHOT_JOB_NAME, nodes: resets }, 'snapshot: pg_stat_statements was reset since the previous snapshot');
      logger.debug({ job: SNAPSHOT_JOB_NAME, run: s.runId, ms: Math.round(s.durationMs) }, 'snapshot taken');
    },
  };
}

/** Retention: hourly is plenty for a limit counted in days. */
export function historyRetentionJob(recorder: HistoryRecorder, intervalMs = 3_600_000): JobSpec {
  return {
    name: RETENTION_JOB_NAME,
    intervalMs,
    leaderOnly: true,
    run: async ({ logger, signal }) => {
      const { deletedRuns } = await recorder.cleanup(new Date(), signal);
      if (deletedRuns > 0) logger.info({ job: RETENTION_JOB_NAME, deletedRuns }, 'history retention deleted old snapshot runs');
    },
  };
}
