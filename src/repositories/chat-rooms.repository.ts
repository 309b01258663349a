import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import { iso, shownName } from './sql-fragments.ts';

/** Public chat rooms: any signed-in user may read and post in an active room. */

const BUSY_ROOM = `
  SELECT m.room_id, r.created_at
  FROM messages m JOIN chat_rooms r ON r.id = m.room_id
  WHERE m.created_at >= now() - interval '30 days' AND m.room_id IS NOT NULL
  GROUP BY m.room_id, r.created_at ORDER BY count(*) DESC LIMIT 1`;

export const roomQueries = catalog({
  list: defineQuery({
    name: 'chat.list_rooms',
    description: 'GET /api/chat/rooms: active rooms by name, keyset on (name, id) over chat_rooms_active_name_idx.',
    target: 'replica',
    sample: ['', '00000000-0000-0000-0000-000000000000', 51],
    sql: `
SELECT id, name, topic, ${iso('created_at')} AS created_at
FROM chat_rooms
WHERE is_active AND (name, id) > ($1::text, $2::uuid)
ORDER BY name, id
LIMIT $3`,
  }),
  history: defineQuery({
    name: 'chat.room_history',
    description: 'GET /api/chat/rooms/:id/history: one keyset page (created_at DESC, id DESC) inside the time window [$2, $3], with sender summaries; leaves out senders with a block in either direction with the reader ($6), suspended accounts and hidden messages, inside the LIMIT (as realtime.missed_room).',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.room_id, now() - interval '31 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 51 AS lim,
                   (SELECT id FROM users ORDER BY id LIMIT 1) AS reader_id FROM (${BUSY_ROOM}) b`,
    },
    sql: `
SELECT ${iso('r.created_at')} AS container_created_at, r.id IS NOT NULL AS is_member,
       m.id, m.sender_id, u.username AS sender_username, ${shownName('p')} AS sender_display_name,
       m.content, ${iso('m.created_at')} AS created_at
FROM (SELECT 1) AS one
LEFT JOIN chat_rooms r ON r.id = $1 AND r.is_active
LEFT JOIN LATERAL (
  SELECT m.id, m.sender_id, m.content, m.created_at
  FROM messages m
  WHERE r.id IS NOT NULL
    AND m.room_id = $1 AND m.hidden_at IS NULL
    AND m.created_at >= $2::timestamptz AND m.created_at <= $3::timestamptz
    AND (m.created_at, m.id) < ($3::timestamptz, $4::uuid)
    AND EXISTS (SELECT 1 FROM users su WHERE su.id = m.sender_id AND su.is_active) -- not from a suspended account
    AND NOT EXISTS (
      SELECT 1 FROM relationships b
      WHERE b.kind = 'block'
        AND ((b.user_id = $6 AND b.target_id = m.sender_id) OR (b.user_id = m.sender_id AND b.target_id = $6)))
  ORDER BY m.created_at DESC, m.id DESC
  LIMIT $5
) m ON true
LEFT JOIN users u ON u.id = m.sender_id
LEFT JOIN profiles p ON p.user_id = m.sender_id
ORDER BY m.created_at DESC, m.id DESC`,
  }),
  send: defineQuery({
    name: 'chat.room_send',
    description: 'POST /api/chat/rooms/:id/messages: inserts the message if the room exists and is active (one statement).',
    target: 'primary',
    sample: { sql: `SELECT b.room_id, (SELECT id FROM users ORDER BY id LIMIT 1) AS sender_id, gen_random_uuid() AS message_id, 'explain audit' AS content, now() AS created_at FROM (${BUSY_ROOM}) b` },
    sql: `
WITH ins AS (
  INSERT INTO messages (id, room_id, sender_id, content, created_at)
  SELECT $3, r.id, $2, $4, $5 FROM chat_rooms r WHERE r.id = $1 AND r.is_active
  RETURNING id, sender_id, content, created_at
)
SELECT ins.id, ins.sender_id, u.username AS sender_username, ${shownName('p')} AS sender_display_name,
       ins.content, ${iso('ins.created_at')} AS created_at
FROM ins
JOIN users u ON u.id = ins.sender_id
LEFT JOIN profiles p ON p.user_id = ins.sender_id`,
  }),
});

export interface RoomRow { readonly id: string; readonly name: string; readonly topic: string | null; readonly created_at: string }
export interface RoomHistoryRow {
  readonly container_created_at: string | null;
  readonly is_member: boolean;
  readonly id: string | null;
  readonly sender_id: string | null;
  readonly sender_username: string | null;
  readonly sender_display_name: string | null;
  readonly content: string | null;
  readonly created_at: string | null;
}
export interface RoomMessageRow {
  readonly id: string;
  readonly sender_id: string;
  readonly sender_username: string;
  readonly sender_display_name: string | null;
  readonly content: string;
  readonly created_at: string;
}

export class RoomRepository {
  constructor(private readonly db: Database) {}

  async list(after: { name: string; id: string }, limit: number, ctx: QueryContext): Promise<RoomRow[]> {
    return this.db.query<RoomRow>(roomQueries.list, [after.name, after.id, limit], ctx);
  }

  async history(roomId: string, viewerId: string, w: { lowerTs: string; upperTs: string; upperId: string }, limit: number, ctx: QueryContext): Promise<RoomHistoryRow[]> {
    return this.db.query<RoomHistoryRow>(roomQueries.history, [roomId, w.lowerTs, w.upperTs, w.upperId, limit, viewerId], ctx);
  }

  async send(roomId: string, senderId: string, msg: { id: string; content: string; createdAt: string }, q: Tx = this.db): Promise<RoomMessageRow | undefined> {
    const rows = await q.query<RoomMessageRow>(roomQueries.send, [roomId, senderId, msg.id, msg.content, msg.createdAt]);
    return rows[0];
  }
}
