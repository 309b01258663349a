/**
 * Executor time per catalog entry on one node, for this database. Every catalog entry's text
 * starts with `/* name *\/` (src/catalog/types.ts), so the name survives pg_stat_statements'
 * normalization; statements without one (the harness's own, session control) group as ''.
 */
export const DB_TIME_SQL = {
  byEntry: `SELECT coalesce(substring(s.query from '^/\\* ([a-z0-9_.]+) \\*/'), '') AS name,
                   sum(s.total_exec_time)::float8 AS exec_ms, sum(s.calls)::float8 AS calls
            FROM pg_stat_statements s
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            GROUP BY 1`,
} as const;
