-- Workload history (FR-020, SC-015): snapshots of pg_stat_statements from every node, table and
-- index statistics, hit ratios, replica lag and partition sizes, plus the monthly reports built
-- from them. See src/history (the snapshot job) and src/report (the reports).
--
-- pg_stat_statements is never reset by us: every snapshot stores the cumulative counters and the
-- delta since the previous snapshot of the same node, and says how that delta was obtained
-- (delta_kind). Retention deletes whole runs; every child row goes with its run (ON DELETE CASCADE).

CREATE SCHEMA IF NOT EXISTS monitoring;
COMMENT ON SCHEMA monitoring IS 'workload history snapshots and monthly performance reports (src/history, src/report)';

-- One run of the snapshot job (it visits every node).
CREATE TABLE monitoring.snapshot_runs (
  id                bigserial PRIMARY KEY,
  taken_at          timestamptz NOT NULL DEFAULT now(),
  -- The app instance that took it; app counters below are that process's own.
  instance_id       text NOT NULL,
  process_started_at timestamptz NOT NULL,
  duration_ms       double precision,
  -- App cache counters (cumulative for the process); deltas computed against the previous run
  -- of the same process, NULL when there is none (first run after a start).
  app_cache_hits       bigint,
  app_cache_misses     bigint,
  app_cache_hits_delta   bigint,
  app_cache_misses_delta bigint,
  app_cache_memory_bytes bigint,
  app_cache_max_bytes    bigint
);
CREATE INDEX snapshot_runs_taken_at_idx ON monitoring.snapshot_runs (taken_at);
COMMENT ON INDEX monitoring.snapshot_runs_taken_at_idx IS 'serves: report month ranges; retention cleanup';

-- One row per node per run.
CREATE TABLE monitoring.snapshots (
  id                 bigserial PRIMARY KEY,
  run_id             bigint NOT NULL REFERENCES monitoring.snapshot_runs (id) ON DELETE CASCADE,
  taken_at           timestamptz NOT NULL,
  node               text NOT NULL,
  role               text NOT NULL CHECK (role IN ('primary', 'replica')),
  ok                 boolean NOT NULL,
  error              text,
  -- pg_stat_statements_info of the node, and what changed since the node's previous snapshot.
  pgss_dealloc       bigint,
  pgss_stats_reset   timestamptz,
  pgss_dealloc_delta bigint,
  pgss_reset_detected boolean NOT NULL DEFAULT false,
  statements_total   integer,
  statements_stored  integer,
  -- pg_stat_database of the app's database (cumulative) and the deltas since the previous snapshot.
  blks_hit           bigint,
  blks_read          bigint,
  blks_hit_delta     bigint,
  blks_read_delta    bigint,
  idx_blks_hit       bigint,
  idx_blks_read      bigint,
  idx_blks_hit_delta bigint,
  idx_blks_read_delta bigint,
  xact_commit        bigint,
  xact_rollback      bigint,
  deadlocks          bigint,
  temp_bytes         bigint,
  db_size_bytes      bigint,
  -- Connections seen on the node at that moment.
  connections_total  integer,
  connections_active integer,
  connections_idle_in_tx integer,
  connections_app    integer,
  max_connections    integer,
  -- The snapshotting instance's pool for this node.
  pool_total         integer,
  pool_idle          integer,
  pool_waiting       integer,
  pool_max           integer,
  -- Replicas only: replay lag (time, with the idle-primary fix) and bytes behind the primary.
  replica_lag_ms     double precision,
  replica_lag_bytes  bigint,
  relations_captured boolean NOT NULL DEFAULT false,
  UNIQUE (run_id, node)
);
CREATE INDEX snapshots_node_taken_at_idx ON monitoring.snapshots (node, taken_at);
COMMENT ON INDEX monitoring.snapshots_node_taken_at_idx IS 'serves: previous snapshot of a node (deltas); report per-node series';
COMMENT ON INDEX monitoring.snapshots_run_id_node_key IS 'serves: FK snapshots.run_id; one row per node per run';

-- Every statement ever seen (by queryid, which is the same on a primary and its physical replicas).
CREATE TABLE monitoring.statements (
  queryid       bigint PRIMARY KEY,
  -- The catalog name from the leading /* name */ comment, NULL for statements not from the catalog.
  name          text,
  query         text NOT NULL,
  first_seen_at timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL
);
CREATE INDEX statements_first_seen_idx ON monitoring.statements (first_seen_at);
COMMENT ON INDEX monitoring.statements_first_seen_idx IS 'serves: report new queries';

-- The last cumulative counters seen per node and statement: the baseline of the next delta.
-- A state table, not history: statements outside a snapshot's top-N still need a baseline.
CREATE TABLE monitoring.statement_counters (
  node             text NOT NULL,
  queryid          bigint NOT NULL,
  calls            bigint NOT NULL,
  total_exec_time  double precision NOT NULL,
  rows             bigint NOT NULL,
  shared_blks_hit  bigint NOT NULL,
  shared_blks_read bigint NOT NULL,
  temp_blks_written bigint NOT NULL,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (node, queryid)
);

-- Statement statistics per snapshot (node): cumulative values and deltas. Only statements whose
-- counters moved are kept, at most BGC_HISTORY_TOP_STATEMENTS per node per run (by delta time).
CREATE TABLE monitoring.statement_stats (
  snapshot_id       bigint NOT NULL REFERENCES monitoring.snapshots (id) ON DELETE CASCADE,
  queryid           bigint NOT NULL,
  calls             bigint NOT NULL,
  total_exec_time   double precision NOT NULL,
  mean_exec_time    double precision NOT NULL,
  rows              bigint NOT NULL,
  shared_blks_hit   bigint NOT NULL,
  shared_blks_read  bigint NOT NULL,
  temp_blks_written bigint NOT NULL,
  -- normal: cumulative minus the previous snapshot's; new: first seen, the whole count is new;
  -- reset: the node's stats_reset changed, the count restarted from zero after our previous
  -- snapshot; evicted: calls went down without a reset (deallocated, then seen again).
  delta_kind        text NOT NULL CHECK (delta_kind IN ('normal', 'new', 'reset', 'evicted')),
  calls_delta       bigint NOT NULL,
  total_exec_time_delta double precision NOT NULL,
  rows_delta        bigint NOT NULL,
  shared_blks_hit_delta  bigint NOT NULL,
  shared_blks_read_delta bigint NOT NULL,
  temp_blks_written_delta bigint NOT NULL,
  PRIMARY KEY (snapshot_id, queryid)
);
CREATE INDEX statement_stats_queryid_idx ON monitoring.statement_stats (queryid);
COMMENT ON INDEX monitoring.statement_stats_queryid_idx IS 'serves: dashboard per-query history';

-- Table statistics (per node: scans are counted where they run; sizes and tuples on the primary).
CREATE TABLE monitoring.table_stats (
  snapshot_id   bigint NOT NULL REFERENCES monitoring.snapshots (id) ON DELETE CASCADE,
  schema_name   text NOT NULL,
  table_name    text NOT NULL,
  parent_table  text,
  seq_scan      bigint NOT NULL,
  seq_tup_read  bigint NOT NULL,
  idx_scan      bigint NOT NULL,
  n_tup_ins     bigint NOT NULL,
  n_tup_upd     bigint NOT NULL,
  n_tup_del     bigint NOT NULL,
  n_live_tup    bigint NOT NULL,
  n_dead_tup    bigint NOT NULL,
  last_autovacuum timestamptz,
  table_bytes   bigint NOT NULL,
  index_bytes   bigint NOT NULL,
  total_bytes   bigint NOT NULL,
  PRIMARY KEY (snapshot_id, schema_name, table_name)
);

CREATE TABLE monitoring.index_stats (
  snapshot_id   bigint NOT NULL REFERENCES monitoring.snapshots (id) ON DELETE CASCADE,
  schema_name   text NOT NULL,
  table_name    text NOT NULL,
  index_name    text NOT NULL,
  -- For an index on a partition: the partitioned index it belongs to.
  parent_index  text,
  idx_scan      bigint NOT NULL,
  size_bytes    bigint NOT NULL,
  is_unique     boolean NOT NULL,
  is_primary    boolean NOT NULL,
  method        text NOT NULL,
  key_columns   text NOT NULL,
  predicate     text,
  definition    text NOT NULL,
  PRIMARY KEY (snapshot_id, schema_name, index_name)
);

CREATE TABLE monitoring.partition_stats (
  snapshot_id    bigint NOT NULL REFERENCES monitoring.snapshots (id) ON DELETE CASCADE,
  parent_table   text NOT NULL,
  partition_name text NOT NULL,
  range_from     timestamptz,
  range_to       timestamptz,
  total_bytes    bigint NOT NULL,
  rows_estimate  bigint NOT NULL,
  PRIMARY KEY (snapshot_id, partition_name)
);

-- Latency histograms of the snapshotting process (bgc_db_query_duration_seconds by catalog name,
-- bgc_http_request_duration_seconds by route): the only source of p95/p99 (pg_stat_statements
-- keeps mean and max only). Deltas against the same process's previous run.
CREATE TABLE monitoring.latency_stats (
  run_id       bigint NOT NULL REFERENCES monitoring.snapshot_runs (id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('db', 'http')),
  label        text NOT NULL,
  bucket_le    double precision[] NOT NULL,
  counts_delta bigint[] NOT NULL,
  count_delta  bigint NOT NULL,
  sum_delta    double precision NOT NULL,
  PRIMARY KEY (run_id, kind, label)
);

-- Alerts seen in Alertmanager by the snapshot job, so a month's report lists what fired even
-- after Alertmanager forgot resolved alerts.
CREATE TABLE monitoring.alerts (
  fingerprint  text NOT NULL,
  starts_at    timestamptz NOT NULL,
  alertname    text NOT NULL,
  severity     text,
  summary      text,
  labels       jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_seen_at timestamptz NOT NULL,
  ends_at      timestamptz,
  PRIMARY KEY (fingerprint, starts_at)
);
CREATE INDEX alerts_starts_at_idx ON monitoring.alerts (starts_at);
COMMENT ON INDEX monitoring.alerts_starts_at_idx IS 'serves: report alerts of a month; retention';

-- Generated reports. unique (month, format) is the idempotency guard of the monthly job: two
-- instances racing past the leader lock still store one report.
CREATE TABLE monitoring.reports (
  id           bigserial PRIMARY KEY,
  month        text NOT NULL CHECK (month ~ '^\d{4}-(0[1-9]|1[0-2])$'),
  format       text NOT NULL CHECK (format IN ('html', 'md', 'json')),
  content      text NOT NULL,
  generated_by text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (month, format)
);
