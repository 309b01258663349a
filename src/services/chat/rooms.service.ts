import type { Config } from '../../config/index.ts';
import type { Database, QueryContext } from '../../db/database.ts';
import type { Logger } from '../../logging/logger.ts';
import { AppError } from '../../errors/app-error.ts';
import type { RoomRepository, RoomRow } from '../../repositories/chat-rooms.repository.ts';
import { MIN_UUID } from '../../repositories/sql-fragments.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { newTimedId, type TimedId } from '../ids.ts';
import { withPartitionRetry } from '../../partitions/on-demand.ts';
import { runIdempotent, type IdempotencyKey } from '../idempotency.ts';
import { noteWrite, pageSize, requireText, type Page, type Written } from '../support.ts';
import { DAY_MS, nextWindowCursor, openWindow, retentionFloorMs } from '../time-window.ts';
import { DEFAULT_HISTORY_PAGE } from './conversations.service.ts';
import type { WriteHooks } from '../hooks.ts';

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
  constructor(private readonly d: RoomDeps) {}

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

  async send(roomId: string, senderId: string, content: string, key?: IdempotencyKey): Promise<Written<RoomMessage>> {
    requireText(content, 'content');
    const { id, createdAt } = (this.d.timedId ?? newTimedId)();
    const sent = await withPartitionRetry(() => runIdempotent(this.d.db, key, async (q): Promise<RoomMessage> => {
      const row = await this.d.rooms.send(roomId, senderId, { id, content, createdAt }, q);
      if (!row) throw new AppError('NOT_FOUND', 'No such room');
      return {
        id: row.id, room_id: roomId, content: row.content, created_at: row.created_at,
        sender: { id: row.sender_id, username: row.sender_username, display_name: row.sender_display_name },
      };
    }), this.d.db, 'messages', createdAt);
    const lsn = await noteWrite(this.d.db, this.d.logger, senderId);
    const value = sent.value;
    // A replay is announced again: the attempt that wrote the message may not have announced it
    // (its commit's answer was lost). Clients keep messages by id, so twice is harmless.
    await this.d.hooks.roomMessage({ message: value }, lsn);
    return { value, lsn, replayed: sent.replayed };
  }
}
