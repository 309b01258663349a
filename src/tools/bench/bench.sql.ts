/**
 * The harness's own SQL (maintenance and observation, not app queries: the app's
 * statements live in the catalog). Kept in one file so it can be reviewed at a glance.
 */
export const BENCH_SQL = {
  /** Connections of the app under test on this node; pg_stat_activity is per node. */
  appConnections: `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2`,
  backendPid: `SELECT pg_backend_pid() AS pid`,
  databaseExists: `SELECT 1 FROM pg_database WHERE datname = $1`,
  databaseComment: `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
  selectOne: `SELECT 1`,
  /**
   * The durable-commit floor (issue 16): pgbench's one-row INSERT into a plain table (no
   * index, like pgbench_history), one auto-committed transaction each, synchronous_commit
   * on, so every commit waits for its WAL flush as a message send does. `%s` is a numeric
   * suffix (the harness' pid), so two benchmark runs never share the table.
   */
  commitFloorCreate: `CREATE TABLE IF NOT EXISTS bgc_bench_commit_floor_%s (client int NOT NULL, n bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)`,
  commitFloorInsert: `INSERT INTO bgc_bench_commit_floor_%s (client, n, payload) VALUES ($1, $2, $3)`,
  commitFloorDrop: `DROP TABLE IF EXISTS bgc_bench_commit_floor_%s`,
  durableCommits: `SET synchronous_commit = on`,
  /** Planner estimate of the rows in a (partitioned) table: cheap, good enough to notice lost months. */
  estimatedRows: `SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS n FROM pg_class c
    WHERE c.relkind = 'r' AND (c.oid = $1::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass))`,
  primaryLsn: `SELECT pg_current_wal_lsn()::text AS lsn`,
  replayedPast: `SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS ok`,
} as const;
