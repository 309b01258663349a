/**
 * Schedule state in `scheduled_jobs` (migrations/0003). A run is claimed with one
 * conditional upsert: it succeeds only if the last start is at least one interval ago,
 * in the database's clock. So even two instances that both believe they lead (a stale
 * leader whose connection has not noticed yet) cannot run a job twice in one interval.
 */
export const CLAIM_SQL = `
INSERT INTO scheduled_jobs AS j (name, interval_ms, last_started_at, last_instance, run_count)
VALUES ($1, $2, clock_timestamp(), $3, 1)
ON CONFLICT (name) DO UPDATE SET
  last_started_at = clock_timestamp(), interval_ms = EXCLUDED.interval_ms,
  last_instance = EXCLUDED.last_instance, run_count = j.run_count + 1
WHERE j.last_started_at IS NULL OR j.last_started_at <= clock_timestamp() - make_interval(secs => $2::float8 / 1000)
RETURNING j.last_started_at`;

export const SUCCESS_SQL = `
UPDATE scheduled_jobs SET last_finished_at = clock_timestamp(), last_success_at = clock_timestamp(), last_error = NULL, last_duration_ms = $2
WHERE name = $1`;

export const FAILURE_SQL = `
UPDATE scheduled_jobs SET last_finished_at = clock_timestamp(), last_error = $2, last_duration_ms = $3, failure_count = failure_count + 1
WHERE name = $1`;
