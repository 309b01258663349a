import { AppError } from '../../errors/app-error.ts';
import type { SendWindow } from '../../repositories/sql-fragments.ts';

/**
 * When a message may still be stored, on PostgreSQL's clock.
 *
 * A message's id, and with it its created_at, is made in the app before the send waits for a
 * group slot, a pool connection, locks and its statement, so it can become visible after a newer
 * message a client already holds. `sync` (src/realtime/sync.ts) reaches back SINCE_MARGIN_MS
 * before that newer message's time to cover this, which only works if nothing is stored later
 * than that. So the insert statements (`chat.send_messages`, `chat.room_send`) store a message
 * only while PostgreSQL's clock_timestamp(), read when the statement checks its row, is at most
 * SEND_MAX_AGE_MS past its created_at and at most SEND_MAX_LEAD_MS before it. Otherwise they store
 * nothing for it, neither the message nor its Idempotency-Key record, and the send is answered
 * 503 SEND_UNTIMELY with Retry-After. The client has seen no id for it yet, and a retry gets a
 * new id, so sending again (with the same key) is safe.
 *
 * One clock judges this: the database's. An app host whose clock runs more than SEND_MAX_LEAD_MS
 * ahead of PostgreSQL's, or SEND_MAX_AGE_MS behind it, has its sends refused. Without the
 * check, its messages would be stored with times that the margin does not cover. After its clock
 * is stepped back by less than 10 s, a host keeps making ids at the old time (uuidv7's rollback
 * allowance), so a step of more than SEND_MAX_LEAD_MS has its sends refused until the clock has
 * caught up.
 *
 * Until 2026-12-07 nothing enforced this. The margin was an estimate of how long a send could
 * take with the default timeouts (about 24 s), and waits it did not count (chained pool waits, a
 * failed group's members run again alone, a stalled disk) could store a message that a client
 * past a newer one never saw.
 */

/** How long after its id's time a message may still pass the insert's check. */
export const SEND_MAX_AGE_MS = 15_000;

/** How far ahead of PostgreSQL's clock a message's id time may be (the app host's clock runs fast). */
export const SEND_MAX_LEAD_MS = 2_000;

/**
 * What `sync`'s margin keeps for what comes after the check: the rest of the statement (it ends
 * within statement_timeout, BGC_STATEMENT_TIMEOUT_MS, 5 s by default) and the moment its commit
 * record is written. The argument is in src/realtime/sync.ts.
 */
export const SEND_AFTER_CHECK_MS = 13_000;

/** The window's bounds, in milliseconds, as the insert statements take them. */
export const SEND_WINDOW: SendWindow = Object.freeze({ maxAgeMs: SEND_MAX_AGE_MS, maxLeadMs: SEND_MAX_LEAD_MS });

/** The answer to a send the statement refused for its time: retryable, nothing was stored. */
export function untimelySend(): AppError {
  return new AppError('SEND_UNTIMELY');
}
