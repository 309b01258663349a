/** SQL of the partition ledger and the run log (migrations/0003_partition_ledger.sql). */

/** Text forms for timestamps so comparisons are exact (microseconds, UTC session). */
export const LEDGER_COLUMNS = `
  partition_name, parent, month::text AS month, state, archive_mode,
  row_count::text AS row_count, min_created_at::text AS min_created_at, max_created_at::text AS max_created_at,
  content_checksum, file_sha256, archive_path, archive_schema,
  comment_count::text AS comment_count, comment_checksum, comment_sha256, comment_path,
  retain_until, detached_at, exported_at, verified_at, dropped_at, restored_at, updated_at, last_error`;

export const LEDGER_GET_SQL = `SELECT ${LEDGER_COLUMNS} FROM partition_ledger WHERE partition_name = $1`;

export const LEDGER_LIST_SQL = `SELECT ${LEDGER_COLUMNS} FROM partition_ledger ORDER BY parent, month`;

export const LEDGER_IN_PROGRESS_SQL = `
SELECT ${LEDGER_COLUMNS} FROM partition_ledger
WHERE state IN ('detaching', 'detached', 'exported', 'verified')
ORDER BY parent DESC, month`;

/**
 * Opens a retention cycle. Allowed from no row, 'live' or 'restored' only: a row in any
 * other state belongs to a cycle that is already running or finished.
 */
export const LEDGER_BEGIN_SQL = `
INSERT INTO partition_ledger (partition_name, parent, month, state, archive_mode)
VALUES ($1, $2, $3::date, 'detaching', $4)
ON CONFLICT (partition_name) DO UPDATE SET
  state = 'detaching', archive_mode = EXCLUDED.archive_mode,
  row_count = NULL, min_created_at = NULL, max_created_at = NULL, content_checksum = NULL, file_sha256 = NULL,
  archive_path = NULL, archive_schema = NULL, comment_count = NULL, comment_checksum = NULL, comment_sha256 = NULL,
  comment_path = NULL, retain_until = NULL, detached_at = NULL, exported_at = NULL, verified_at = NULL,
  dropped_at = NULL, last_error = NULL, updated_at = now()
WHERE partition_ledger.state IN ('live', 'restored')
RETURNING ${LEDGER_COLUMNS}`;

export const LEDGER_ERROR_SQL = `UPDATE partition_ledger SET last_error = $2, updated_at = now() WHERE partition_name = $1`;

/** Runs that were 'running' when their process died; only called under the maintenance lock. */
export const RUNS_ABORT_STALE_SQL = `
UPDATE partition_runs SET status = 'aborted', finished_at = now(), error = COALESCE(error, 'process ended before the run finished')
WHERE status = 'running'`;

export const RUNS_START_SQL = `INSERT INTO partition_runs (instance_id, trigger) VALUES ($1, $2) RETURNING id::text AS id`;

export const RUNS_FINISH_SQL = `
UPDATE partition_runs SET finished_at = now(), status = $2, actions = $3::jsonb, error = $4 WHERE id = $1::bigint`;

export const RUNS_LAST_SQL = `
SELECT id::text AS id, started_at, finished_at, instance_id, trigger, status, error, jsonb_array_length(actions) AS action_count
FROM partition_runs ORDER BY started_at DESC LIMIT 1`;

export const RUNS_LAST_SUCCESS_SQL = `SELECT max(finished_at) AS at FROM partition_runs WHERE status = 'ok'`;

/** The scheduler's row for the maintenance job (src/jobs): when it last started, its interval. */
export const JOB_SCHEDULE_SQL = `
SELECT last_started_at, last_success_at, interval_ms::text AS interval_ms, last_instance, last_error
FROM scheduled_jobs WHERE name = $1`;

export const EXACT_COUNT_SQL = (qualified: string) => `SELECT count(*)::text AS n FROM ${qualified}`;
