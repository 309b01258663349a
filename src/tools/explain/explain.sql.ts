/**
 * The audit's own catalog lookups (maintenance SQL, not app queries, so they are not
 * catalog entries and are not themselves audited). All read system catalogs only.
 */

/**
 * Size and partition facts for the relations a plan names: $1 the audit's keys, $2 the
 * schemas (VERBOSE plans print them; '' resolves through search_path), $3 the names.
 */
export const RELATION_FACTS_SQL = /* SQL */ `/* explain.relation_facts */
SELECT n.key,
       c.oid::regclass::text AS qualified,
       c.reltuples::float8 AS reltuples,
       c.relispartition AS is_partition,
       CASE WHEN c.relispartition THEN pg_partition_root(c.oid)::regclass::text END AS root,
       CASE WHEN c.relispartition THEN
         (SELECT count(*) FROM pg_partition_tree(pg_partition_root(c.oid)) t WHERE t.isleaf)
       END::int AS root_leaves
FROM unnest($1::text[], $2::text[], $3::text[]) AS n(key, schema_name, rel_name)
JOIN pg_class c ON c.oid = to_regclass(
  CASE WHEN n.schema_name = '' THEN quote_ident(n.rel_name) ELSE quote_ident(n.schema_name) || '.' || quote_ident(n.rel_name) END)`;

/**
 * A bounded row count for a relation never analyzed (reltuples = -1): it reads at most
 * limit + 1 rows, enough to decide "above the threshold" without scanning a big table.
 * `qualified` is PostgreSQL's own regclass text, already quoted.
 */
export function boundedCountSql(qualified: string, limit: number): string {
  return `/* explain.bounded_count */ SELECT count(*)::int AS n FROM (SELECT 1 FROM ${qualified} LIMIT ${Math.trunc(limit) + 1}) s`;
}

/** Estimated rows per table (partitions summed into their root), for the docs header. */
export const DATASET_SIZES_SQL = /* SQL */ `/* explain.dataset_sizes */
SELECT COALESCE(pg_partition_root(c.oid), c.oid)::regclass::text AS table_name,
       sum(GREATEST(c.reltuples, 0))::float8 AS rows
FROM pg_class c
WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
GROUP BY 1
ORDER BY 2 DESC, 1`;

export const SERVER_FACTS_SQL = /* SQL */ `/* explain.server_facts */
SELECT current_database() AS database, current_setting('server_version') AS version`;
