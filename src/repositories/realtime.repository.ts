import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { systemQueries } from '../db/system-queries.ts';
import type { RoomMessageRow } from './chat-rooms.repository.ts';
import { iso, shownName } from './sql-fragments.ts';

/**
 * What the real-time layer (src/realtime) reads from PostgreSQL. The socket is only a
 * notification path: a client that was away asks `sync` and gets what it missed from
 * here, the same rows the history endpoints return.
 *
 * Both "missed" queries walk forward from a (created_at, id) position in ascending order,
 * over the same indexes as the history pages (walked backwards), and are bounded by a
 * LIMIT; the time bound prunes partitions at executor start-up.
 */

/** A member of a recently active conversation, and a time a minute before its last message. */
const ACTIVE_MEMBER = `
  SELECT cm.user_id, cm.last_message_at - interval '1 minute' AS after_ts,
         '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 101 AS lim
  FROM conversation_members cm
  WHERE cm.last_message_at IS NOT NULL
  ORDER BY cm.last_message_at DESC LIMIT 1`;

const BUSY_ROOM = `
  SELECT m.room_id, max(m.created_at) - interval '1 hour' AS after_ts
  FROM messages m
  WHERE m.created_at >= now() - interval '30 days' AND m.room_id IS NOT NULL
  GROUP BY m.room_id ORDER BY count(*) DESC LIMIT 1`;

export const realtimeQueries = catalog({
  missedDirect: defineQuery({
    name: 'realtime.missed_direct',
    description: "Realtime `sync`: the user's direct messages after a (created_at, id) position, oldest first, across their conversations, leaving out messages a moderator hid and those of suspended accounts. Conversations come from conversation_members_inbox_idx (last_message_at >= the position); each one's messages from messages_conversation_history_idx, walked forward.",
    target: 'replica',
    timeBounded: true,
    sample: { sql: ACTIVE_MEMBER },
    sql: `
SELECT m.id, m.conversation_id, m.sender_id, m.content, ${iso('m.created_at')} AS created_at
FROM conversation_members cm
CROSS JOIN LATERAL (
  SELECT m.id, m.conversation_id, m.sender_id, m.content, m.created_at
  FROM messages m
  WHERE m.conversation_id = cm.conversation_id
    AND m.created_at >= $2::timestamptz
    AND (m.created_at, m.id) > ($2::timestamptz, $3::uuid)
    AND m.hidden_at IS NULL -- hidden by a moderator (migration 0014)
    AND EXISTS (SELECT 1 FROM users su WHERE su.id = m.sender_id AND su.is_active) -- not from a suspended account
  ORDER BY m.created_at, m.id
  LIMIT $4
) m
WHERE cm.user_id = $1 AND cm.last_message_at >= $2::timestamptz
ORDER BY m.created_at, m.id
LIMIT $4`,
  }),
  missedRoom: defineQuery({
    name: 'realtime.missed_room',
    description: "Realtime `sync` of one room: its messages after a (created_at, id) position, oldest first, with sender summaries, leaving out senders with a block in either direction with the reader (blocked users get nothing about each other), messages a moderator hid and those of suspended accounts; nothing of a deactivated room. messages_room_history_idx walked forward.",
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.room_id, b.after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 101 AS lim,
                   (SELECT id FROM users ORDER BY id LIMIT 1) AS reader_id FROM (${BUSY_ROOM}) b`,
    },
    sql: `
SELECT m.id, m.sender_id, u.username AS sender_username, ${shownName('p')} AS sender_display_name,
       m.content, ${iso('m.created_at')} AS created_at
FROM (
  SELECT m.id, m.sender_id, m.content, m.created_at
  FROM messages m
  WHERE m.room_id = $1
    AND m.created_at >= $2::timestamptz
    AND (m.created_at, m.id) > ($2::timestamptz, $3::uuid)
    AND EXISTS (SELECT 1 FROM chat_rooms r WHERE r.id = $1 AND r.is_active) -- a deactivated room's history answers 404 on REST too
    AND m.hidden_at IS NULL -- hidden by a moderator (migration 0014)
    AND EXISTS (SELECT 1 FROM users su WHERE su.id = m.sender_id AND su.is_active) -- not from a suspended account
    AND NOT EXISTS (
      SELECT 1 FROM relationships b
      WHERE b.kind = 'block'
        AND ((b.user_id = $5 AND b.target_id = m.sender_id) OR (b.user_id = m.sender_id AND b.target_id = $5)))
  ORDER BY m.created_at, m.id
  LIMIT $4
) m
JOIN users u ON u.id = m.sender_id
LEFT JOIN profiles p ON p.user_id = m.sender_id
ORDER BY m.created_at, m.id`,
  }),
  conversationPeer: defineQuery({
    name: 'realtime.conversation_peer',
    description: 'The other member of a direct conversation, if $2 is a member (typing indicators, read receipts). One primary-key lookup on conversations.',
    target: 'replica',
    sample: { sql: `SELECT c.id, c.user_low FROM conversations c ORDER BY c.id LIMIT 1` },
    sql: `
SELECT CASE WHEN c.user_low = $2::uuid THEN c.user_high ELSE c.user_low END AS peer_id
FROM conversations c
WHERE c.id = $1 AND $2::uuid IN (c.user_low, c.user_high)`,
  }),
  roomActive: defineQuery({
    name: 'realtime.room_active',
    description: 'Whether a chat room exists and is active (joining a room on the socket). One primary-key lookup.',
    target: 'replica',
    sample: { sql: `SELECT id FROM chat_rooms ORDER BY id LIMIT 1` },
    sql: `SELECT is_active FROM chat_rooms WHERE id = $1`,
  }),
});

export interface MissedDirectRow {
  readonly id: string;
  readonly conversation_id: string;
  readonly sender_id: string;
  readonly content: string;
  readonly created_at: string;
}
/** A room message missed while disconnected: the same row a send returns. */
export type MissedRoomRow = RoomMessageRow;

/** A (created_at, id) keyset position. */
export interface Position { readonly ts: string; readonly id: string }

export class RealtimeRepository {
  constructor(private readonly db: Database) {}

  async missedDirect(userId: string, after: Position, limit: number, ctx: QueryContext): Promise<MissedDirectRow[]> {
    return this.db.query<MissedDirectRow>(realtimeQueries.missedDirect, [userId, after.ts, after.id, limit], ctx);
  }

  async missedRoom(roomId: string, readerId: string, after: Position, limit: number, ctx: QueryContext): Promise<MissedRoomRow[]> {
    return this.db.query<MissedRoomRow>(realtimeQueries.missedRoom, [roomId, after.ts, after.id, limit, readerId], ctx);
  }

  async conversationPeer(conversationId: string, userId: string, ctx: QueryContext): Promise<string | undefined> {
    const rows = await this.db.query<{ peer_id: string }>(realtimeQueries.conversationPeer, [conversationId, userId], ctx);
    return rows[0]?.peer_id;
  }

  async roomActive(roomId: string, ctx: QueryContext): Promise<boolean> {
    const rows = await this.db.query<{ is_active: boolean }>(realtimeQueries.roomActive, [roomId], ctx);
    return rows[0]?.is_active === true;
  }

  /**
   * The primary's current WAL position. A `sync` reads at least up to it, so a lagging
   * replica cannot miss a message that committed before the client's subscription was
   * live (such a message was never pushed to it). Undefined without replicas.
   */
  async primaryLsn(): Promise<string | undefined> {
    if (this.db.router.snapshot().length === 0) return undefined;
    const rows = await this.db.query<{ lsn: string }>(systemQueries.primaryLsn, [], { forcePrimary: true });
    return rows[0]?.lsn;
  }
}
