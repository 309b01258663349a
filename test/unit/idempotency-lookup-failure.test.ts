import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.ts';
import type { IdempotencyRepository } from '../../src/repositories/idempotency.repository.ts';
import { answerFromRecord, type IdempotencyKey } from '../../src/services/idempotency.ts';

/**
 * A keyed write refused in a way its own committed first attempt could cause (a retry of a
 * register whose answer was lost meets its own email) is answered from the key's record
 * (src/services/idempotency.ts, answerFromRecord). When that lookup cannot reach the
 * database, the refusal must not be the answer: a final 409 would stop the retry that would
 * replay the client's own account. Before, only connection-class failures counted; a
 * statement timeout (57014, what an I/O stall gives) returned the refusal.
 */
const key: IdempotencyKey = { scope: '00000000-0000-0000-0000-000000000000', key: 'retry-after-a-lost-answer', fingerprint: Buffer.from('f') };
const refusal = new AppError('EMAIL_TAKEN', 'This email is already registered');
const lookupFailingWith = (err: unknown) => ({ find: () => Promise.reject(err) }) as unknown as IdempotencyRepository;
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('a keyed refusal whose record lookup fails', () => {
  it('a statement timeout of the lookup answers with that error (503, retry), not the refusal', async () => {
    const timeout = pgError('57014', 'canceling statement due to statement timeout');
    await expect(answerFromRecord(lookupFailingWith(timeout), key, refusal)).rejects.toBe(timeout);
  });

  it('a connection lost during the lookup answers with that error too', async () => {
    const lost = pgError('57P01', 'terminating connection due to administrator command');
    await expect(answerFromRecord(lookupFailingWith(lost), key, refusal)).rejects.toBe(lost);
  });

  it('a lookup failing for a reason of its own keeps the refusal (the write\'s own failure is the answer)', async () => {
    await expect(answerFromRecord(lookupFailingWith(new TypeError('a bug in the lookup')), key, refusal)).rejects.toBe(refusal);
  });
});
