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

  /** Which of `ids` have a row. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.db.query<{ id: string }>(chatImageQueries.existingIds, [ids])).map((r) => r.id));
  }
}
