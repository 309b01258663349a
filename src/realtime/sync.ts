import { maxLsn } from '../db/lsn.ts';
import type { Position, RealtimeRepository } from '../repositories/realtime.repository.ts';
import { MIN_UUID } from '../repositories/sql-fragments.ts';
import { uuidV7Millis } from '../services/ids.ts';
import { SEND_AFTER_CHECK_MS, SEND_MAX_AGE_MS, SEND_MAX_LEAD_MS } from '../services/chat/send-window.ts';
import { events, SYNC_DEFAULT_LIMIT, type SyncRequest } from './protocol.ts';

/**
 * `sync`: what a client missed, from PostgreSQL. The socket only notifies; after any gap
 * (a reconnect, a `resync` event) the client asks for everything after the newest
 * message id it holds and pages with `next_cursor` until it is null.
 *
 * Why `since` reaches back SINCE_MARGIN_MS before the id's time: a message's created_at
 * (its UUIDv7 time) is taken before its INSERT commits, so a message can become visible
 * after a newer one the client already got (two senders). The guarantee that makes a margin
 * enough: a message older than SINCE_MARGIN_MS (30 s) before a message B the client holds is
 * visible before B is, or never stored. Hence `since` misses nothing. Why it holds:
 *  - A send's statement stores its message only if PostgreSQL's clock, read when the statement
 *    checks the row (c), is at most SEND_MAX_AGE_MS (15 s) past its created_at and at most
 *    SEND_MAX_LEAD_MS (2 s) before it (src/services/chat/send-window.ts; chat.send_messages,
 *    chat.room_send). Both sends below were judged by that one clock, so app hosts' clocks
 *    count only through the window: a host more than 2 s fast or 15 s slow gets 503s, never
 *    a message outside the window.
 *  - Let A be stored with A.t < B.t - SINCE_MARGIN_MS. Then c_A <= A.t + 15 s < B.t - 15 s
 *    <= c_B - 13 s: A was checked more than SEND_AFTER_CHECK_MS (13 s) before B.
 *  - A's statement is one auto-committed statement. Its statement_timeout timer started
 *    before c_A, so it ended within BGC_STATEMENT_TIMEOUT_MS (5 s) of c_A. The same backend
 *    then writes its commit record at once: node-postgres sends the Sync that ends the
 *    implicit transaction together with the statement, so nothing waits on the app.
 *    B's commit record is written after c_B, more than 8 s later, so it comes after A's in
 *    the WAL. B becomes visible only once its record is flushed (and, on the HA stack,
 *    acknowledged by the synchronous standby), and that covers A's record. The flush and the
 *    standby are the part of a commit that can take long, and they go in WAL order. A
 *    replica replays the two in that order too.
 * Where it stops holding: a statement_timeout of 0 or above 13 s (the README's
 * BGC_STATEMENT_TIMEOUT_MS row). Also a backend that does not run for more than 8 s between
 * its statement's end and its commit record, or, once that record is durable, for longer than
 * B takes to reach the client and the client's `sync` to arrive.
 * The margin re-sends up to 30 s the client may already hold. Clients keep messages by id, so
 * a repeat is harmless where a gap would not be. `cursor` pages continue exactly, without a
 * margin. Until 2026-12-07 the margin was an estimate (about 24 s of waits with the defaults)
 * that nothing enforced.
 *
 * Consistency: the read goes to a replica only if it has replayed the primary's WAL
 * position as of this request (and the client's `lsn`), so it sees every message that
 * committed before the client's subscription was live, which were never pushed to it.
 */
export const SINCE_MARGIN_MS = SEND_MAX_AGE_MS + SEND_MAX_LEAD_MS + SEND_AFTER_CHECK_MS;
/** Clock skew between app hosts tolerated in a `since` id's time. */
const FUTURE_TOLERANCE_MS = 60_000;

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export class SyncError extends Error {
  constructor(readonly code: 'VALIDATION_FAILED' | 'INVALID_CURSOR', message: string) {
    super(message);
    this.name = 'SyncError';
  }
}

/** A primary WAL-position lookup: when it began, and whether it has answered. */
interface LsnLookup { readonly at: number; readonly value: Promise<string | undefined>; settled: boolean }

export class SyncReader {
  #lookup: LsnLookup | undefined;
  /** The lookup that begins once the one in flight answers, shared by the syncs that arrived meanwhile. */
  #next: Promise<string | undefined> | undefined;

  /**
   * `maxPageBytes`: a page is cut (and continues by `next_cursor`) once its items reach this
   * many bytes. Pages were bounded by count only, and the socket refuses a frame past its
   * send buffer (BGC_REALTIME_MAX_BUFFERED_BYTES) by closing it as a slow consumer: 100
   * missed 4,000-character messages made a page of about 420 KB against 256 KiB, so a
   * healthy client was closed, reconnected, asked the same page and was closed again.
   */
  constructor(private readonly repo: RealtimeRepository, private readonly maxPageBytes = Number.POSITIVE_INFINITY) {}

  /** One page, as a serialised `sync` event. Throws SyncError for a bad request. */
  async page(userId: string, req: SyncRequest): Promise<string> {
    const after = position(req);
    const limit = req.limit ?? SYNC_DEFAULT_LIMIT;
    const ctx = { userId, minLsn: maxLsn(req.lsn, await this.#primaryLsn()) };
    let items: Array<{ id: string; created_at: string }>;
    if (req.room_id) {
      const roomId = req.room_id.toLowerCase();
      const rows = await this.repo.missedRoom(roomId, userId, after, limit, ctx);
      items = rows.map((r) => ({
        id: r.id, room_id: roomId, content: r.content, created_at: r.created_at,
        sender: { id: r.sender_id, username: r.sender_username, display_name: r.sender_display_name },
      }));
    } else {
      items = await this.repo.missedDirect(userId, after, limit, ctx);
    }
    const kept = withinBytes(items, this.maxPageBytes);
    const last = kept[kept.length - 1];
    return events.sync({
      request_id: req.request_id,
      room_id: req.room_id?.toLowerCase() ?? null,
      items: kept,
      next_cursor: (kept.length < items.length || items.length === limit) && last ? `${last.created_at}|${last.id}` : null,
    });
  }

  /**
   * The primary's WAL position, read after this request arrived: a message that committed and
   * was published before the client's subscription was live (so never pushed to it) committed
   * before the request, and a position read later covers it. Concurrent syncs share lookups: one
   * begun before this request may predate such a message, so the request waits for the next one,
   * which begins when that answers and serves every sync that arrived meanwhile (at most two in
   * flight). Before, a lookup begun up to 20 ms before the request was reused.
   */
  #primaryLsn(): Promise<string | undefined> {
    const arrived = performance.now();
    const current = this.#lookup;
    if (current === undefined || current.settled) return this.#begin().value;
    if (current.at >= arrived) return current.value;
    this.#next ??= current.value.then(noop, noop).then(() => {
      this.#next = undefined;
      return this.#begin().value;
    });
    return this.#next;
  }

  #begin(): LsnLookup {
    const lookup: LsnLookup = { at: performance.now(), value: this.repo.primaryLsn(), settled: false };
    const settle = (): void => { lookup.settled = true; };
    lookup.value.then(settle, settle);
    this.#lookup = lookup;
    return lookup;
  }
}

/** The leading items whose JSON fits in `maxBytes` (always at least one, so a page always moves on). */
function withinBytes<T extends object>(items: readonly T[], maxBytes: number): T[] {
  if (!Number.isFinite(maxBytes)) return [...items];
  let bytes = 0;
  const out: T[] = [];
  for (const item of items) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes > maxBytes && out.length > 0) break;
    out.push(item);
  }
  return out;
}

function position(req: SyncRequest): Position {
  if ((req.since === undefined) === (req.cursor === undefined)) {
    throw new SyncError('VALIDATION_FAILED', 'Send exactly one of since (a message id) and cursor (next_cursor of the previous page)');
  }
  if (req.since !== undefined) {
    const ms = uuidV7Millis(req.since.toLowerCase());
    if (ms === undefined) throw new SyncError('VALIDATION_FAILED', 'since must be a message id (a UUIDv7)');
    // Ids are made here, so one from the future names no message (and a year past 9999 is
    // not even a timestamp PostgreSQL accepts; found by test/integration/realtime-frames).
    if (ms > Date.now() + FUTURE_TOLERANCE_MS) throw new SyncError('VALIDATION_FAILED', 'since names no message (its time is in the future)');
    return { ts: new Date(Math.max(0, ms - SINCE_MARGIN_MS)).toISOString(), id: MIN_UUID };
  }
  const m = CURSOR.exec(req.cursor ?? '');
  if (!m || m[1] === undefined || m[2] === undefined || Number.isNaN(Date.parse(m[1]))) throw new SyncError('INVALID_CURSOR', 'cursor is not a next_cursor of a sync answer');
  return { ts: m[1], id: m[2] };
}

function noop(): void { /* a failed lookup still ends its turn */ }
