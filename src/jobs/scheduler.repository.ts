import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';

/**
 * Schedule state in `scheduled_jobs` (migrations/0003), as catalog entries like every other
 * statement the running server sends. They run on the leader's own session (LeaderLock),
 * not through the pools. A run is claimed with one conditional upsert: it succeeds only if
 * the last start is at least one interval ago, in the database's clock. So even two
 * instances that both believe they lead (a stale leader whose connection has not noticed
 * yet) cannot run a job twice in one interval.
 */
export const schedulerQueries = catalog({
  claim: defineQuery({
    name: 'scheduler.claim',
    description: 'Claims the next run of a leader-only job if its last start is at least one interval old (database clock).',
    target: 'primary',
    sample: ['audit.sample_job', 60_000, 'audit'],
    sql: `
INSERT INTO scheduled_jobs AS j (name, interval_ms, last_started_at, last_instance, run_count)
VALUES ($1, $2, clock_timestamp(), $3, 1)
ON CONFLICT (name) DO UPDATE SET
  last_started_at = clock_timestamp(), interval_ms = EXCLUDED.interval_ms,
  last_instance = EXCLUDED.last_instance, run_count = j.run_count + 1
WHERE j.last_started_at IS NULL OR j.last_started_at <= clock_timestamp() - make_interval(secs => $2::float8 / 1000)
RETURNING j.last_started_at`,
  }),
  recordSuccess: defineQuery({
    name: 'scheduler.record_success',
    description: 'Records a successful run of a leader-only job and its duration.',
    target: 'primary',
    sample: ['audit.sample_job', 12],
    sql: `
UPDATE scheduled_jobs SET last_finished_at = clock_timestamp(), last_success_at = clock_timestamp(), last_error = NULL, last_duration_ms = $2
WHERE name = $1`,
  }),
  recordFailure: defineQuery({
    name: 'scheduler.record_failure',
    description: 'Records a failed run of a leader-only job: its error, duration and the failure count.',
    target: 'primary',
    sample: ['audit.sample_job', 'audit sample error', 12],
    sql: `
UPDATE scheduled_jobs SET last_finished_at = clock_timestamp(), last_error = $2, last_duration_ms = $3, failure_count = failure_count + 1
WHERE name = $1`,
  }),
});
