import type pg from 'pg';
import { sqlState } from './errors.ts';

/**
 * DDL on a busy table must never wait in the lock queue for long: a queued ACCESS EXCLUSIVE
 * (or SHARE ROW EXCLUSIVE on users for FK triggers) blocks every later reader and writer behind
 * it. Each attempt runs with a short `lock_timeout` that grows from `firstTimeoutMs` to
 * `maxTimeoutMs`; between attempts we sleep with full jitter so several instances do not retry
 * in lockstep. GitLab's WithLockRetries uses 0.1–1 s × 20; we cap the whole budget by time as
 * well (`budgetMs`). Used by partition maintenance (src/partitions/lock-retry.ts) and migrations.
 */
export interface LockRetryOptions {
  readonly attempts: number;
  readonly firstTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly budgetMs: number;
  /** Told of each attempt that timed out on a lock, before the pause and the next attempt. */
  readonly onLockTimeout?: (attempt: number, lockTimeoutMs: number, elapsedMs: number) => void;
}

/** Every attempt's lock wait timed out: nothing was changed. */
export class LockRetryExhausted extends Error {
  readonly code = 'LOCK_RETRY_EXHAUSTED';
  constructor(readonly attempts: number, readonly elapsedMs: number, cause: unknown) {
    super(`no lock after ${attempts} attempts in ${elapsedMs} ms`, { cause });
    this.name = 'LockRetryExhausted';
  }
}

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

/** Runs `attempt(lockTimeoutMs)` until it succeeds, fails for another reason, or the budget is spent (LockRetryExhausted). */
export async function retryOnLockTimeout<T>(
  attempt: (lockTimeoutMs: number, n: number) => Promise<T>,
  opts: LockRetryOptions,
): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    const timeoutMs = Math.round(Math.min(opts.maxTimeoutMs, opts.firstTimeoutMs * 1.5 ** (n - 1)));
    try {
      return await attempt(timeoutMs, n);
    } catch (err) {
      if (!isLockRetryable(err)) throw err;
      const elapsed = Date.now() - started;
      if (n >= opts.attempts || elapsed >= opts.budgetMs) throw new LockRetryExhausted(n, elapsed, err);
      opts.onLockTimeout?.(n, timeoutMs, elapsed);
      const backoff = Math.min(opts.maxTimeoutMs, 25 * 2 ** n);
      await sleep(Math.min(Math.random() * backoff, Math.max(0, opts.budgetMs - elapsed)));
    }
  }
}

/**
 * Runs `fn` in a transaction whose every lock wait is capped by `SET LOCAL lock_timeout`; on a
 * lock timeout the transaction rolls back (nothing changed) and is tried again.
 */
export async function inLockTimedTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>, opts: LockRetryOptions): Promise<T> {
  return retryOnLockTimeout(async (timeoutMs) => {
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
  }, opts);
}
