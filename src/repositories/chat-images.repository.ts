import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * Chat image metadata (migration 0017); the bytes are in the photo store (namespace
 * chat-images), keyed by uploader and id. Who may see an image is decided here in SQL:
 * a conversation's two members, or anyone signed in for an active room (minus a block
 * either way with the uploader); never when its message is hidden or its uploader suspended.
 */

const COLUMNS = `ci.id, ci.conversation_id, ci.room_id, ci.uploader_id, ci.message_id, ci.content_type, ci.bytes, ci.width, ci.height, ci.thumb_bytes, ${iso('ci.created_at')} AS created_at`;

const SOME_CONVERSATION = `SELECT c.id AS conversation_id, c.user_low AS user_id FROM conversations c ORDER BY c.last_message_at DESC NULLS LAST LIMIT 1`;
const SOME_IMAGE = `SELECT coalesce((SELECT id FROM chat_images ORDER BY id LIMIT 1), gen_random_uuid()) AS id`;

export const chatImageQueries = catalog({
  conversationTarget: defineQuery({
    name: 'chat_image.conversation_target',
    description: 'POST /api/chat/conversations/:id/images, before any byte is stored: does the conversation exist, is the uploader a member, and does a block stand between its members (two primary-key probes on relationships).',
    target: 'primary',
    sample: { sql: SOME_CONVERSATION },
    sql: `
SELECT c.id IS NOT NULL AS container_exists,
       coalesce($2::uuid IN (c.user_low, c.user_high), false) AS is_member,
       coalesce(EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = c.user_low AND b.target_id = c.user_high AND b.kind = 'block')
             OR EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = c.user_high AND b.target_id = c.user_low AND b.kind = 'block'), false) AS blocked
FROM (SELECT 1) AS one
LEFT JOIN conversations c ON c.id = $1`,
  }),
  roomTarget: defineQuery({
    name: 'chat_image.room_target',
    description: 'POST /api/chat/rooms/:id/images, before any byte is stored: is the room there and active (one primary-key lookup).',
    target: 'primary',
    sample: { sql: `SELECT id FROM chat_rooms ORDER BY id LIMIT 1` },
    sql: `SELECT EXISTS (SELECT 1 FROM chat_rooms r WHERE r.id = $1 AND r.is_active) AS room_active`,
  }),
  insert: defineQuery({
    name: 'chat_image.insert',
    description: 'Records a processed chat image whose two files are already stored.',
    target: 'primary',
    sample: {
      sql: `SELECT gen_random_uuid() AS id, c.id AS conversation_id, NULL::uuid AS room_id, c.user_low AS uploader_id, 'image/jpeg' AS content_type,
                   1000 AS bytes, 640 AS width, 480 AS height, 100 AS thumb_bytes FROM conversations c ORDER BY c.id LIMIT 1`,
    },
    sql: `
INSERT INTO chat_images AS ci (id, conversation_id, room_id, uploader_id, content_type, bytes, width, height, thumb_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING ${COLUMNS}`,
  }),
  linkMessage: defineQuery({
    name: 'chat_image.link_message',
    description: 'After the announcing message was sent: records which message it is, so hiding the message hides the image.',
    target: 'primary',
    sample: { sql: `SELECT (${SOME_IMAGE}) AS id, gen_random_uuid() AS message_id, now() AS message_created_at` },
    sql: `UPDATE chat_images ci SET message_id = $2, message_created_at = $3 WHERE ci.id = $1`,
  }),
  resolveUnlinked: defineQuery({
    name: 'chat_image.resolve_unlinked',
    description: "The chat_images.unlinked job, one batch: images older than $1 seconds (and at most a week old) whose message was never linked (chat_images_unlinked_idx), at most $2. Each is linked to the message that names it when one exists (the uploader's message in the same conversation or room within 10 minutes of the image, partition-pruned at run time, over the history index), and deleted when none does.",
    target: 'primary',
    timeBounded: true,
    justify: {
      no_pruning: 'each image probes messages between bounds known only while the statement runs (its created_at, ten minutes either side): the executor prunes to the one or two partitions those cover, per image (EXPLAIN without ANALYZE lists them all); an hourly leader job over at most 500 old images a statement.',
    },
    sample: { sql: `SELECT 3600 AS min_age_s, 500 AS lim` },
    sql: `
WITH stale AS MATERIALIZED (
  SELECT ci.id, ci.conversation_id, ci.room_id, ci.uploader_id, ci.created_at FROM chat_images ci
  -- At most a week old: an older image's message may sit in an archived month (not attached,
  -- so not found here), and the job, hourly, has judged every newer image long before.
  WHERE ci.message_id IS NULL AND ci.created_at < now() - make_interval(secs => $1) AND ci.created_at > now() - interval '7 days'
  ORDER BY ci.created_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), found AS MATERIALIZED (
  -- The announcing message ends with the image's URL (src/services/chat/chat-images.service.ts,
  -- messageContent) and is written after the image row, within the send's bounded wait. Its
  -- created_at is the app's clock and the row's the database's: ten minutes either side.
  SELECT s.id, m.id AS message_id, m.created_at AS message_created_at
  FROM stale s
  CROSS JOIN LATERAL (
    SELECT m.id, m.created_at FROM messages m
    WHERE s.conversation_id IS NOT NULL AND m.conversation_id = s.conversation_id
      AND m.created_at >= s.created_at - interval '10 minutes' AND m.created_at < s.created_at + interval '10 minutes'
      AND m.sender_id = s.uploader_id AND m.content LIKE '%/api/chat/images/' || s.id::text
    UNION ALL
    SELECT m.id, m.created_at FROM messages m
    WHERE s.room_id IS NOT NULL AND m.room_id = s.room_id
      AND m.created_at >= s.created_at - interval '10 minutes' AND m.created_at < s.created_at + interval '10 minutes'
      AND m.sender_id = s.uploader_id AND m.content LIKE '%/api/chat/images/' || s.id::text
    LIMIT 1
  ) m
), linked AS (
  UPDATE chat_images ci SET message_id = f.message_id, message_created_at = f.message_created_at
  FROM found f WHERE ci.id = f.id
  RETURNING ci.id
), deleted AS (
  DELETE FROM chat_images ci USING stale s
  WHERE ci.id = s.id AND NOT EXISTS (SELECT 1 FROM found f WHERE f.id = s.id)
  RETURNING ci.id
)
SELECT (SELECT count(*) FROM stale)::int AS examined, (SELECT count(*) FROM linked)::int AS linked, (SELECT count(*) FROM deleted)::int AS deleted`,
  }),
  get: defineQuery({
    name: 'chat_image.get',
    description: "GET /api/chat/images/:id: the image's metadata and whether the viewer ($2) may see it: a member of its conversation, or anyone for an active room without a block either way with the uploader; never once its message is hidden (one partition-pruned primary-key probe on messages) or its uploader suspended.",
    target: 'replica',
    sample: { sql: `SELECT (${SOME_IMAGE}) AS id, (SELECT id FROM users ORDER BY id LIMIT 1) AS viewer_id` },
    sql: `
SELECT ${COLUMNS},
  CASE WHEN ci.conversation_id IS NOT NULL
       THEN EXISTS (SELECT 1 FROM conversations c WHERE c.id = ci.conversation_id AND $2::uuid IN (c.user_low, c.user_high))
       ELSE EXISTS (SELECT 1 FROM chat_rooms r WHERE r.id = ci.room_id AND r.is_active)
            AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = ci.uploader_id AND b.target_id = $2::uuid AND b.kind = 'block')
            AND NOT EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = $2::uuid AND b.target_id = ci.uploader_id AND b.kind = 'block')
  END AS may_see,
  u.is_active AS uploader_active,
  EXISTS (SELECT 1 FROM messages m WHERE m.id = ci.message_id AND m.created_at = ci.message_created_at AND m.hidden_at IS NOT NULL) AS message_hidden
FROM chat_images ci
JOIN users u ON u.id = ci.uploader_id
WHERE ci.id = $1`,
  }),
  own: defineQuery({
    name: 'chat_image.own',
    description: "A keyed upload's retry: the image its first attempt stored, by id and uploader (one primary-key lookup on the primary).",
    target: 'primary',
    sample: { sql: `SELECT (${SOME_IMAGE}) AS id, (SELECT id FROM users ORDER BY id LIMIT 1) AS uploader_id` },
    sql: `SELECT ${COLUMNS} FROM chat_images ci WHERE ci.id = $1 AND ci.uploader_id = $2`,
  }),
  remove: defineQuery({
    name: 'chat_image.delete',
    description: "DELETE /api/chat/images/:id: removes the uploader's image row (the files go after commit).",
    target: 'primary',
    sample: { sql: `SELECT (${SOME_IMAGE}) AS id, (SELECT id FROM users ORDER BY id LIMIT 1) AS uploader_id` },
    sql: `
DELETE FROM chat_images ci WHERE ci.id = $1 AND ci.uploader_id = $2
RETURNING ${COLUMNS}`,
  }),
  existingIds: defineQuery({
    name: 'chat_image.existing_ids',
    description: 'The orphan-file sweep (src/jobs/orphan-files.job.ts): which of up to 500 ids found in the file store have a row (primary-key probes, on the primary).',
    target: 'primary',
    sample: { sql: `SELECT coalesce((SELECT array_agg(id) FROM (SELECT id FROM chat_images ORDER BY id LIMIT 500) s), ARRAY[gen_random_uuid()]) AS ids` },
    sql: `SELECT ci.id FROM chat_images ci WHERE ci.id = ANY($1::uuid[])`,
  }),
});

export type ChatImageType = 'image/jpeg' | 'image/png' | 'image/webp';

export interface ChatImageRow {
  readonly id: string;
  readonly conversation_id: string | null;
  readonly room_id: string | null;
  readonly uploader_id: string;
  readonly message_id: string | null;
  readonly content_type: ChatImageType;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly thumb_bytes: number;
  readonly created_at: string;
}

export type ChatImageAccessRow = ChatImageRow & { readonly may_see: boolean; readonly uploader_active: boolean; readonly message_hidden: boolean };

export interface ConversationTargetRow { readonly container_exists: boolean; readonly is_member: boolean; readonly blocked: boolean }

export type NewChatImage = Omit<ChatImageRow, 'created_at' | 'message_id'>;

export class ChatImageRepository {
  constructor(private readonly db: Database) {}

  async conversationTarget(conversationId: string, uploaderId: string): Promise<ConversationTargetRow> {
    const row = (await this.db.query<ConversationTargetRow>(chatImageQueries.conversationTarget, [conversationId, uploaderId]))[0];
    if (!row) throw new Error('chat_image.conversation_target returned no row');
    return row;
  }

  async roomActive(roomId: string): Promise<boolean> {
    return (await this.db.query<{ room_active: boolean }>(chatImageQueries.roomTarget, [roomId]))[0]?.room_active === true;
  }

  async insert(i: NewChatImage): Promise<ChatImageRow> {
    const row = (await this.db.query<ChatImageRow>(chatImageQueries.insert, [
      i.id, i.conversation_id, i.room_id, i.uploader_id, i.content_type, i.bytes, i.width, i.height, i.thumb_bytes,
    ]))[0];
    if (!row) throw new Error('chat_image.insert returned no row');
    return row;
  }

  async linkMessage(id: string, messageId: string, messageCreatedAt: string): Promise<void> {
    await this.db.query(chatImageQueries.linkMessage, [id, messageId, messageCreatedAt]);
  }

  async get(id: string, viewerId: string, ctx: QueryContext): Promise<ChatImageAccessRow | undefined> {
    return (await this.db.query<ChatImageAccessRow>(chatImageQueries.get, [id, viewerId], ctx))[0];
  }

  async own(id: string, uploaderId: string): Promise<ChatImageRow | undefined> {
    return (await this.db.query<ChatImageRow>(chatImageQueries.own, [id, uploaderId]))[0];
  }

  async remove(id: string, uploaderId: string): Promise<ChatImageRow | undefined> {
    return (await this.db.query<ChatImageRow>(chatImageQueries.remove, [id, uploaderId]))[0];
  }

  /** One batch of the chat_images.unlinked job (chat_image.resolve_unlinked). */
  async resolveUnlinked(minAgeSeconds: number, batch: number): Promise<{ examined: number; linked: number; deleted: number }> {
    const rows = await this.db.query<{ examined: number; linked: number; deleted: number }>(chatImageQueries.resolveUnlinked, [minAgeSeconds, batch]);
    return rows[0] ?? { examined: 0, linked: 0, deleted: 0 };
  }

  /** Which of `ids` have a row. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.db.query<{ id: string }>(chatImageQueries.existingIds, [ids])).map((r) => r.id));
  }
}
