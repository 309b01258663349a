import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import type { AddCommentRow, CommentRow, PostRow, TimeWindow } from './feed.repository.ts';
import { authorActive, commentPage, insertCommentCtes, lockedActiveAuthors, NEW_COMMENT_RESULT, notBlocked } from './post-sql.ts';
import { iso, shownName } from './sql-fragments.ts';

/**
 * Group feeds: status updates with a group_id (migration 0013), visible to the group's
 * members only, and their comments. Pages are keyset pages inside a time window, like the
 * public feed (services/time-window.ts), over status_updates_group_created_idx, so only
 * the window's monthly partitions are read. Membership is checked inside each statement
 * (a primary-key probe of group_memberships): one round trip, and a member removed a
 * moment ago reads nothing more. Posts and comments hidden by a moderator (migration
 * 0014) show to nobody. $1 is always the group id.
 */

/** Group $1 if active, and whether `user` is a member of it, as one row `x`. */
const ACCESS = (user: string) => `(
  SELECT g.id IS NOT NULL AS group_exists,
         EXISTS (SELECT 1 FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = ${user}) AS is_member,
         ${iso('g.created_at')} AS group_created_at
  FROM (SELECT 1) one
  LEFT JOIN community_groups g ON g.id = $1 AND g.is_active
) x`;

const BIGGEST_GROUP = `
  SELECT m.group_id FROM group_memberships m JOIN community_groups g ON g.id = m.group_id AND g.is_active
  GROUP BY m.group_id ORDER BY count(*) DESC, m.group_id LIMIT 1`;
/** A recent group post if there is one, else the busiest recent post (its comments lookup still runs the same plan). */
const GROUP_POST = `
  SELECT coalesce(s.group_id, (${BIGGEST_GROUP})) AS group_id, s.id, s.created_at,
         (SELECT m.user_id FROM group_memberships m WHERE m.group_id = coalesce(s.group_id, (${BIGGEST_GROUP})) ORDER BY m.user_id LIMIT 1) AS member_id
  FROM status_updates s WHERE s.created_at >= now() - interval '30 days'
  ORDER BY s.group_id IS NULL, s.comment_count DESC, s.id LIMIT 1`;

export const groupFeedQueries = catalog({
  feed: defineQuery({
    name: 'group.feed',
    description: "GET /api/groups/:id/feed: a member's keyset page (created_at DESC, id DESC) of the group's posts inside [$3, $4] over status_updates_group_created_idx, with author summaries; the group's existence and the viewer's membership in the same statement.",
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT m.group_id, m.user_id AS viewer_id, now() - interval '31 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 21 AS lim
            FROM group_memberships m WHERE m.group_id = (${BIGGEST_GROUP}) ORDER BY m.user_id LIMIT 1`,
    },
    sql: `
SELECT x.group_exists, x.is_member, x.group_created_at,
       s.id, s.author_id, s.author_username, s.author_display_name, s.content, s.comment_count, ${iso('s.created_at')} AS created_at
FROM ${ACCESS('$2')}
LEFT JOIN LATERAL (
  SELECT s.id, s.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name, s.content, s.comment_count, s.created_at
  FROM status_updates s
  JOIN users u ON u.id = s.author_id AND u.is_active -- not the posts of suspended accounts
  LEFT JOIN profiles p ON p.user_id = s.author_id
  WHERE x.is_member AND s.group_id = $1 AND s.hidden_at IS NULL
    AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
    AND (s.created_at, s.id) < ($4::timestamptz, $5::uuid)
    AND ${notBlocked('$2::uuid')}
  ORDER BY s.created_at DESC, s.id DESC
  LIMIT $6
) s ON true
ORDER BY s.created_at DESC, s.id DESC`,
  }),
  post: defineQuery({
    name: 'group.post',
    description: "POST /api/groups/:id/feed: a member's status update in the group (id and created_at from the app's UUIDv7), membership checked in the same statement.",
    target: 'primary',
    sample: { sql: `SELECT m.group_id, gen_random_uuid() AS id, m.user_id AS author_id, 'explain audit' AS content, now() AS created_at FROM group_memberships m WHERE m.group_id = (${BIGGEST_GROUP}) ORDER BY m.user_id LIMIT 1` },
    sql: `
WITH ok AS (
  SELECT g.id FROM community_groups g
  WHERE g.id = $1 AND g.is_active
    AND EXISTS (SELECT 1 FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = $3)
), s AS (
  INSERT INTO status_updates (id, author_id, content, created_at, group_id)
  SELECT $2, $3, $4, $5, ok.id FROM ok
  RETURNING id, author_id, content, comment_count, created_at
)
SELECT EXISTS (SELECT 1 FROM community_groups g WHERE g.id = $1 AND g.is_active) AS group_exists,
       EXISTS (SELECT 1 FROM ok) AS is_member,
       s.id, s.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name,
       s.content, s.comment_count, ${iso('s.created_at')} AS created_at
FROM (SELECT 1) one
LEFT JOIN s ON true
LEFT JOIN users u ON u.id = s.author_id
LEFT JOIN profiles p ON p.user_id = s.author_id`,
  }),
  listComments: defineQuery({
    name: 'group.list_comments',
    description: "GET /api/groups/:id/feed/:postId/comments: for a member, the group post's existence (pruned by the id's UUIDv7 time, ±1 day; none across a block with its author) and one keyset page of comments, oldest first, over post_comments_post_idx, without those of users blocked either way.",
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.group_id, b.member_id, b.id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   '-infinity'::timestamptz AS after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 51 AS lim
            FROM (${GROUP_POST}) b`,
    },
    sql: `
SELECT x.group_exists, x.is_member, y.post_exists,
       c.id, c.author_id, c.author_username, c.author_display_name, c.content, ${iso('c.created_at')} AS created_at
FROM ${ACCESS('$2')}
CROSS JOIN LATERAL (
  SELECT x.is_member AND EXISTS (
    SELECT 1 FROM status_updates s
    WHERE s.id = $3 AND s.group_id = $1 AND s.created_at >= $4::timestamptz AND s.created_at <= $5::timestamptz
      AND s.hidden_at IS NULL
      AND ${notBlocked('$2::uuid')}
      AND ${authorActive()}
  ) AS post_exists
) y
${commentPage('y.post_exists', { viewer: '$2::uuid', post: '$3', afterTs: '$6', afterId: '$7', limit: '$8' })}`,
  }),
  addComment: defineQuery({
    name: 'group.add_comment',
    description: "POST /api/groups/:id/feed/:postId/comments in one statement: a member's comment on a post of the group (pruned by the id's time), refused across a block with the post's author or when the commenter's account is no longer active (its users row locked FOR SHARE before the post, as a suspension orders them); bumps comment_count.",
    target: 'primary',
    timeBounded: true,
    sample: {
      sql: `SELECT b.group_id, b.id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   gen_random_uuid() AS comment_id, b.member_id AS author_id, 'explain audit' AS content, now() AS created_at
            FROM (${GROUP_POST}) b`,
    },
    sql: `
WITH member AS (
  SELECT 1 FROM community_groups g
  WHERE g.id = $1 AND g.is_active
    AND EXISTS (SELECT 1 FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = $6)
), ${lockedActiveAuthors('author', 'ARRAY[$6::uuid]')}, post AS (
  SELECT s.id, s.created_at, s.author_id FROM status_updates s
  WHERE s.id = $2 AND s.group_id = $1 AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
    AND s.hidden_at IS NULL AND ${authorActive()} AND EXISTS (SELECT 1 FROM member)
    AND EXISTS (SELECT 1 FROM author) -- the commenter is locked before the post (bump)
), ${insertCommentCtes({ id: '$5', author: '$6', content: '$7', createdAt: '$8', lower: '$3', upper: '$4' })}
SELECT EXISTS (SELECT 1 FROM community_groups g WHERE g.id = $1 AND g.is_active) AS group_exists,
       EXISTS (SELECT 1 FROM member) AS is_member,${NEW_COMMENT_RESULT}`,
  }),
});

interface Access { readonly group_exists: boolean; readonly is_member: boolean }
export type GroupFeedRow = Access & { readonly group_created_at: string | null } & { readonly [K in keyof PostRow]: PostRow[K] | null };
export type GroupPostRow = Access & { readonly [K in keyof PostRow]: PostRow[K] | null };
export type GroupCommentPageRow = Access & { readonly post_exists: boolean } & { readonly [K in keyof CommentRow]: CommentRow[K] | null };
export type GroupAddCommentRow = Access & AddCommentRow;

export interface PostBounds { readonly lowerTs: string; readonly upperTs: string }

export class GroupFeedRepository {
  constructor(private readonly db: Database) {}

  async feed(groupId: string, viewerId: string, w: TimeWindow, limit: number, ctx: QueryContext): Promise<GroupFeedRow[]> {
    return this.db.query<GroupFeedRow>(groupFeedQueries.feed, [groupId, viewerId, w.lowerTs, w.upperTs, w.upperId, limit], ctx);
  }

  /** `q`: the transaction of a keyed post (src/services/idempotency.ts), else the database. */
  async post(groupId: string, input: { id: string; authorId: string; content: string; createdAt: string }, q: Tx = this.db): Promise<GroupPostRow> {
    const rows = await q.query<GroupPostRow>(groupFeedQueries.post, [groupId, input.id, input.authorId, input.content, input.createdAt]);
    return one(rows, 'group.post');
  }

  async listComments(groupId: string, viewerId: string, postId: string, b: PostBounds, after: { ts: string; id: string }, limit: number, ctx: QueryContext): Promise<GroupCommentPageRow[]> {
    return this.db.query<GroupCommentPageRow>(groupFeedQueries.listComments, [groupId, viewerId, postId, b.lowerTs, b.upperTs, after.ts, after.id, limit], ctx);
  }

  async addComment(groupId: string, postId: string, b: PostBounds, c: { id: string; authorId: string; content: string; createdAt: string }, q: Tx = this.db): Promise<GroupAddCommentRow> {
    const rows = await q.query<GroupAddCommentRow>(groupFeedQueries.addComment, [groupId, postId, b.lowerTs, b.upperTs, c.id, c.authorId, c.content, c.createdAt]);
    return one(rows, 'group.add_comment');
  }
}

function one<T>(rows: T[], name: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${name} returned no row`);
  return row;
}
