import type pg from 'pg';
import { inLockTimedTransaction, LockRetryExhausted, retryOnLockTimeout, type LockRetryOptions } from '../db/lock-retry.ts';
import { PartitionError } from './errors.ts';

export { isLockRetryable, type LockRetryOptions } from '../db/lock-retry.ts';

/** Maintenance (background): up to ~30 s in total. */
export const MAINTENANCE_LOCK_RETRY: LockRetryOptions = { attempts: 20, firstTimeoutMs: 100, maxTimeoutMs: 1_000, budgetMs: 30_000 };
/**
 * A restore's fit-and-attach: each attempt also re-runs its scans (orphans, the bounds check)
 * before ATTACH asks for its locks, so an attempt on a large month takes seconds, and a 30 s
 * budget left one attempt. Short lock waits as above (a queued ATTACH holds up writers of
 * `users`), more of them, up to 10 minutes: an operator's command, not a request.
 */
export const RESTORE_LOCK_RETRY: LockRetryOptions = { attempts: 120, firstTimeoutMs: 100, maxTimeoutMs: 1_000, budgetMs: 600_000 };
/** A request waiting on an on-demand partition: a couple of seconds at most. */
export const REQUEST_LOCK_RETRY: LockRetryOptions = { attempts: 6, firstTimeoutMs: 100, maxTimeoutMs: 400, budgetMs: 2_000 };

/** The partition tools' name for an exhausted budget. */
function asPartitionError(what: string) {
  return (err: unknown): never => {
    if (err instanceof LockRetryExhausted) {
      throw new PartitionError('PARTITION_LOCK_TIMEOUT', `${what}: no lock after ${err.attempts} attempts in ${err.elapsedMs} ms`, { cause: err.cause });
    }
    throw err;
  };
}

/** Runs `attempt(lockTimeoutMs)` until it succeeds, fails for another reason, or the budget is spent (db/lock-retry.ts). */
export async function withLockRetry<T>(
  what: string,
  attempt: (lockTimeoutMs: number, n: number) => Promise<T>,
  opts: LockRetryOptions = MAINTENANCE_LOCK_RETRY,
): Promise<T> {
  return retryOnLockTimeout(attempt, opts).catch(asPartitionError(what));
}

/** `fn` in a transaction whose lock waits are capped and retried (db/lock-retry.ts). */
export async function withLockedTransaction<T>(
  client: pg.ClientBase, what: string, fn: () => Promise<T>, retry: LockRetryOptions = MAINTENANCE_LOCK_RETRY,
): Promise<T> {
  return inLockTimedTransaction(client, fn, retry).catch(asPartitionError(what));
}
