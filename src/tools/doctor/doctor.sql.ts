/**
 * Catalog queries of `bgc doctor`. Maintenance SQL run on chosen nodes (the primary, or
 * each replica in turn), so plain statements rather than routed catalog entries. "User
 * schemas" excludes the system schemas, temporary schemas and extension-owned objects.
 */
const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const NOT_EXTENSION_OWNED = (oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

export const DOCTOR_SQL = {
  /**
   * Foreign keys with no usable index leading with their columns. A usable index is valid,
   * not partial (or partial only on "the one FK column IS NOT NULL", which every check
   * `column = value` implies: migrations/0019), and its first k columns are the k FK columns
   * (any order). Only top-level
   * constraints: the copies PostgreSQL clones onto partitions (conparentid <> 0) are
   * covered by the parent's partitioned index, which pg_index lists on the parent too.
   */
  unindexedForeignKeys: `/* doctor.unindexed_foreign_keys */
    SELECT k.conrelid::regclass::text AS table_name, k.conname AS constraint_name,
           (SELECT string_agg(a.attname, ', ' ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) AS columns
      FROM pg_constraint k
      JOIN pg_class t ON t.oid = k.conrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE k.contype = 'f' AND k.conparentid = 0 AND ${USER_SCHEMA}
       AND NOT EXISTS (
         SELECT 1 FROM pg_index i
          WHERE i.indrelid = k.conrelid AND i.indisvalid
            AND (i.indpred IS NULL OR (cardinality(k.conkey) = 1 AND pg_get_expr(i.indpred, i.indrelid) =
                 format('(%I IS NOT NULL)', (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1]))))
            AND i.indnkeyatts >= cardinality(k.conkey)
            AND (SELECT array_agg(x ORDER BY x) FROM unnest((i.indkey::int2[])[0:cardinality(k.conkey) - 1]) x)
              = (SELECT array_agg(x ORDER BY x) FROM unnest(k.conkey) x))
     ORDER BY 1, 2`,

  invalidIndexes: `/* doctor.invalid_indexes */
    SELECT i.indexrelid::regclass::text AS index_name, i.indrelid::regclass::text AS table_name, i.indisready AS ready
      FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE NOT i.indisvalid AND ${USER_SCHEMA}
     ORDER BY 1`,

  /** Same table, access method, columns, operator classes, collations, options, expressions and predicate. */
  duplicateIndexes: `/* doctor.duplicate_indexes */
    SELECT i.indrelid::regclass::text AS table_name,
           array_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid::regclass::text) AS indexes
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE ${USER_SCHEMA}
     GROUP BY i.indrelid, ic.relam, i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text,
              coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
    HAVING count(*) > 1
     ORDER BY 1`,

  /**
   * Index expressions and predicates that call an SQL function whose body is a string
   * (parsed at each call under the caller's search_path) and that sets no search_path of its
   * own. Autovacuum evaluates them with search_path = pg_catalog, so a body naming anything
   * outside pg_catalog unqualified fails every automatic ANALYZE of the table (earthdistance's
   * ll_to_earth under profiles_location_gist did: migrations/0029). A body written as
   * `RETURN ...` or `BEGIN ATOMIC` (prosqlbody) is resolved at creation and safe. pg_depend
   * records each function an index expression or predicate calls.
   */
  indexFunctionsBySearchPath: `/* doctor.index_functions_by_search_path */
    SELECT DISTINCT i.indexrelid::regclass::text AS index_name, i.indrelid::regclass::text AS table_name,
           p.oid::regprocedure::text AS function_name
      FROM pg_index i
      JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refclassid = 'pg_proc'::regclass
      JOIN pg_proc p ON p.oid = d.refobjid
      JOIN pg_language l ON l.oid = p.prolang
     WHERE ${USER_SCHEMA} AND l.lanname = 'sql' AND p.prosqlbody IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}'::text[])) AS c(setting) WHERE c.setting LIKE 'search\\_path=%')
     ORDER BY 1, 3`,

  tablesWithoutPrimaryKey: `/* doctor.tables_without_primary_key */
    SELECT t.oid::regclass::text AS table_name
      FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE t.relkind IN ('r', 'p') AND t.relpersistence <> 't' AND ${USER_SCHEMA} AND ${NOT_EXTENSION_OWNED('t.oid')}
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'p')
     ORDER BY 1`,

  /** How the time-series tables are stored: relkind 'p' and range strategy expected. */
  partitioning: `/* doctor.partitioning */
    SELECT want.name AS table_name, t.relkind::text AS relkind, p.partstrat::text AS strategy
      FROM unnest($1::text[]) AS want(name)
      LEFT JOIN pg_class t ON t.relname = want.name AND t.relnamespace = 'public'::regnamespace
      LEFT JOIN pg_partitioned_table p ON p.partrelid = t.oid
     ORDER BY 1`,

  pgStatStatementsInstalled: `/* doctor.pg_stat_statements_installed */
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS installed`,

  /** Any node: what it preloads, and whether it is a standby. */
  nodeState: `/* doctor.node_state */
    SELECT current_setting('shared_preload_libraries') AS preload, pg_is_in_recovery() AS in_recovery,
           (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status`,

  /** Primary: the standbys connected to it and their state. */
  replication: `/* doctor.replication */
    SELECT coalesce(application_name, '') AS name, coalesce(client_addr::text, 'local') AS client, state
      FROM pg_stat_replication ORDER BY 1`,
} as const;
