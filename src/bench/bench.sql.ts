/**
 * The harness's own SQL (maintenance and observation, not app queries: the app's
 * statements live in the catalog). Kept in one file so it can be reviewed at a glance.
 */
export const BENCH_SQL = {
  /** Connections of the app under test on this node; pg_stat_activity is per node. */
  appConnections: `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2`,
  databaseExists: `SELECT 1 FROM pg_database WHERE datname = $1`,
  databaseComment: `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
  selectOne: `SELECT 1`,
  /** Planner estimate of the rows in a (partitioned) table: cheap, good enough to notice lost months. */
  estimatedRows: `SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS n FROM pg_class c
    WHERE c.relkind = 'r' AND (c.oid = $1::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass))`,
  primaryLsn: `SELECT pg_current_wal_lsn()::text AS lsn`,
  replayedPast: `SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS ok`,
} as const;
