/**
 * SQL that turns a copy of the optimized bench database into the naive "before phase 1"
 * schema (baseline-db.ts). Identifiers come from the catalog, quoted with
 * pg.escapeIdentifier where they are spliced in.
 */
export const BASELINE_SQL = {
  createFromTemplate: (target: string, source: string) => `CREATE DATABASE ${target} TEMPLATE ${source} STRATEGY FILE_COPY`,
  sessionsOn: `SELECT string_agg(DISTINCT coalesce(nullif(application_name, ''), 'unnamed'), ', ') AS apps FROM pg_stat_activity WHERE datname = $1`,
  partitionedTables: `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'p' ORDER BY 1`,
  /** The table's own primary key and foreign keys (not the copies on each partition). */
  ownConstraints: `SELECT conname AS name, contype AS type, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE conrelid = $1::regclass AND contype IN ('p', 'f') AND conparentid = 0 ORDER BY contype DESC, conname`,
  /** Foreign keys elsewhere that point at the table. */
  incomingForeignKeys: `SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE confrelid = $1::regclass AND contype = 'f' AND conparentid = 0 AND conrelid <> $1::regclass`,
  userTriggers: `SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgparentid = 0`,
  likeTable: (plain: string, table: string) =>
    `CREATE TABLE ${plain} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)`,
  /** Partitions are regclass text (already quoted as needed). */
  copyPartition: (plain: string, partition: string) => `INSERT INTO ${plain} SELECT * FROM ${partition}`,
  dropPartition: (partition: string) => `DROP TABLE ${partition}`,
  dropTable: (table: string) => `DROP TABLE ${table}`,
  dropConstraint: (table: string, name: string) => `ALTER TABLE ${table} DROP CONSTRAINT ${name}`,
  rename: (plain: string, table: string) => `ALTER TABLE ${plain} RENAME TO ${table}`,
  addConstraint: (table: string, name: string, def: string) => `ALTER TABLE ${table} ADD CONSTRAINT ${name} ${def}`,
  /**
   * Every secondary index of the public schema: not a primary key and not unique. Unique
   * indexes stay: they are integrity rules the naive app had too (one account per email,
   * one session per token hash, one conversation per pair) and ON CONFLICT needs them.
   */
  secondaryIndexes: `SELECT i.indexrelid::regclass::text AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT i.indisprimary AND NOT i.indisunique
      AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) -- a partition's index goes with its parent
    ORDER BY 1`,
  /** Partitions of a partitioned table, oldest first. */
  partitions: `SELECT c.oid::regclass::text AS name FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
    WHERE h.inhparent = $1::regclass ORDER BY c.relname`,
  uniqueIndexes: `SELECT i.indexrelid::regclass::text AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT i.indisprimary AND i.indisunique ORDER BY 1`,
  dropIndex: (name: string) => `DROP INDEX ${name}`,
  vacuumAnalyze: `VACUUM (ANALYZE)`,
} as const;
