-- Partition lifecycle (issue 8, docs/ARCHITECTURE.md "Partitions"): a durable ledger of every
-- archived month, a record of every maintenance run, the schedule state of background jobs,
-- and the `archive` schema used by BGC_PARTITION_ARCHIVE_MODE=schema.

CREATE SCHEMA IF NOT EXISTS archive;
COMMENT ON SCHEMA archive IS 'Detached, verified monthly partitions (archive mode "schema"); never read by the app';

-- One row per partition that has entered the retention cycle (or been restored). Each step
-- of the cycle commits its state here before the next begins, so a crash at any point
-- resumes from the last recorded state on the next run:
--   live → detaching → detached → exported → verified → dropped   (restore: → restored)
-- The numbers (row_count, min/max, content_checksum) are taken from the detached table
-- before export; verification re-reads the archive and must reproduce them exactly.
CREATE TABLE partition_ledger (
  partition_name     text PRIMARY KEY,
  parent             text NOT NULL CHECK (parent IN ('messages', 'status_updates')),
  month              date NOT NULL CHECK (extract(day FROM month) = 1),
  state              text NOT NULL CHECK (state IN ('live', 'detaching', 'detached', 'exported', 'verified', 'dropped', 'restored')),
  archive_mode       text CHECK (archive_mode IN ('file', 'schema')),
  row_count          bigint,
  min_created_at     timestamptz,
  max_created_at     timestamptz,
  -- Order-independent sum of per-row md5 prefixes of the row's text form (same on any copy of the rows).
  content_checksum   text,
  -- sha256 of the uncompressed COPY stream as written to the archive file (file mode).
  file_sha256        text,
  archive_path       text,
  archive_schema     text,
  -- post_comments of an archived status_updates month travel with it (no FK, so nothing else would).
  comment_count      bigint,
  comment_checksum   text,
  comment_sha256     text,
  comment_path       text,
  retain_until       timestamptz,
  detached_at        timestamptz,
  exported_at        timestamptz,
  verified_at        timestamptz,
  dropped_at         timestamptz,
  restored_at        timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  last_error         text
);
CREATE INDEX partition_ledger_state_idx ON partition_ledger (state, parent, month);
COMMENT ON INDEX partition_ledger_state_idx IS 'serves: partitions maintenance resume scan (rows in intermediate states); partitions status archived months';

-- One row per maintenance run (scheduled or from the CLI).
CREATE TABLE partition_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  instance_id  text NOT NULL,
  trigger      text NOT NULL CHECK (trigger IN ('schedule', 'cli', 'test')),
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed', 'aborted')),
  actions      jsonb NOT NULL DEFAULT '[]'::jsonb,
  error        text
);
CREATE INDEX partition_runs_started_idx ON partition_runs (started_at DESC);
COMMENT ON INDEX partition_runs_started_idx IS 'serves: partitions status last run; metrics last success';

-- Schedule state shared by every app instance: a run is claimed with one conditional
-- upsert, so a job runs at most once per interval even across a leader change.
CREATE TABLE scheduled_jobs (
  name              text PRIMARY KEY,
  interval_ms       bigint NOT NULL CHECK (interval_ms > 0),
  last_started_at   timestamptz,
  last_finished_at  timestamptz,
  last_success_at   timestamptz,
  last_instance     text,
  last_error        text,
  last_duration_ms  bigint,
  run_count         bigint NOT NULL DEFAULT 0,
  failure_count     bigint NOT NULL DEFAULT 0
);
