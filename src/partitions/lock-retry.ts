import type pg from 'pg';
import { sqlState } from '../db/errors.ts';
import { PartitionError } from './errors.ts';

/**
 * DDL on a busy table must never wait in the lock queue for long: a queued ACCESS
 * EXCLUSIVE (or SHARE ROW EXCLUSIVE on users for FK triggers) blocks every later reader
 * and writer behind it. Each attempt runs with a short `lock_timeout` that grows from
 * `firstTimeoutMs` to `maxTimeoutMs`; between attempts we sleep with full jitter so
 * several instances do not retry in lockstep. GitLab's WithPartitioningLockRetries uses
 * 0.1–1 s × 20; we cap the whole budget by time as well (`budgetMs`).
 */
export interface LockRetryOptions {
  readonly attempts: number;
  readonly firstTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly budgetMs: number;
}

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

// SQLSTATEs worth another attempt: nothing was changed, someone else held the lock.
const RETRYABLE = new Set([
  '55P03', // lock_not_available (our lock_timeout fired)
  '40P01', // deadlock_detected (we were chosen as the victim)
]);

export function isLockRetryable(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && RETRYABLE.has(state);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `attempt(lockTimeoutMs)` until it succeeds, fails for another reason, or the budget is spent. */
export async function withLockRetry<T>(
  what: string,
  attempt: (lockTimeoutMs: number, n: number) => Promise<T>,
  opts: LockRetryOptions = MAINTENANCE_LOCK_RETRY,
): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    const timeoutMs = Math.round(Math.min(opts.maxTimeoutMs, opts.firstTimeoutMs * 1.5 ** (n - 1)));
    try {
      return await attempt(timeoutMs, n);
    } catch (err) {
      if (!isLockRetryable(err)) throw err;
      const elapsed = Date.now() - started;
      if (n >= opts.attempts || elapsed >= opts.budgetMs) {
        throw new PartitionError('PARTITION_LOCK_TIMEOUT', `${what}: no lock after ${n} attempts in ${elapsed} ms`, { cause: err });
      }
      const backoff = Math.min(opts.maxTimeoutMs, 25 * 2 ** n);
      await sleep(Math.min(Math.random() * backoff, Math.max(0, opts.budgetMs - elapsed)));
    }
  }
}

/**
 * Runs `fn` in a transaction whose every lock wait is capped by `SET LOCAL lock_timeout`;
 * on a lock timeout the transaction rolls back (nothing changed) and is tried again.
 */
export async function withLockedTransaction<T>(
  client: pg.ClientBase, what: string, fn: () => Promise<T>, retry: LockRetryOptions = MAINTENANCE_LOCK_RETRY,
): Promise<T> {
  return withLockRetry(what, async (timeoutMs) => {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL lock_timeout = ${Math.round(timeoutMs)}`);
      const out = await fn();
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }, retry);
}
