import { ident } from './naming.ts';
import { qname } from './archive.sql.ts';
import type { PlannedStatement } from './types.ts';

/**
 * Catalog queries and statements that make a restored month fit its parent again before
 * ATTACH: the columns added since it was archived, and the rows whose parent row was
 * deleted since (ON DELETE CASCADE never reached them, and ATTACH checks every row).
 */

/** Columns of a table ($1, schema-qualified), in order. */
export const TABLE_COLUMNS_SQL = `
SELECT a.attname AS name
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

/** Columns of the parent ($1) that the standalone table ($2) lacks, with their type, default and NOT NULL. */
export const MISSING_COLUMNS_SQL = `
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
  AND NOT EXISTS (SELECT 1 FROM pg_attribute b
                  WHERE b.attrelid = $2::regclass AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped)
ORDER BY a.attnum`;

/** The parent's ($1) own foreign keys, with their columns in key order and ON DELETE action. */
export const PARENT_FOREIGN_KEYS_SQL = `
SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS definition, c.confrelid::regclass::text AS referenced,
       c.confdeltype AS on_delete,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS referenced_columns
FROM pg_constraint c
WHERE c.conrelid = $1::regclass AND c.contype = 'f' AND c.conparentid = 0
ORDER BY c.conname`;

export interface ParentForeignKey {
  readonly name: string;
  readonly definition: string;
  readonly referenced: string;
  /** pg_constraint.confdeltype: a no action, r restrict, c cascade, n set null, d set default. */
  readonly on_delete: 'a' | 'r' | 'c' | 'n' | 'd';
  readonly columns: readonly string[];
  readonly referenced_columns: readonly string[];
}

export interface MissingColumn {
  readonly name: string;
  readonly type: string;
  readonly not_null: boolean;
  readonly default_expr: string | null;
}

export function addColumnsStatement(table: string, columns: readonly MissingColumn[]): PlannedStatement {
  const adds = columns.map((c) =>
    `ADD COLUMN ${ident(c.name)} ${c.type}${c.default_expr !== null ? ` DEFAULT ${c.default_expr}` : ''}${c.not_null ? ' NOT NULL' : ''}`);
  return {
    sql: `ALTER TABLE ${qname('public', table)} ${adds.join(', ')}`,
    locks: `ACCESS EXCLUSIVE on ${table} (not attached yet: no reader or writer uses it)`,
  };
}

/** Rows of `table` whose key (all of it non-null: MATCH SIMPLE) has no row in the referenced table. */
function orphanCondition(table: string, fk: ParentForeignKey): string {
  const notNull = fk.columns.map((c) => `t.${ident(c)} IS NOT NULL`).join(' AND ');
  const match = fk.columns.map((c, i) => `r.${ident(fk.referenced_columns[i] ?? c)} = t.${ident(c)}`).join(' AND ');
  return `${notNull} AND NOT EXISTS (SELECT 1 FROM ${fk.referenced} r WHERE ${match})`;
}

export function countOrphansSql(table: string, fk: ParentForeignKey): string {
  return `SELECT count(*)::int AS n FROM ${qname('public', table)} t WHERE ${orphanCondition(table, fk)}`;
}

/** What ON DELETE would have done to these rows had the month been attached: delete, or clear the key. */
export function settleOrphansSql(table: string, fk: ParentForeignKey): string {
  const where = orphanCondition(table, fk);
  if (fk.on_delete === 'c') return `DELETE FROM ${qname('public', table)} t WHERE ${where}`;
  const value = fk.on_delete === 'n' ? 'NULL' : 'DEFAULT';
  return `UPDATE ${qname('public', table)} t SET ${fk.columns.map((c) => `${ident(c)} = ${value}`).join(', ')} WHERE ${where}`;
}
