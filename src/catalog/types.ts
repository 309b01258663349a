/**
 * The query catalog: every SQL statement the app sends is a named entry. The EXPLAIN
 * audit (`bgc explain`), the metrics (query latency by name) and docs/QUERIES.md all
 * read it. The name travels as a leading SQL comment so pg_stat_statements and the
 * server log show which entry a statement came from.
 */
export type ExplainFlag = 'seq_scan' | 'no_pruning' | 'disk_spill' | 'misestimate';

/** Where a statement may run. `replica` entries are plain reads that tolerate lag. */
export type QueryTarget = 'replica' | 'primary';

/** Sample parameters for the audit: fixed values, or a query that yields one row of them. */
export type SampleParams = readonly unknown[] | { readonly sql: string };

export interface QueryDef {
  readonly name: string;
  readonly description: string;
  /** The statement with `$n` placeholders, already prefixed with its name comment. */
  readonly text: string;
  readonly target: QueryTarget;
  readonly sample: SampleParams;
  /** Time-bounded queries on partitioned tables must show partition pruning. */
  readonly timeBounded: boolean;
  /** Written justifications for audit flags this entry is allowed to raise. */
  readonly justify: Partial<Record<ExplainFlag, string>>;
  /** Statements the audit must not EXPLAIN ANALYZE (they write); it runs them in a rolled-back transaction. */
  readonly writes: boolean;
  /**
   * 'generic' (default): sent as a named prepared statement, so PostgreSQL may switch to a
   * generic plan after five executions. 'custom': sent unnamed, planned for its actual
   * parameters every time. For statements whose best plan depends on which optional
   * filters are set (search): one generic plan cannot be right for all of them.
   */
  readonly plan: 'generic' | 'custom';
  /**
   * Only ever sent to a standby (it reads recovery state, e.g. pg_is_wal_replay_paused(),
   * which fails on a primary with 55000). The audit skips it, with a note, when no standby
   * is configured, instead of running it where the app never would.
   */
  readonly standbyOnly: boolean;
  /**
   * 1-based numbers of parameters that LOG_SQL must never print, beyond those it finds bound
   * to secret-named columns in the SQL itself (src/db/sql-log.ts): e.g. a secret passed to a function.
   */
  readonly redact: readonly number[];
}

export interface QueryDefInput {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
  readonly target: QueryTarget;
  readonly sample: SampleParams;
  readonly timeBounded?: boolean;
  readonly justify?: Partial<Record<ExplainFlag, string>>;
  readonly plan?: 'generic' | 'custom';
  readonly standbyOnly?: boolean;
  readonly redact?: readonly number[];
}

const NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

export function defineQuery(input: QueryDefInput): QueryDef {
  if (!NAME.test(input.name)) throw new Error(`catalog name "${input.name}" must look like area.action`);
  const sql = input.sql.trim();
  const writes = /^\s*(with\b[\s\S]*?\b)?(insert|update|delete|merge)\b/i.test(sql) || /\b(insert\s+into|update\s+\w+\s+set|delete\s+from)\b/i.test(sql);
  if (writes && input.target === 'replica') throw new Error(`catalog entry ${input.name} writes but is marked replica`);
  return {
    name: input.name,
    description: input.description,
    text: `/* ${input.name} */ ${sql}`,
    target: input.target,
    sample: input.sample,
    timeBounded: input.timeBounded ?? false,
    justify: input.justify ?? {},
    writes,
    plan: input.plan ?? 'generic',
    standbyOnly: input.standbyOnly ?? false,
    redact: input.redact ?? [],
  };
}
