import type pg from 'pg';
import { partitionName, monthStart, addMonths, ident, type MonthRef, type PartitionedTable } from './naming.ts';
import { RELATION_STATE_SQL } from './catalog.sql.ts';
import { PartitionError } from './errors.ts';
import { sqlState } from '../db/errors.ts';
import { withLockedTransaction, type LockRetryOptions } from './lock-retry.ts';
import type { PlannedStatement } from './types.ts';

export type { PlannedStatement };

/**
 * Tables the parents' foreign keys point at (0001_core_schema.sql). Only used to describe
 * locks: ATTACH clones the parent's FKs and takes SHARE ROW EXCLUSIVE on each of these.
 */
export const REFERENCED_TABLES: Record<PartitionedTable, readonly string[]> = {
  messages: ['chat_rooms', 'conversations', 'users'],
  status_updates: ['users'],
};

export function monthBounds(month: MonthRef): { from: string; to: string } {
  return { from: monthStart(month).toISOString(), to: monthStart(addMonths(month, 1)).toISOString() };
}

/** ADD CHECK → ATTACH → DROP CHECK for a standalone table that already has the rows (or none). */
export function attachStatements(table: PartitionedTable, month: MonthRef): PlannedStatement[] {
  const name = partitionName(table, month);
  const { from, to } = monthBounds(month);
  const check = ident(`${name}_bounds`);
  const fks = REFERENCED_TABLES[table].join(', ');
  return [
    {
      // With this constraint ATTACH can prove the bounds without scanning the table.
      sql: `ALTER TABLE ${ident(name)} ADD CONSTRAINT ${check} CHECK (created_at >= '${from}' AND created_at < '${to}')`,
      locks: `ACCESS EXCLUSIVE on ${name} (not attached yet: no reader or writer uses it)`,
    },
    {
      sql: `ALTER TABLE ${ident(table)} ATTACH PARTITION ${ident(name)} FOR VALUES FROM ('${from}') TO ('${to}')`,
      locks: `SHARE UPDATE EXCLUSIVE on ${table} (reads and writes continue); SHARE ROW EXCLUSIVE on ${fks} (cloned foreign keys)`,
    },
    {
      sql: `ALTER TABLE ${ident(name)} DROP CONSTRAINT ${check}`,
      locks: `ACCESS EXCLUSIVE on ${name} (already held by this transaction)`,
    },
  ];
}

/**
 * How a new month is created, in one transaction. `CREATE TABLE … PARTITION OF` would take
 * ACCESS EXCLUSIVE on the parent and queue every reader behind it; LIKE + ATTACH takes
 * only SHARE UPDATE EXCLUSIVE on the parent (PG ≥ 12), which no DML conflicts with.
 */
export function createStatements(table: PartitionedTable, month: MonthRef): PlannedStatement[] {
  const name = partitionName(table, month);
  return [
    {
      sql: `CREATE TABLE ${ident(name)} (LIKE ${ident(table)} INCLUDING ALL)`,
      locks: `ACCESS SHARE on ${table} (reads its definition); the new table is private until COMMIT`,
    },
    ...attachStatements(table, month),
  ];
}

export type RelationState = 'attached' | 'pending_detach' | 'detached' | 'archived' | 'absent';

/** Where the table of that name is now (catalog truth, not the ledger's). */
export async function relationState(client: pg.ClientBase, name: string): Promise<RelationState> {
  const { rows } = await client.query<{ schema: string; parent: string | null; pending: boolean }>(RELATION_STATE_SQL, [name]);
  const row = rows[0];
  if (!row) return 'absent';
  if (row.schema === 'archive') return 'archived';
  if (row.parent === null) return 'detached';
  return row.pending ? 'pending_detach' : 'attached';
}

/** Runs statements in one transaction with `SET LOCAL lock_timeout`; retried on lock timeouts. */
export async function runLockedTransaction(
  client: pg.ClientBase, what: string, statements: readonly PlannedStatement[], retry?: LockRetryOptions,
): Promise<void> {
  await withLockedTransaction(client, what, async () => {
    for (const s of statements) await client.query(s.sql);
  }, retry);
}

// A racing creator got there first: 42P07 duplicate_table, 23505 on pg_type/pg_class when
// both CREATEs were in flight at once, or 42710 'type "messages_y2027m04" already exists'
// when the other one's row type was already there (the date sweep at 2027-03-01T00:00:00Z:
// a writer's on-demand creation raced the maintenance run's premake).
const DUPLICATE = new Set(['42P07', '23505', '42710']);

/**
 * Creates one monthly partition if it is missing; true if this call created it. Idempotent
 * and safe to race (another instance, the scheduler, an on-demand insert). A table of that
 * name that exists but is not attached is being archived: refusing is the only safe answer.
 */
export async function ensureMonthPartition(
  client: pg.ClientBase, table: PartitionedTable, month: MonthRef, opts: { retry?: LockRetryOptions } = {},
): Promise<boolean> {
  const name = partitionName(table, month);
  const before = await relationState(client, name);
  if (before === 'attached') return false;
  if (before !== 'absent') {
    throw new PartitionError('PARTITION_DETACHED', `${name} exists but is ${before.replace('_', ' ')}; it is in the archive cycle (see bgc partitions status)`);
  }
  try {
    await runLockedTransaction(client, `create ${name}`, createStatements(table, month), opts.retry);
    return true;
  } catch (err) {
    const state = sqlState(err);
    if (state !== undefined && DUPLICATE.has(state) && (await relationState(client, name)) === 'attached') return false;
    throw err;
  }
}

export async function ensureMonthPartitions(client: pg.ClientBase, table: PartitionedTable, months: readonly MonthRef[]): Promise<number> {
  let created = 0;
  for (const m of months) if (await ensureMonthPartition(client, table, m)) created++;
  return created;
}
