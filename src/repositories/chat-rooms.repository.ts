import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { iso, outsideSendWindow, shownName, type SendWindow } from './sql-fragments.ts';

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
    description: 'POST /api/chat/rooms/:id/messages: one auto-committed statement. If the room exists and is active and the message\'s created_at is inside the send window on the database clock ($6 ms old, $7 ms ahead at most), inserts the Idempotency-Key record (if any; a live record of an earlier request holds the key and nothing is written) and the message. One row: what happened, and the message as the API shows it.',
    target: 'primary',
    sample: {
      sql: `SELECT b.room_id, (SELECT id FROM users ORDER BY id LIMIT 1) AS sender_id, gen_random_uuid() AS message_id, 'explain audit' AS content, now() AS created_at,
                   15000 AS max_age_ms, 2000 AS max_lead_ms, (SELECT id FROM users ORDER BY id LIMIT 1) AS key_scope, 'explain-audit-room-key' AS key,
                   sha256('explain-audit'::bytea) AS fingerprint, 24 AS ttl_hours FROM (${BUSY_ROOM}) b`,
    },
    sql: `
WITH room AS (
  SELECT r.id, ${outsideSendWindow('$5::timestamptz', '$6', '$7')} AS untimely
  FROM chat_rooms r WHERE r.id = $1 AND r.is_active
), sender AS (
  SELECT u.id, u.username, ${shownName('p')} AS display_name
  FROM users u LEFT JOIN profiles p ON p.user_id = u.id
  WHERE u.id = $2
), keys AS (
  INSERT INTO idempotency_keys AS k (scope, key, fingerprint, response)
  SELECT $8, $9, $10,
         jsonb_build_object('id', $3::uuid, 'room_id', room.id, 'content', $4::text, 'created_at', ${iso('$5::timestamptz')},
                            'sender', jsonb_build_object('id', sender.id, 'username', sender.username, 'display_name', sender.display_name))
  FROM room JOIN sender ON true
  WHERE NOT room.untimely AND $9::text IS NOT NULL
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = EXCLUDED.created_at
    WHERE k.created_at <= now() - make_interval(hours => $11)
  RETURNING true AS recorded
), ins AS (
  INSERT INTO messages (id, room_id, sender_id, content, created_at)
  SELECT $3, room.id, $2, $4, $5 FROM room
  WHERE NOT room.untimely AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM keys))
  RETURNING id
)
SELECT room.id IS NOT NULL AS room_exists, COALESCE(room.untimely, false) AS untimely, ins.id IS NOT NULL AS inserted,
       $3::uuid AS id, $2::uuid AS sender_id, sender.username AS sender_username, sender.display_name AS sender_display_name,
       $4::text AS content, ${iso('$5::timestamptz')} AS created_at
FROM (SELECT 1) AS one
LEFT JOIN room ON true
LEFT JOIN sender ON true
LEFT JOIN ins ON true`,
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

/** What chat.room_send did, and the message as the API shows it (whether or not it was written). */
export interface RoomSendRow {
  readonly room_exists: boolean;
  /** The room exists, but the message's created_at was outside the send window: nothing written. */
  readonly untimely: boolean;
  /** The message (and its key's record) was written; false: refused, or the key was held by an earlier request. */
  readonly inserted: boolean;
  readonly id: string;
  readonly sender_id: string;
  /** Null only if the sender's user row is gone (then the insert fails on its foreign key anyway). */
  readonly sender_username: string | null;
  readonly sender_display_name: string | null;
  readonly content: string;
  /** created_at as the database formats it (microseconds): the response's and the record's. */
  readonly created_at: string;
}

/** A room message to write, with the Idempotency-Key record to write beside it, if the request carried one. */
export interface RoomMessageToSend {
  readonly id: string;
  readonly content: string;
  /** ISO-8601; the id's own time (src/services/ids.ts). */
  readonly createdAt: string;
  readonly key?: { readonly scope: string; readonly key: string; readonly fingerprint: Buffer };
}

export class RoomRepository {
  constructor(private readonly db: Database) {}

  async list(after: { name: string; id: string }, limit: number, ctx: QueryContext): Promise<RoomRow[]> {
    return this.db.query<RoomRow>(roomQueries.list, [after.name, after.id, limit], ctx);
  }

  async history(roomId: string, viewerId: string, w: { lowerTs: string; upperTs: string; upperId: string }, limit: number, ctx: QueryContext): Promise<RoomHistoryRow[]> {
    return this.db.query<RoomHistoryRow>(roomQueries.history, [roomId, w.lowerTs, w.upperTs, w.upperId, limit, viewerId], ctx);
  }

  /**
   * Writes the message and its key's record in one auto-committed statement, if the room is
   * active and `msg.createdAt` is inside `window` on the database's clock; always one row.
   */
  async send(roomId: string, senderId: string, msg: RoomMessageToSend, keyTtlHours: number, window: SendWindow): Promise<RoomSendRow> {
    const rows = await this.db.query<RoomSendRow>(roomQueries.send, [
      roomId, senderId, msg.id, msg.content, msg.createdAt, window.maxAgeMs, window.maxLeadMs,
      msg.key?.scope ?? null, msg.key?.key ?? null, msg.key?.fingerprint ?? null, keyTtlHours,
    ]);
    const row = rows[0];
    if (row === undefined) throw new Error('chat.room_send returned no row');
    return row;
  }
}
