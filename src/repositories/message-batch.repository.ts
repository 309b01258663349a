import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';
import { iso, outsideSendWindow, type SendWindow } from './sql-fragments.ts';

/**
 * Direct-message sends in groups (issue 16, app-level group commit): ONE auto-committed
 * statement writes any number of messages, each with its own checks, its own
 * Idempotency-Key record and its own outcome, so N concurrent sends cost one round trip,
 * one commit and one WAL flush instead of N. A group of one is the plain send.
 *
 * What the statement does per member, in the order a single send would:
 *   - the conversation must exist and the sender be one of its two members, and no block
 *     may stand between the two (exact primary-key probes, one per direction);
 *   - its created_at must lie in the send window on PostgreSQL's clock ($10, $11; read with
 *     clock_timestamp() once the member's conversation row is locked, so a wait for that lock
 *     counts): otherwise it writes nothing, neither record nor message (`untimely`), which is
 *     what lets `sync` promise that nothing older than its margin appears later
 *     (src/services/chat/send-window.ts, src/realtime/sync.ts);
 *   - with a key: the record (fingerprint + the response body) is inserted first; a live
 *     record of an earlier request holds the key, and then the member writes nothing
 *     (`key_held`: the caller answers from the record). An in-flight twin in another
 *     transaction makes the insert wait for its commit, as in src/services/idempotency.ts;
 *   - the message is inserted.
 * Then, once per CONVERSATION rather than per message: conversations.last_message_* from
 * its newest message of the group (id, time, sender and content: the inbox reads no
 * messages, migration 0018), and each member row once: last_message_at, unread_count
 * + the messages of the group it received, last_read_at up to its own newest message.
 * A hot conversation with 10 messages in a group is 1 + 2 row updates, not 30.
 *
 * Locks: the group's conversation rows are taken first, in id order (LockRows above the
 * Sort), before any row is written, and member rows are only updated under their
 * conversation's lock; so concurrent groups (and markRead, which locks its one conversation
 * row, FOR SHARE, before its one member row) queue for a conversation in one order and cannot
 * deadlock on them.
 */

/** A conversation with messages and one of its members, for the EXPLAIN audit's sample. */
const SAMPLE = `
  SELECT ARRAY[c.id, c.id] AS conversation_ids, ARRAY[c.user_low, c.user_high] AS sender_ids,
         ARRAY[gen_random_uuid(), gen_random_uuid()] AS ids, ARRAY['explain audit', 'explain audit 2'] AS contents,
         ARRAY[now(), now()] AS created_ats, ARRAY[c.user_low, NULL]::uuid[] AS key_scopes,
         ARRAY['explain-audit-batch-key', NULL] AS keys, ARRAY[sha256('explain-audit'::bytea), NULL] AS fingerprints, 24 AS ttl_hours,
         15000 AS max_age_ms, 2000 AS max_lead_ms
  FROM conversations c WHERE c.last_message_at IS NOT NULL ORDER BY c.last_message_at DESC LIMIT 1`;

export const messageBatchQueries = catalog({
  sendMany: defineQuery({
    name: 'chat.send_messages',
    description: 'POST /api/chat/conversations/:id/messages, grouped: one statement for a group of concurrent sends (arrays, one element per send). Per send: membership and block checks, its created_at inside the send window on the database clock ($10 ms old, $11 ms ahead at most; outside it nothing is written for it), the Idempotency-Key record, the insert; per conversation: last_message_* and both members\' read state once. Conversation rows locked in id order first. One row per send, in input order.',
    target: 'primary',
    sample: { sql: SAMPLE },
    sql: `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::uuid[], $7::text[], $8::bytea[])
    WITH ORDINALITY AS i(conversation_id, sender_id, id, content, created_at, key_scope, key, fingerprint, ord)
), conv AS (
  -- Locked, so a send that waited reads the row's newest version: its blocked flag then shows
  -- a block committed during the wait, which the relationships check below (this statement's
  -- snapshot) cannot see (migration 0042).
  SELECT c.id, c.user_low, c.user_high, c.blocked FROM conversations c
  WHERE c.id = ANY ($1::uuid[])
  ORDER BY c.id
  FOR NO KEY UPDATE
), checked AS (
  SELECT i.*, c.id IS NOT NULL AS container_exists,
         COALESCE(i.sender_id IN (c.user_low, c.user_high), false) AS is_member,
         CASE WHEN c.user_low = i.sender_id THEN c.user_high WHEN c.user_high = i.sender_id THEN c.user_low END AS recipient_id,
         ${outsideSendWindow('i.created_at', '$10', '$11')} AS untimely,
         COALESCE(c.blocked, false) AS pair_blocked
  FROM input i LEFT JOIN conv c ON c.id = i.conversation_id
), allowed AS (
  SELECT k.* FROM checked k
  WHERE k.is_member AND NOT k.untimely AND NOT k.pair_blocked
    AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = k.recipient_id AND b.target_id = k.sender_id AND b.kind = 'block')
    AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = k.sender_id AND b.target_id = k.recipient_id AND b.kind = 'block')
), keys AS (
  INSERT INTO idempotency_keys AS r (scope, key, fingerprint, response)
  SELECT a.key_scope, a.key, a.fingerprint,
         jsonb_build_object('id', a.id, 'conversation_id', a.conversation_id, 'sender_id', a.sender_id, 'content', a.content,
                            'created_at', ${iso('a.created_at')})
  FROM allowed a WHERE a.key IS NOT NULL
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = EXCLUDED.created_at
    WHERE r.created_at <= now() - make_interval(hours => $9)
  RETURNING r.scope, r.key
), ins AS (
  INSERT INTO messages (id, conversation_id, sender_id, content, created_at)
  SELECT a.id, a.conversation_id, a.sender_id, a.content, a.created_at FROM allowed a
  WHERE a.key IS NULL OR EXISTS (SELECT 1 FROM keys WHERE keys.scope = a.key_scope AND keys.key = a.key)
  RETURNING id, conversation_id, sender_id, content, created_at
), latest AS (
  SELECT DISTINCT ON (conversation_id) conversation_id, id, sender_id, content, created_at
  FROM ins ORDER BY conversation_id, created_at DESC, id DESC
), upd_conv AS (
  UPDATE conversations c SET last_message_id = l.id, last_message_at = l.created_at,
    last_message_sender_id = l.sender_id, last_message_content = l.content
  FROM latest l
  -- By (time, id), the history's order: two messages of one millisecond from two groups leave
  -- the one history shows first, whichever committed last.
  WHERE c.id = l.conversation_id AND (c.last_message_at IS NULL OR (c.last_message_at, c.last_message_id) < (l.created_at, l.id))
  RETURNING c.id
), member_changes AS (
  SELECT m.conversation_id, m.user_id, max(ins.created_at) AS last_at,
         count(*) FILTER (WHERE ins.sender_id <> m.user_id)::int AS received,
         max(ins.created_at) FILTER (WHERE ins.sender_id = m.user_id) AS sent_at
  FROM ins JOIN conv c ON c.id = ins.conversation_id
  CROSS JOIN LATERAL (VALUES (c.id, c.user_low), (c.id, c.user_high)) AS m(conversation_id, user_id)
  GROUP BY m.conversation_id, m.user_id
), upd_members AS (
  -- A member's own message reads the conversation up to it: last_read_at moves to it, and
  -- unread_count keeps only the other member's messages of this group after it (the count is
  -- of their messages after last_read_at, chat.inbox). It used to keep the whole count while
  -- last_read_at moved, so the inbox showed messages the member had answered as unread, and a
  -- moderator's later hide of one (which lowers only counts whose last_read_at is before the
  -- message) left the count too high for good. An earlier group's message dated after this
  -- reply (ids are made before the commit, within the send window) is taken as read with it.
  UPDATE conversation_members cm SET
    last_message_at = GREATEST(cm.last_message_at, mc.last_at),
    unread_count = CASE WHEN mc.sent_at IS NULL THEN cm.unread_count + mc.received
      ELSE (SELECT count(*)::int FROM ins o WHERE o.conversation_id = mc.conversation_id AND o.sender_id <> mc.user_id
              AND o.created_at > GREATEST(cm.last_read_at, mc.sent_at)) END,
    last_read_at = CASE WHEN mc.sent_at IS NULL THEN cm.last_read_at ELSE GREATEST(cm.last_read_at, mc.sent_at) END
  FROM member_changes mc
  WHERE cm.conversation_id = mc.conversation_id AND cm.user_id = mc.user_id
  RETURNING cm.user_id
)
SELECT k.ord::int AS ord, k.container_exists, k.is_member,
       k.is_member AND NOT k.untimely AND a.ord IS NULL AS blocked,
       k.is_member AND k.untimely AS untimely,
       k.recipient_id, ins.id IS NOT NULL AS inserted,
       ${iso('k.created_at')} AS created_at
FROM checked k
LEFT JOIN allowed a ON a.ord = k.ord
LEFT JOIN ins ON ins.id = k.id
ORDER BY k.ord`,
  }),
});

/** One send of a group. */
export interface MessageToSend {
  readonly conversationId: string;
  readonly senderId: string;
  readonly id: string;
  readonly content: string;
  /** ISO-8601; the id's own time (src/services/ids.ts). */
  readonly createdAt: string;
  /** The Idempotency-Key record to insert with it, if the request carried one. */
  readonly key?: { readonly scope: string; readonly key: string; readonly fingerprint: Buffer };
}

/** What the statement did for one send, in input order. */
export interface SentRow {
  readonly ord: number;
  readonly container_exists: boolean;
  readonly is_member: boolean;
  readonly blocked: boolean;
  /** A member of the conversation, but its created_at was outside the send window: nothing written. */
  readonly untimely: boolean;
  readonly recipient_id: string | null;
  /** The message row was written (false: refused, or its key was held by an earlier request). */
  readonly inserted: boolean;
  /** created_at as the database formats it (microseconds): the response's and the record's. */
  readonly created_at: string;
}

export class MessageBatchRepository {
  constructor(private readonly db: Database) {}

  /**
   * Writes the group in one auto-committed statement; one row per send, in input order. A send
   * whose createdAt is outside `window` on the database's clock is not written (`untimely`).
   */
  async sendMany(sends: readonly MessageToSend[], keyTtlHours: number, window: SendWindow): Promise<SentRow[]> {
    const rows = await this.db.query<SentRow>(messageBatchQueries.sendMany, [
      sends.map((s) => s.conversationId),
      sends.map((s) => s.senderId),
      sends.map((s) => s.id),
      sends.map((s) => s.content),
      sends.map((s) => s.createdAt),
      sends.map((s) => s.key?.scope ?? null),
      sends.map((s) => s.key?.key ?? null),
      sends.map((s) => s.key?.fingerprint ?? null),
      keyTtlHours,
      window.maxAgeMs,
      window.maxLeadMs,
    ]);
    if (rows.length !== sends.length) throw new Error(`chat.send_messages returned ${rows.length} rows for ${sends.length} sends`);
    return rows;
  }
}
