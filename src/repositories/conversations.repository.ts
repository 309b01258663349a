import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import { iso, shownName } from './sql-fragments.ts';

/**
 * Direct conversations. Read state is denormalised so the inbox never reads messages:
 * conversations.last_message_id/_at/_sender_id/_content and conversation_members.unread_count/
 * last_read_at/last_message_at are kept by the send statement, in the same statement as the
 * insert (chat.send_messages, src/repositories/message-batch.repository.ts: sends are grouped);
 * a moderator hiding the last message clears its sender and content, and hiding a message the
 * recipient has not read takes it off their unread_count (moderation.resolve).
 */

/** A busy conversation (most messages in the last 30 days) and one of its members. */
const BUSY_CONVERSATION = `
  SELECT m.conversation_id, c.user_low AS member_id, c.created_at
  FROM messages m JOIN conversations c ON c.id = m.conversation_id
  WHERE m.created_at >= now() - interval '30 days' AND m.conversation_id IS NOT NULL
  GROUP BY m.conversation_id, c.user_low, c.created_at ORDER BY count(*) DESC LIMIT 1`;

export const conversationQueries = catalog({
  open: defineQuery({
    name: 'chat.open_conversation',
    description: 'POST /api/chat/conversations: returns the pair\'s conversation, creating it and both member rows if needed, unless a block stands between them. One statement; conversations_pair_key makes concurrent opens converge.',
    target: 'primary',
    sample: { sql: `SELECT r.user_id, r.target_id, gen_random_uuid() AS new_id FROM relationships r WHERE r.kind = 'friend' ORDER BY r.user_id LIMIT 1` },
    sql: `
WITH target AS (SELECT id FROM users WHERE id = $2 AND is_active),
blocked AS (
  SELECT 1 FROM relationships b
  WHERE b.kind = 'block' AND ((b.user_id = $1 AND b.target_id = $2) OR (b.user_id = $2 AND b.target_id = $1))
),
existing AS (
  SELECT id, created_at FROM conversations
  WHERE user_low = LEAST($1::uuid, $2::uuid) AND user_high = GREATEST($1::uuid, $2::uuid)
),
ins AS (
  INSERT INTO conversations (id, user_low, user_high)
  SELECT $3, LEAST($1::uuid, $2::uuid), GREATEST($1::uuid, $2::uuid) FROM target
  WHERE NOT EXISTS (SELECT 1 FROM blocked) AND NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT (user_low, user_high) DO NOTHING
  RETURNING id, created_at
),
members AS (
  INSERT INTO conversation_members (conversation_id, user_id)
  SELECT ins.id, m.user_id FROM ins CROSS JOIN (VALUES ($1::uuid), ($2::uuid)) AS m(user_id)
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       EXISTS (SELECT 1 FROM blocked) AS blocked,
       EXISTS (SELECT 1 FROM ins) AS created,
       COALESCE((SELECT id FROM ins), (SELECT id FROM existing)) AS id,
       ${iso('COALESCE((SELECT created_at FROM ins), (SELECT created_at FROM existing))')} AS created_at`,
  }),
  inbox: defineQuery({
    name: 'chat.inbox',
    description: "GET /api/chat/conversations: the user's conversations with a message, newest activity first, each with the other user, unread count (0 while the other user is suspended) and last message; reads no messages (the last message's id, time, sender and content are kept on conversations, migration 0018); keyset on (last_message_at DESC, conversation_id) over conversation_members_inbox_idx, stopping after $4 rows; then one hash-index probe per row into conversations, users and profiles (migration 0028: 2 buffers a probe instead of a 3-level B-tree descent and the heap page). The first page passes ('infinity', min uuid).",
    target: 'replica',
    sample: { sql: `SELECT cm.user_id, 'infinity'::timestamptz AS after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 21 AS lim FROM conversation_members cm GROUP BY cm.user_id ORDER BY count(*) DESC LIMIT 1` },
    sql: `
SELECT cm.conversation_id AS id,
       -- unread_count counts the other member's messages only, and the history shows none of a
       -- suspended account's: 0 while they are suspended. The column is kept (a hide still
       -- takes its message off it), so it is right again if the account is reinstated.
       CASE WHEN u.is_active THEN cm.unread_count ELSE 0 END AS unread_count, ${iso('cm.last_read_at')} AS last_read_at,
       ${iso('cm.last_message_at')} AS last_message_at,
       o.other_id, u.username AS other_username, ${shownName('p')} AS other_display_name,
       CASE WHEN s.shown THEN c.last_message_id END AS message_id,
       CASE WHEN s.shown THEN c.last_message_sender_id END AS message_sender_id,
       CASE WHEN s.shown THEN c.last_message_content END AS message_content,
       CASE WHEN s.shown THEN ${iso('c.last_message_at')} END AS message_created_at
FROM conversation_members cm
JOIN conversations c ON c.id = cm.conversation_id
CROSS JOIN LATERAL (SELECT CASE WHEN c.user_low = cm.user_id THEN c.user_high ELSE c.user_low END AS other_id) o
JOIN users u ON u.id = o.other_id
LEFT JOIN profiles p ON p.user_id = o.other_id
-- The last message is shown unless a moderator hid it (its content is then NULL,
-- moderation.resolve) or its sender is the other member and that account is suspended (a
-- suspended account's content shows nowhere; before, the inbox kept showing it).
CROSS JOIN LATERAL (SELECT c.last_message_content IS NOT NULL AND (c.last_message_sender_id = cm.user_id OR u.is_active) AS shown) s
WHERE cm.user_id = $1
  AND cm.last_message_at IS NOT NULL
  AND cm.last_message_at <= $2::timestamptz
  AND (cm.last_message_at < $2::timestamptz OR cm.conversation_id > $3::uuid)
ORDER BY cm.last_message_at DESC NULLS LAST, cm.conversation_id
LIMIT $4`,
  }),
  history: defineQuery({
    name: 'chat.conversation_history',
    description: 'GET /api/chat/conversations/:id/history: membership check plus one keyset page (created_at DESC, id DESC) inside a time window [$3, $4], so only the window\'s partitions are scanned.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.conversation_id, b.member_id, now() - interval '31 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 51 AS lim FROM (${BUSY_CONVERSATION}) b`,
    },
    sql: `
SELECT ${iso('c.created_at')} AS container_created_at, c.is_member,
       m.id, m.sender_id, m.content, ${iso('m.created_at')} AS created_at
FROM (
  SELECT (SELECT created_at FROM conversations WHERE id = $1) AS created_at,
         EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2) AS is_member
) c
LEFT JOIN LATERAL (
  SELECT m.id, m.sender_id, m.content, m.created_at
  FROM messages m
  WHERE c.is_member
    AND m.conversation_id = $1 AND m.hidden_at IS NULL
    AND m.created_at >= $3::timestamptz AND m.created_at <= $4::timestamptz
    AND (m.created_at, m.id) < ($4::timestamptz, $5::uuid)
    -- Not from a suspended member, as sync: the (at most two) suspended members found once, not a probe per message.
    AND m.sender_id <> ALL (ARRAY(SELECT cm.user_id FROM conversation_members cm JOIN users su ON su.id = cm.user_id AND NOT su.is_active
                                  WHERE cm.conversation_id = $1))
  ORDER BY m.created_at DESC, m.id DESC
  LIMIT $6
) m ON true
ORDER BY m.created_at DESC, m.id DESC`,
  }),
  markRead: defineQuery({
    name: 'chat.mark_read',
    description: 'POST /api/chat/conversations/:id/read: unread_count to 0 and last_read_at to the last message, and the other member (for the read receipt); writes only when something changes. When there is something to mark, the conversation row is locked (FOR SHARE) first, as a send locks it, so a send committing meanwhile is waited for.',
    target: 'primary',
    sample: { sql: `SELECT b.conversation_id, b.member_id FROM (${BUSY_CONVERSATION}) b` },
    sql: `
WITH conv AS (
  -- When there is something to mark, the conversation row is locked first, as a send locks
  -- it (message-batch.repository.ts): a send committing meanwhile is waited for and its
  -- last_message_at read, so the count and last_read_at below agree. Without the lock the
  -- member row was re-read after such a send (unread + 1) but this row was not: the new
  -- message counted as read while last_read_at stayed before it.
  SELECT c.id, c.last_message_at
  FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
  WHERE c.id = $1 AND (m.unread_count > 0 OR m.last_read_at < c.last_message_at)
  FOR SHARE OF c
), upd AS (
  UPDATE conversation_members cm
  SET unread_count = 0, last_read_at = GREATEST(cm.last_read_at, c.last_message_at)
  FROM conv c
  WHERE cm.conversation_id = $1 AND cm.user_id = $2 AND c.id = cm.conversation_id
    AND (cm.unread_count > 0 OR cm.last_read_at < c.last_message_at)
  RETURNING cm.last_read_at
), cur AS (
  SELECT cm.last_read_at FROM conversation_members cm WHERE cm.conversation_id = $1 AND cm.user_id = $2
)
SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1) AS container_exists,
       EXISTS (SELECT 1 FROM cur) AS is_member,
       EXISTS (SELECT 1 FROM upd) AS changed,
       ${iso('COALESCE((SELECT last_read_at FROM upd), (SELECT last_read_at FROM cur))')} AS last_read_at,
       -- The other member, for the read receipt (real-time delivery needs no lookup of its own).
       (SELECT CASE WHEN c.user_low = $2 THEN c.user_high ELSE c.user_low END FROM conversations c WHERE c.id = $1) AS peer_id`,
  }),
});

export interface OpenRow { readonly target_exists: boolean; readonly blocked: boolean; readonly created: boolean; readonly id: string | null; readonly created_at: string | null }
export interface InboxRow {
  readonly id: string;
  readonly unread_count: number;
  readonly last_read_at: string | null;
  readonly last_message_at: string;
  readonly other_id: string;
  readonly other_username: string;
  readonly other_display_name: string | null;
  readonly message_id: string | null;
  readonly message_sender_id: string | null;
  readonly message_content: string | null;
  readonly message_created_at: string | null;
}
export interface HistoryRow {
  readonly container_created_at: string | null;
  readonly is_member: boolean;
  readonly id: string | null;
  readonly sender_id: string | null;
  readonly content: string | null;
  readonly created_at: string | null;
}
export interface MarkReadRow { readonly container_exists: boolean; readonly is_member: boolean; readonly changed: boolean; readonly last_read_at: string | null; readonly peer_id: string | null }

function one<T>(rows: T[], name: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${name} returned no row`);
  return row;
}

export class ConversationRepository {
  constructor(private readonly db: Database) {}

  async open(userId: string, recipientId: string, newId: string, q: Tx = this.db): Promise<OpenRow> {
    return one(await q.query<OpenRow>(conversationQueries.open, [userId, recipientId, newId]), 'chat.open_conversation');
  }

  async inbox(userId: string, after: { ts: string; id: string }, limit: number, ctx: QueryContext): Promise<InboxRow[]> {
    return this.db.query<InboxRow>(conversationQueries.inbox, [userId, after.ts, after.id, limit], ctx);
  }

  async history(conversationId: string, userId: string, w: { lowerTs: string; upperTs: string; upperId: string }, limit: number, ctx: QueryContext): Promise<HistoryRow[]> {
    return this.db.query<HistoryRow>(conversationQueries.history, [conversationId, userId, w.lowerTs, w.upperTs, w.upperId, limit], ctx);
  }

  async markRead(conversationId: string, userId: string): Promise<MarkReadRow> {
    return one(await this.db.query<MarkReadRow>(conversationQueries.markRead, [conversationId, userId]), 'chat.mark_read');
  }
}
