import type { Database } from '../db/database.ts';
import { sqlState } from '../db/errors.ts';
import { ensureMonthPartition } from './create.ts';
import { PartitionError } from './errors.ts';
import { REQUEST_LOCK_RETRY } from './lock-retry.ts';
import { addMonths, compareMonths, monthOf, partitionName, type PartitionedTable } from './naming.ts';
import { retentionMonthsFor } from './policy.ts';

/**
 * True for PostgreSQL's "no partition of relation <table> found for row". Its SQLSTATE
 * (23514) is shared with CHECK violations; those name a constraint and a partition,
 * whereas routing failures name the partitioned parent and no constraint.
 */
export function isMissingPartitionError(err: unknown, table: PartitionedTable): boolean {
  if (sqlState(err) !== '23514' || typeof err !== 'object' || err === null) return false;
  const e = err as { table?: unknown; constraint?: unknown };
  return e.table === table && (e.constraint === undefined || e.constraint === null);
}

/**
 * Runs a write whose row lands in `table` at `createdAt`; if the month has no partition
 * (the premake job is late, or the row is dated ahead), creates that month and runs the
 * write again, once. So no DEFAULT partition is needed, which keeps DETACH CONCURRENTLY
 * possible and ATTACH scan-free.
 *
 * `fn` must be a complete unit: one `db.query(...)` or a whole `db.transaction(...)`, never
 * a statement inside a transaction that is still open (the failed statement aborted it).
 * Months older than the retention horizon are refused (PARTITION_ARCHIVED): creating one
 * would give retention a new table to archive over the month's existing archive.
 */
export async function withPartitionRetry<T>(fn: () => Promise<T>, db: Database, table: PartitionedTable, createdAt: Date | string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isMissingPartitionError(err, table)) throw err;
    const month = monthOf(typeof createdAt === 'string' ? new Date(createdAt) : createdAt);
    const oldestKept = addMonths(monthOf(new Date()), -retentionMonthsFor(db.config, table));
    if (compareMonths(month, oldestKept) < 0) {
      throw new PartitionError('PARTITION_ARCHIVED', `${partitionName(table, month)} is older than retention; the write is refused`, { cause: err });
    }
    await db.withPrimaryClient((client) => ensureMonthPartition(client, table, month, { retry: REQUEST_LOCK_RETRY }));
    return fn();
  }
}
