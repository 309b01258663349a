import type { Config } from '../../config/index.ts';
import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { RoomMessageToSend, RoomRepository, RoomRow, RoomSendRow } from '../../repositories/chat-rooms.repository.ts';
import { IdempotencyRepository } from '../../repositories/idempotency.repository.ts';
import { classifyDbError, waitedOnUniqueRowOf } from '../../db/errors.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { newTimedId, type TimedId } from '../ids.ts';
import { withPartitionRetry } from '../../partitions/on-demand.ts';
import { answerFromRecord, KEY_TTL_HOURS, retryTransient, type IdempotencyKey, type Outcome } from '../idempotency.ts';
import { noteWrite, pageSize, requireText, type Page, type Written } from '../support.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs } from '../time-window.ts';
import { DEFAULT_HISTORY_PAGE } from './conversations.service.ts';
import type { WriteHooks } from '../hooks.ts';
import { SEND_WINDOW, untimelySend } from './send-window.ts';

export interface RoomMessage {
  readonly id: string;
  readonly room_id: string;
  readonly sender: { readonly id: string; readonly username: string | null; readonly display_name: string | null };
  readonly content: string;
  readonly created_at: string;
}

interface RoomDeps {
  readonly config: Config;
  readonly db: Database;
  readonly logger: Logger | undefined;
  readonly rooms: RoomRepository;
  /** After-commit notifications (real-time delivery); they never fail the write. */
  readonly hooks: WriteHooks;
  /** Makes a send's id and time; newTimedId when not given (tests date sends in the past or future). */
  readonly timedId?: () => TimedId;
}

/** Rooms are busier than one-to-one conversations: a week usually fills a page. */
const ROOM_INITIAL_DAYS = 7;

/** Public chat rooms: every signed-in user may list, read and post in active rooms. */
export class RoomService {
  readonly #keys: IdempotencyRepository;

  constructor(private readonly d: RoomDeps) {
    this.#keys = new IdempotencyRepository(d.db);
  }

  async list(cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<RoomRow>> {
    const n = pageSize(limit);
    const after = decodeCursor('rooms', cursor) ?? { name: '', id: MIN_UUID };
    const rows = await this.d.rooms.list(after, n + 1, ctx);
    const items = rows.slice(0, n);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > n && last ? encodeCursor('rooms', { name: last.name, id: last.id }) : null };
  }

  /** What the viewer may see: no messages from users with a block either way with them, none of suspended accounts, none hidden. */
  async history(roomId: string, viewerId: string, cursor: string | undefined, limit: number | undefined, ctx: QueryContext): Promise<Page<RoomMessage>> {
    const n = pageSize(limit, DEFAULT_HISTORY_PAGE);
    const c = decodeCursor('room_history', cursor);
    if (c && c.c !== roomId) throw new AppError('INVALID_CURSOR', 'This cursor belongs to another room');
    const window = openWindow(c, ROOM_INITIAL_DAYS);
    const rows = await this.d.rooms.history(roomId, viewerId, window, n + 1, ctx);
    const head = rows[0];
    if (!head || !head.is_member || head.container_created_at === null) throw new AppError('NOT_FOUND', 'No such room');
    const fetched = rows.flatMap((r) => (r.id && r.sender_id && r.content !== null && r.created_at
      ? [{ id: r.id, room_id: roomId, sender: { id: r.sender_id, username: r.sender_username, display_name: r.sender_display_name }, content: r.content, created_at: r.created_at }]
      : []));
    const floor = Math.max(Date.parse(head.container_created_at) - DAY_MS, retentionFloorMs(this.d.config.partitions.retentionMonths));
    const next = nextWindowCursor(window, fetched, n, floor);
    return { items: fetched.slice(0, n), next_cursor: next ? encodeCursor('room_history', { c: roomId, ...next }) : null };
  }

  /**
   * One auto-committed statement writes the message and, with a key, its record (chat.room_send),
   * so nothing of the app runs between the insert's check of the send window and its commit
   * (src/services/chat/send-window.ts). A keyed send was BEGIN, insert, record, COMMIT until
   * 2026-12-07, and the app's round trips between those steps were bounded by nothing, so a
   * message could become visible any time after its check. Outside the window nothing is stored:
   * 503 SEND_UNTIMELY, or the answer of an earlier attempt that holds the key.
   */
  async send(roomId: string, senderId: string, content: string, key?: IdempotencyKey): Promise<Written<RoomMessage>> {
    requireText(content, 'content');
    const { id, createdAt } = (this.d.timedId ?? newTimedId)();
    const row = await this.#write(roomId, senderId, { id, content, createdAt, key });
    let sent: Outcome<RoomMessage>;
    if (row.inserted) {
      sent = { value: roomMessage(roomId, row), replayed: false };
    } else {
      const refusal = !row.room_exists ? new AppError('NOT_FOUND', 'No such room') : row.untimely ? untimelySend() : undefined;
      if (!key) throw refusal ?? new Error('chat.room_send wrote nothing for a send without a key');
      // The key's record answers: a committed earlier request with this key (the room may have
      // closed since), or 422/409, as for any keyed write (src/services/idempotency.ts).
      sent = await answerFromRecord<RoomMessage>(this.#keys, key, refusal);
    }
    const lsn = await noteWrite(this.d.db, this.d.logger, senderId);
    const value = sent.value;
    // A replay is announced again: the attempt that wrote the message may not have announced it
    // (its commit's answer was lost). Listeners tell a replay apart (the real-time layer does
    // not push the record's body, which predates any block or hide since).
    await this.d.hooks.roomMessage({ message: value, ...(sent.replayed ? { replayed: true } : {}) }, lsn);
    return { value, lsn, replayed: sent.replayed };
  }

  async #write(roomId: string, senderId: string, msg: RoomMessageToSend): Promise<RoomSendRow> {
    try {
      return await withPartitionRetry(() => retryTransient(() => this.d.rooms.send(roomId, senderId, msg, KEY_TTL_HOURS, SEND_WINDOW)),
        this.d.db, 'messages', msg.createdAt);
    } catch (err) {
      // The key's insert waited on a twin request's record until statement_timeout: the twin is
      // still in flight (as a keyed write's record insert answers, src/services/idempotency.ts).
      if (msg.key && classifyDbError(err) === 'statement_timeout' && waitedOnUniqueRowOf(err, 'idempotency_keys')) {
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress; retry', undefined, { cause: err });
      }
      throw err;
    }
  }
}

/** The message a send wrote, as the API shows it. */
function roomMessage(roomId: string, row: RoomSendRow): RoomMessage {
  return {
    id: row.id, room_id: roomId, content: row.content, created_at: row.created_at,
    sender: { id: row.sender_id, username: row.sender_username, display_name: row.sender_display_name },
  };
}
