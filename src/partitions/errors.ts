/**
 * Typed failures of partition maintenance. Callers branch on `code`, never on the text.
 *  - PARTITION_LOCK_TIMEOUT: a DDL step could not get its lock within the retry budget;
 *    nothing changed, the next run tries again.
 *  - PARTITION_DETACHED: a table with the partition's name exists but is not attached
 *    (it is being archived); it must not be re-attached by the create path.
 *  - PARTITION_ARCHIVED: the month is older than retention; writes for it are refused
 *    rather than creating a partition that the next run would archive over the old archive.
 *  - PARTITION_VERIFY_FAILED: the archive did not reproduce the ledger's numbers; the table
 *    is kept and the next run exports again.
 *  - PARTITION_MISSING / PARTITION_STATE: the catalog disagrees with the ledger; an operator
 *    must look (docs/OPERATIONS.md).
 *  - PARTITION_BUSY: another maintenance run or restore holds the maintenance lock.
 *  - SIMULATED_CRASH: thrown by test hooks to stop a run between two durable steps.
 */
export type PartitionErrorCode =
  | 'PARTITION_LOCK_TIMEOUT'
  | 'PARTITION_DETACHED'
  | 'PARTITION_ARCHIVED'
  | 'PARTITION_VERIFY_FAILED'
  | 'PARTITION_MISSING'
  | 'PARTITION_STATE'
  | 'PARTITION_BUSY'
  | 'SIMULATED_CRASH';

export class PartitionError extends Error {
  readonly code: PartitionErrorCode;
  constructor(code: PartitionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PartitionError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
