import type { Config } from '../config/index.ts';
import { openDedicatedSession } from '../db/leader-lock.ts';
import type { PartitionMetrics } from '../metrics/partitions.metrics.ts';
import { MAINTENANCE_JOB_NAME, runMaintenance, type Clock, type MaintenanceHooks } from '../partitions/index.ts';
import type { JobSpec } from './scheduler.ts';

export interface PartitionJobDeps {
  readonly config: Config;
  readonly metrics?: PartitionMetrics;
  readonly clock?: Clock;
  readonly hooks?: MaintenanceHooks;
  /** Overrides config.partitions.maintenanceIntervalSeconds (tests). */
  readonly intervalMs?: number;
}

/**
 * Partition maintenance as a leader-only job. Each run opens its own unpooled session
 * (UTC, no statement timeout for month-sized COPYs, session lock_timeout for DETACH
 * CONCURRENTLY) and closes it afterwards, so no setting leaks into the API's pools.
 */
export function partitionMaintenanceJob(deps: PartitionJobDeps): JobSpec {
  const { config } = deps;
  return {
    name: MAINTENANCE_JOB_NAME,
    intervalMs: deps.intervalMs ?? config.partitions.maintenanceIntervalSeconds * 1000,
    leaderOnly: true,
    run: async ({ signal, instanceId, logger }) => {
      const client = await openDedicatedSession(config.database.primaryUrl, {
        // No statement timeout (a month's COPY), so the session must notice a dead primary host
        // by itself: TCP keepalive, about 25 s, instead of hanging the job for hours.
        applicationName: 'bgc-partitions', statementTimeoutMs: 0, detectDeadPeer: true,
        onError: (err) => logger.warn({ err: err.message }, 'partition maintenance session error'),
      });
      // Leadership lost or the runtime stopping: end the statement in flight too (the signal is
      // otherwise checked only between steps, and a COPY runs for minutes). Every step is
      // idempotent and resumes from the ledger, as after a crash.
      const abandon = () => { (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy(); };
      signal.addEventListener('abort', abandon, { once: true });
      try {
        const report = await runMaintenance(client, {
          config, instanceId, trigger: 'schedule', signal, clock: deps.clock, hooks: deps.hooks,
          onProgress: (m) => logger.info({ job: MAINTENANCE_JOB_NAME }, m),
        });
        if (report.skipped) logger.info({ job: MAINTENANCE_JOB_NAME, skipped: report.skipped }, 'partition maintenance skipped');
        const done = report.actions.filter((a) => a.status === 'done').length;
        if (done > 0) logger.info({ job: MAINTENANCE_JOB_NAME, run: report.runId, done }, 'partition maintenance changed partitions');
        if (report.failed > 0) {
          const errors = report.actions.filter((a) => a.status === 'failed').map((a) => `${a.partition}: ${a.error ?? 'failed'}`);
          throw new Error(`partition maintenance: ${report.failed} action(s) failed: ${errors.join('; ')}`);
        }
      } catch (err) {
        deps.metrics?.failures.inc();
        throw err;
      } finally {
        signal.removeEventListener('abort', abandon);
        deps.metrics?.invalidate();
        await client.end().catch(() => undefined);
      }
    },
  };
}
