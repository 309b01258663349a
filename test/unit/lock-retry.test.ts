import { describe, expect, it } from 'vitest';
import { isLockRetryable, withLockRetry, type LockRetryOptions } from '../../src/partitions/lock-retry.ts';
import { PartitionError } from '../../src/partitions/errors.ts';

/**
 * The lock-timeout retry loop of partition DDL (src/partitions/lock-retry.ts) with small
 * timings: what it retries, how its lock_timeout grows, and when it gives up. The real
 * lock waits are in test/integration/partitions-*.test.ts.
 */
const pgError = (code: string) => Object.assign(new Error(`SQLSTATE ${code}`), { code });
const FAST: LockRetryOptions = { attempts: 5, firstTimeoutMs: 10, maxTimeoutMs: 30, budgetMs: 10_000 };

describe('lock retry', () => {
  it('retries only lock timeouts and deadlocks', () => {
    expect(isLockRetryable(pgError('55P03'))).toBe(true);
    expect(isLockRetryable(pgError('40P01'))).toBe(true);
    for (const code of ['57014', '23505', '42P07', '08006']) expect(isLockRetryable(pgError(code)), code).toBe(false);
    expect(isLockRetryable(new Error('lock timeout'))).toBe(false);
  });

  it('grows the lock_timeout by half each attempt up to its cap, and returns the first success', async () => {
    const seen: Array<[number, number]> = [];
    const out = await withLockRetry('test', async (timeoutMs, n) => {
      seen.push([timeoutMs, n]);
      if (n < 4) throw pgError('55P03');
      return 'done';
    }, FAST);
    expect(out).toBe('done');
    expect(seen).toEqual([[10, 1], [15, 2], [23, 3], [30, 4]]);
  });

  it('gives up with PARTITION_LOCK_TIMEOUT after its attempts, keeping the last error as the cause', async () => {
    let calls = 0;
    const err = await withLockRetry('ATTACH messages_y2027m01', async () => { calls++; throw pgError('40P01'); }, FAST).catch((e: unknown) => e);
    expect(calls).toBe(FAST.attempts);
    expect(err).toBeInstanceOf(PartitionError);
    expect((err as PartitionError).code).toBe('PARTITION_LOCK_TIMEOUT');
    expect((err as Error).message).toContain('ATTACH messages_y2027m01');
    expect(((err as Error).cause as { code?: string }).code).toBe('40P01');
  });

  it('gives up when its time budget is spent, even with attempts left', async () => {
    let calls = 0;
    const started = performance.now();
    const err = await withLockRetry('test', async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 30));
      throw pgError('55P03');
    }, { attempts: 1_000, firstTimeoutMs: 10, maxTimeoutMs: 20, budgetMs: 100 }).catch((e: unknown) => e);
    const ms = performance.now() - started;
    console.log(`budget of 100 ms: gave up after ${calls} attempts in ${ms.toFixed(0)} ms`);
    expect((err as PartitionError).code).toBe('PARTITION_LOCK_TIMEOUT');
    expect(calls).toBeLessThan(10);
  });

  it('rethrows any other error at once', async () => {
    let calls = 0;
    const err = await withLockRetry('test', async () => { calls++; throw pgError('23505'); }, FAST).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect((err as { code?: string }).code).toBe('23505');
  });
});
