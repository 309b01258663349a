import { describe, expect, it } from 'vitest';
import { DbUnavailableError } from '../../src/db/errors.ts';
import { AppError } from '../../src/errors/app-error.ts';
import type { IdempotencyRepository } from '../../src/repositories/idempotency.repository.ts';
import { answerFromRecord, type IdempotencyKey } from '../../src/services/idempotency.ts';

/**
 * answerFromRecord's choice when the key's record cannot be read (no I/O: the repository's
 * look-up is the test's). A refusal that a committed first attempt may have caused (a retry
 * meeting its own username) must not become the final answer while the database cannot say.
 */
const key: IdempotencyKey = { scope: 'anonymous', key: 'register-1234', fingerprint: Buffer.alloc(32, 1) };
const failing = (err: unknown): IdempotencyRepository => ({ find: async () => { throw err; } }) as unknown as IdempotencyRepository;
const missing = { find: async () => undefined } as unknown as IdempotencyRepository;

async function outcome(repo: IdempotencyRepository, refusal: unknown): Promise<string> {
  try {
    await answerFromRecord(repo, key, refusal);
    return 'answered';
  } catch (err) {
    if (err instanceof AppError || err instanceof DbUnavailableError) return err.code;
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : String(err);
  }
}

describe('answerFromRecord when the record cannot be read', () => {
  it('answers 503 (the look-up\'s error) rather than a refusal its own first attempt may have caused', async () => {
    const taken = new AppError('USERNAME_TAKEN', 'taken');
    expect(await outcome(failing(new DbUnavailableError('DB_POOL_TIMEOUT', 'no connection within 3000 ms', 'primary')), taken)).toBe('DB_POOL_TIMEOUT');
    expect(await outcome(failing(Object.assign(new Error('terminating connection'), { code: '57P01' })), taken)).toBe('57P01');
  });

  it('keeps the refusal when the look-up failed for another reason, or found no record', async () => {
    const taken = new AppError('USERNAME_TAKEN', 'taken');
    expect(await outcome(failing(new Error('a bug')), taken)).toBe('USERNAME_TAKEN');
    expect(await outcome(missing, taken)).toBe('USERNAME_TAKEN');
    expect(await outcome(missing, undefined)).toBe('IDEMPOTENCY_KEY_IN_USE');
  });
});
