import type { Database, Tx } from '../db/database.ts';
import { dbErrorCode, isPoolAcquireTimeout, isQueryReadTimeout, sqlState } from '../db/errors.ts';
import { AppError } from '../errors/app-error.ts';
import { IdempotencyRepository } from '../repositories/idempotency.repository.ts';

/**
 * Idempotent creating writes (issue 16; the IETF Idempotency-Key draft as Stripe applies it).
 *
 * With a key, the write and the key's record (fingerprint + response body) commit in ONE
 * transaction, so the record exists if and only if the write does:
 *   BEGIN; <the write>; INSERT key ... ON CONFLICT; COMMIT
 * - First use: the record is inserted and commits with the write.
 * - Retry after the first committed (a 503, a lost connection, a crash): the write runs
 *   again, the key insert meets the live record, the transaction rolls back (the second
 *   write never becomes visible), and the stored response is returned ("replayed").
 * - Same key, other request (fingerprint differs): rolled back the same way, 422.
 * - A concurrent duplicate still in flight: its key insert WAITS on the primary key until
 *   the first transaction ends (milliseconds: the record is the last statement before
 *   COMMIT), then replays the first response, or proceeds if the first rolled back. Only
 *   if that wait outlasts the statement timeout does it answer 409 IDEMPOTENCY_KEY_IN_USE.
 * - A write that fails (4xx) records nothing: a retry with the same key runs again.
 * Without a key the write runs exactly as before (one auto-committed statement).
 *
 * Replay needs no read before the write: the record is found only when the insert
 * conflicts or the write fails in a way a committed twin could cause (below), so a first
 * use costs BEGIN + INSERT + COMMIT on top of the write and nothing else.
 */

/**
 * How long a key is remembered, from its statement's start (`created_at` is `now()`). Stripe
 * keeps 24 h; the draft leaves it to the server. 25: the answer leaves after the statement
 * began (lock waits up to the statement timeout, the commit, a send group's window), so a
 * record kept exactly 24 h from then could expire before 24 h had passed for the client.
 */
export const KEY_TTL_HOURS = 25;

/** True when the database could not answer (the API's 503s): a lookup that failed so proves nothing. */
function couldNotAsk(err: unknown): boolean {
  return dbErrorCode(err) !== undefined || isPoolAcquireTimeout(err) || isQueryReadTimeout(err);
}

/** Scope of requests without a user (register): one shared space, so keys must be random. */
export const ANONYMOUS_SCOPE = '00000000-0000-0000-0000-000000000000';

export interface IdempotencyKey {
  /** The acting user's id, or ANONYMOUS_SCOPE. */
  readonly scope: string;
  readonly key: string;
  /** sha256 of what makes two requests "the same" (src/http/idempotency.ts). */
  readonly fingerprint: Buffer;
}

export interface Outcome<T> {
  readonly value: T;
  /** True when `value` is the stored response of an earlier request with this key. */
  readonly replayed: boolean;
}

/** The key insert met a live record: some earlier request with this key committed. */
class KeyHeld extends Error {
  constructor() { super('idempotency key already recorded'); this.name = 'KeyHeld'; }
}

/**
 * Runs `write` (given the executor to send its statements through) under `key`, and runs
 * it again (at most twice) after a deadlock or serialization failure, which roll it back.
 * `write` must be a complete unit: every statement through `q`, no commit-time effects
 * (noteWrite, hooks) inside it; those belong after this returns. Its value must be JSON
 * (it is stored and replayed as the response body).
 */
export async function runIdempotent<T>(db: Database, key: IdempotencyKey | undefined, write: (q: Tx) => Promise<T>): Promise<Outcome<T>> {
  return retryTransient(() => runOnce(db, key, write));
}

/**
 * Runs `unit` again (at most twice, after a short random pause) when it fails with a
 * deadlock or serialization failure. `unit` must be a whole transaction (or one
 * auto-committed statement): PostgreSQL rolled it back, so nothing of the attempt remains.
 */
export async function retryTransient<T>(unit: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await unit();
    } catch (err) {
      if (attempt >= TRANSIENT_RETRIES || !TRANSIENT.has(sqlState(err) ?? '')) throw err;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * (attempt + 1)));
    }
  }
}

/**
 * SQLSTATEs after which the whole write may simply run again: PostgreSQL rolled the
 * statement (and our transaction) back, so nothing of the attempt remains.
 */
const TRANSIENT = new Set([
  '40P01', // deadlock_detected
  '40001', // serialization_failure
]);
const TRANSIENT_RETRIES = 2;

async function runOnce<T>(db: Database, key: IdempotencyKey | undefined, write: (q: Tx) => Promise<T>): Promise<Outcome<T>> {
  if (!key) return { value: await write(db), replayed: false };
  const repo = new IdempotencyRepository(db);
  try {
    const value = await db.transaction(async (tx) => {
      const out = await write(tx);
      if (!(await record(repo, tx, key, out))) throw new KeyHeld();
      return out;
    });
    return { value, replayed: false };
  } catch (err) {
    if (!mayHaveTwin(err)) throw err;
    return answerFromRecord<T>(repo, key, err instanceof KeyHeld ? undefined : err);
  }
}

/**
 * The answer to a keyed write that did not write: the stored response of the earlier
 * request that holds the key (replayed), 422 if that request was a different one.
 * `refusal` is the write's own failure (a 4xx a committed twin may have caused), or
 * undefined when the key insert met a live record: then a record must exist, and a
 * missing one (or a failed lookup) means a twin is still in flight (409).
 * Exported for the grouped message sends (src/services/chat/direct-message-sender.ts).
 */
export async function answerFromRecord<T>(repo: IdempotencyRepository, key: IdempotencyKey, refusal: unknown): Promise<Outcome<T>> {
  const held = refusal === undefined;
  const stored = await repo.find(key, KEY_TTL_HOURS).catch((lookupErr: unknown) => {
    // Only the conflict itself obliges us to answer from the record; any other failure
    // keeps its own error (the lookup's failure would hide what went wrong), unless the
    // database could not be asked: the refusal may be the client's own committed first
    // attempt (a retry after a lost answer meets its own username), and a final 4xx would
    // stop the retry that replays it. Unknown, so 503 and retry. "Could not be asked" is
    // every database condition the API answers 503 for, a statement timeout included: the
    // I/O stall that loses an answer is when the retry's lookup times out too.
    if (held || couldNotAsk(lookupErr)) throw lookupErr;
    return undefined;
  });
  if (!stored) {
    if (held) throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress; retry', undefined, { cause: new KeyHeld() });
    throw refusal;
  }
  if (!stored.fingerprint.equals(key.fingerprint)) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request');
  }
  // The stored body is the JSON of an earlier `T` from this same call site.
  return { value: stored.response as T, replayed: true };
}

async function record<T>(repo: IdempotencyRepository, tx: Tx, key: IdempotencyKey, value: T): Promise<boolean> {
  try {
    return await repo.record(tx, key, value, KEY_TTL_HOURS);
  } catch (err) {
    // 57014 query_canceled (statement_timeout) / 55P03 lock_not_available: we waited on the
    // primary key for a twin transaction that did not finish in time.
    const state = sqlState(err);
    if (state === '57014' || state === '55P03') {
      throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress; retry', undefined, { cause: err });
    }
    throw err;
  }
}

/**
 * Failures that a committed request with the same key can cause, so the record decides
 * the answer: the conflict on the key itself, a domain refusal (a username now taken by
 * our own first attempt, a friend request already pending), and unique violations and
 * deadlocks between the twins. Outages (connection errors, pool timeouts) are not
 * looked up: the lookup would fail or wait the same way, and the client's retry will
 * find the record if the write committed.
 */
function mayHaveTwin(err: unknown): boolean {
  if (err instanceof KeyHeld || err instanceof AppError) return true;
  const state = sqlState(err);
  return state === '23505' || (state !== undefined && TRANSIENT.has(state)); // unique_violation, or a lost race the retry will repeat
}
