import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { iso } from '../repositories/sql-fragments.ts';

/**
 * Which chat page scopes hold an account's messages (page-suspension.ts): its conversations
 * with a message, each with the other member, whose inbox shows that conversation's last
 * message and unread count. Read after a suspension commits, one keyset page at a time.
 */
export const pageScopeQueries = catalog({
  conversationsOf: defineQuery({
    name: 'cache.member_conversations',
    description: "A suspended account's conversations with a message and each one's other member, whose history and inbox scopes the after-commit fan-out raises (src/cache/page-suspension.ts): most recent activity first, keyset on (last_message_at DESC, conversation_id) over conversation_members_inbox_idx as chat.inbox, stopping after $4 rows; one hash-index probe per row into conversations for the other member. The first page passes ('infinity', min uuid).",
    target: 'replica',
    sample: { sql: `SELECT cm.user_id, 'infinity'::timestamptz AS after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 500 AS lim FROM conversation_members cm GROUP BY cm.user_id ORDER BY count(*) DESC LIMIT 1` },
    justify: {
      misestimate: 'Generic plans only (bgc explain --generic-plan on medium: 1 row estimated, 500 read): without the cursor\'s values the planner guesses one member row in the range. The plan is the same at either count: a range scan of the account\'s rows in conversation_members_inbox_idx that LIMIT $4 stops, and one hash probe per row.',
    },
    sql: `
SELECT cm.conversation_id AS id,
       CASE WHEN c.user_low = $1 THEN c.user_high ELSE c.user_low END AS other_id,
       ${iso('cm.last_message_at')} AS last_message_at
FROM conversation_members cm
JOIN conversations c ON c.id = cm.conversation_id
-- Conversations without a message show none of the account's content on any page.
WHERE cm.user_id = $1
  AND cm.last_message_at IS NOT NULL
  AND cm.last_message_at <= $2::timestamptz
  AND (cm.last_message_at < $2::timestamptz OR cm.conversation_id > $3::uuid)
ORDER BY cm.last_message_at DESC NULLS LAST, cm.conversation_id
LIMIT $4`,
  }),
});

/** One of the account's conversations: its history scope, and the other member's inbox scope. */
export interface MemberConversationRow {
  readonly id: string;
  readonly other_id: string;
  /** The keyset cursor's timestamp (ISO, microseconds). */
  readonly last_message_at: string;
}

/** Where a page of conversations starts: after this (last_message_at, id). */
export interface ConversationsAfter { readonly ts: string; readonly id: string }

export class PageScopeRepository {
  constructor(private readonly db: Database) {}

  async conversationsOf(userId: string, after: ConversationsAfter, limit: number, ctx: QueryContext): Promise<MemberConversationRow[]> {
    return this.db.query<MemberConversationRow>(pageScopeQueries.conversationsOf, [userId, after.ts, after.id, limit], ctx);
  }
}
