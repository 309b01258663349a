import type pg from 'pg';
import { sqlState } from '../db/errors.ts';
import { qname } from './archive.sql.ts';
import { runLockedTransaction } from './create.ts';
import { PartitionError } from './errors.ts';
import type { PartitionedTable } from './naming.ts';
import {
  MISSING_COLUMNS_SQL, OWN_FOREIGN_KEYS_SQL, PARENT_FOREIGN_KEYS_SQL, TABLE_COLUMNS_SQL, addColumnsStatement, addForeignKeyNotValidStatement,
  countOrphansSql, settleOrphansSql, validateForeignKeyStatement, type MissingColumn, type ParentForeignKey,
} from './restore.sql.ts';

/** What fitting a restored month to its parent changed. */
export interface FitResult {
  readonly addedColumns: readonly string[];
  /** Rows deleted (or keys cleared) because their parent row was deleted after the month was archived. */
  readonly settledOrphans: number;
}

export async function columnsOf(client: pg.ClientBase, qualified: string): Promise<string[]> {
  return (await client.query<{ name: string }>(TABLE_COLUMNS_SQL, [qualified])).rows.map((r) => r.name);
}

/**
 * Columns the parent gained since the month was archived are added with the parent's type,
 * default and NOT NULL (what ADD COLUMN gave the months that stayed). A column the parent no
 * longer has is not dropped here: the archived table may be the only copy of its values, so
 * the operator decides (docs/OPERATIONS.md).
 */
async function addMissingColumns(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<string[]> {
  const table = qname('public', name);
  const parentColumns = new Set(await columnsOf(client, qname('public', parent)));
  const extra = (await columnsOf(client, table)).filter((c) => !parentColumns.has(c));
  if (extra.length > 0) {
    throw new PartitionError('PARTITION_STATE',
      `${name} has column(s) ${extra.join(', ')} that ${parent} no longer has; drop them from public.${name} (or add them to ${parent}) and run the restore again`);
  }
  const missing = (await client.query<MissingColumn>(MISSING_COLUMNS_SQL, [qname('public', parent), table])).rows;
  if (missing.length > 0) await runLockedTransaction(client, `add columns to ${name}`, [addColumnsStatement(name, missing)]);
  return missing.map((c) => c.name);
}

/** Applies the FK's ON DELETE to rows whose parent row is gone; refuses where the FK has none. */
async function settleOrphans(client: pg.ClientBase, name: string, fk: ParentForeignKey): Promise<number> {
  if (fk.on_delete === 'a' || fk.on_delete === 'r') {
    const n = (await client.query<{ n: number }>(countOrphansSql(name, fk))).rows[0]?.n ?? 0;
    if (n > 0) {
      throw new PartitionError('PARTITION_STATE',
        `${n} row(s) of ${name} reference ${fk.referenced} rows deleted since the month was archived, and ${fk.name} has no ON DELETE action to apply`);
    }
    return 0;
  }
  return (await client.query(settleOrphansSql(name, fk))).rowCount ?? 0;
}

/**
 * The parent's foreign keys, added NOT VALID (milliseconds under SHARE ROW EXCLUSIVE on the
 * referenced table) and validated on the table alone (ROW SHARE on the referenced table:
 * writers continue). ATTACH then adopts these valid constraints instead of checking every row
 * under SHARE ROW EXCLUSIVE on users, conversations and chat_rooms (PostgreSQL 15 adopts only a
 * validated one). From the moment one is added, deleting a referenced row cascades into the
 * month; a row deleted in the instant before it is settled when validation reports it.
 */
async function prevalidateForeignKeys(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<number> {
  const table = qname('public', name);
  const fks = (await client.query<ParentForeignKey>(PARENT_FOREIGN_KEYS_SQL, [qname('public', parent)])).rows;
  let settled = 0;
  for (const fk of fks) {
    const own = (await client.query<{ name: string; definition: string; validated: boolean }>(OWN_FOREIGN_KEYS_SQL, [table])).rows;
    const same = own.find((o) => o.definition.replace(/ NOT VALID$/, '') === fk.definition);
    if (same?.validated) continue;
    settled += await settleOrphans(client, name, fk);
    const constraint = same?.name ?? fk.name;
    if (!same) await runLockedTransaction(client, `add ${fk.name} to ${name}`, [addForeignKeyNotValidStatement(name, fk)]);
    const validate = validateForeignKeyStatement(name, constraint, fk.referenced);
    try {
      await runLockedTransaction(client, `validate ${constraint} on ${name}`, [validate]);
    } catch (err) {
      if (sqlState(err) !== '23503') throw err;
      settled += await settleOrphans(client, name, fk);
      await runLockedTransaction(client, `validate ${constraint} on ${name}`, [validate]);
    }
  }
  return settled;
}

/** Makes the standalone table public.<name> attachable to `parent` without a scan under the parent's locks. */
export async function fitToParent(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<FitResult> {
  const addedColumns = await addMissingColumns(client, parent, name);
  const settledOrphans = await prevalidateForeignKeys(client, parent, name);
  return { addedColumns, settledOrphans };
}
