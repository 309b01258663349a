import type pg from 'pg';
import { sqlState } from '../db/errors.ts';
import { qname } from './archive.sql.ts';
import { PartitionError } from './errors.ts';
import { withLockedTransaction, type LockRetryOptions } from './lock-retry.ts';
import type { PartitionedTable } from './naming.ts';
import type { PlannedStatement } from './types.ts';
import {
  MISSING_COLUMNS_SQL, PARENT_FOREIGN_KEYS_SQL, TABLE_COLUMNS_SQL, addColumnsStatement, countOrphansSql, settleOrphansSql,
  type MissingColumn, type ParentForeignKey,
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
async function refuseDroppedColumns(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<void> {
  const parentColumns = new Set(await columnsOf(client, qname('public', parent)));
  const extra = (await columnsOf(client, qname('public', name))).filter((c) => !parentColumns.has(c));
  if (extra.length > 0) {
    throw new PartitionError('PARTITION_STATE',
      `${name} has column(s) ${extra.join(', ')} that ${parent} no longer has; drop them from public.${name} (or add them to ${parent}) and run the restore again`);
  }
}

/** Inside the fitting transaction: adds the parent's columns the month lacks; their names. */
async function addMissingColumns(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<string[]> {
  const missing = (await client.query<MissingColumn>(MISSING_COLUMNS_SQL, [qname('public', parent), qname('public', name)])).rows;
  if (missing.length > 0) await client.query(addColumnsStatement(name, missing).sql);
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
 * Applies each of the parent's foreign keys' ON DELETE to the rows whose parent row is gone,
 * so ATTACH (which checks every row against every FK) does not fail with 23503.
 *
 * The FKs are not added NOT VALID and validated beforehand to spare ATTACH its check: on
 * PostgreSQL 15 ATTACH then adopts them and drops their own ON DELETE triggers from the
 * referenced tables, which takes ACCESS EXCLUSIVE on `users`, `conversations` and
 * `chat_rooms`. Tried: that blocked every read of them for the instant, and deadlocked with
 * sends (which hold ROW SHARE on `conversations` from their FK check and then ask ROW
 * EXCLUSIVE for the last-message update) in test/integration/partitions-writers.test.ts.
 */
async function settleAllOrphans(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<number> {
  const fks = (await client.query<ParentForeignKey>(PARENT_FOREIGN_KEYS_SQL, [qname('public', parent)])).rows;
  let settled = 0;
  for (const fk of fks) settled += await settleOrphans(client, name, fk);
  return settled;
}

/**
 * Makes the standalone table public.<name> attachable to `parent`, then attaches it, in ONE
 * transaction: the added columns, the settled orphans and the ATTACH commit together or not
 * at all. Before, the columns and the orphans' deletes committed on their own; an ATTACH that
 * then failed (a lock timeout on `users`, say) left a table that no longer matched the
 * ledger's count and checksum, and every re-run refused it. A parent row deleted between the
 * settling and the ATTACH fails the ATTACH with 23503: the transaction rolls back and runs
 * again, a few times.
 */
export async function fitAndAttach(
  client: pg.ClientBase, parent: PartitionedTable, name: string, attach: readonly PlannedStatement[], retry?: LockRetryOptions,
): Promise<FitResult> {
  await refuseDroppedColumns(client, parent, name);
  for (let attempt = 1; ; attempt++) {
    try {
      return await withLockedTransaction(client, `fit and attach ${name}`, async () => {
        const addedColumns = await addMissingColumns(client, parent, name);
        const settledOrphans = await settleAllOrphans(client, parent, name);
        for (const s of attach) await client.query(s.sql);
        return { addedColumns, settledOrphans };
      }, retry);
    } catch (err) {
      if (sqlState(err) !== '23503' || attempt >= ATTACH_ATTEMPTS) throw err;
    }
  }
}

const ATTACH_ATTEMPTS = 3;
