import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { commentPage, notBlocked } from './post-sql.ts';
import { iso } from './sql-fragments.ts';

/**
 * The status-update feed and its comments. Feed pages are keyset pages inside a time
 * window [$lower, $upper] so only that window's monthly partitions are scanned; the
 * service widens the window when a page comes back short (see services/time-window.ts).
 * Comment counts are denormalised in status_updates.comment_count, kept by the comment
 * insert in the same statement (grouped: feed.add_comments, comment-batch.repository.ts).
 * Posts with a group_id belong to a group feed (group-feed.repository.ts) and never show
 * here; hidden posts and comments (moderation, migration 0014) show nowhere.
 */

const POST_COLUMNS = `
  s.id, s.author_id, u.username AS author_username, p.display_name AS author_display_name,
  s.content, s.comment_count, ${iso('s.created_at')} AS created_at`;

/** The global feed's rows inside the window [$1, $2] below the keyset ($2, $3): feed.global adds the viewer's blocks. */
const GLOBAL_WINDOW = `SELECT ${POST_COLUMNS}
FROM status_updates s
JOIN users u ON u.id = s.author_id
LEFT JOIN profiles p ON p.user_id = s.author_id
WHERE s.created_at >= $1::timestamptz AND s.created_at <= $2::timestamptz
  AND (s.created_at, s.id) < ($2::timestamptz, $3::uuid)
  AND s.group_id IS NULL AND s.hidden_at IS NULL`;

const BUSY_POST = `
  SELECT s.id, s.created_at FROM status_updates s
  WHERE s.created_at >= now() - interval '30 days'
  ORDER BY s.comment_count DESC, s.id LIMIT 1`;

export const feedQueries = catalog({
  global: defineQuery({
    name: 'feed.global',
    description: 'GET /api/feed?type=global: everyone\'s posts, newest first, keyset (created_at DESC, id DESC) inside [$1, $2] over status_updates_created_idx, with author summaries.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT now() - interval '7 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, id AS viewer_id, 21 AS lim
            FROM users ORDER BY id LIMIT 1`,
    },
    sql: `
${GLOBAL_WINDOW}
  AND ${notBlocked('$4::uuid')}
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5`,
  }),
  globalHead: defineQuery({
    name: 'feed.global_head',
    description: 'The global feed\'s shared head (src/services/feed/feed.service.ts, cached as one entry for every viewer): the newest posts inside [$1, $2], keyset (created_at DESC, id DESC) over status_updates_created_idx, with author summaries; no viewer, so no block filter (the service drops blocked authors per viewer).',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT now() - interval '2 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 120 AS lim`,
    },
    sql: `
${GLOBAL_WINDOW}
ORDER BY s.created_at DESC, s.id DESC
LIMIT $4`,
  }),
  following: defineQuery({
    name: 'feed.following',
    description: 'GET /api/feed?type=following: posts of the viewer, accepted friends and favourites inside [$2, $3], keyset (created_at DESC, id DESC), with author summaries and comment counts. Fan-out on read with two strategies chosen inside the statement by the number of followed authors.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT r.user_id AS viewer_id, now() - interval '31 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 21 AS lim
            FROM relationships r WHERE r.kind IN ('friend', 'favorite')
            GROUP BY r.user_id ORDER BY count(*) DESC LIMIT 1`,
    },
    // Two ways to find the newest posts of F followed authors among N users:
    //  narrow: one short index scan per author (status_updates_author_created_idx), ~2F probes;
    //  wide:   walk the window's timeline newest first (status_updates_created_idx) and keep
    //          followed authors' posts via a hashed set, ~21·N/F rows read.
    // They cost the same near F = 2·√N, so that is the switch (N from the planner's estimate
    // of users). Both branches are in the plan; a one-time filter runs exactly one of them.
    sql: `
WITH followed AS MATERIALIZED (
  SELECT $1::uuid AS author_id
  UNION
  SELECT r.target_id FROM relationships r
  WHERE r.user_id = $1 AND ((r.kind = 'friend' AND r.status = 'accepted') OR r.kind = 'favorite')
), strategy AS (
  SELECT count(*) > 2 * sqrt(greatest((SELECT c.reltuples FROM pg_class c WHERE c.oid = 'users'::regclass), 1)) AS wide
  FROM followed
), page AS (
  (SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at
   FROM followed f
   CROSS JOIN LATERAL (
     SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at
     FROM status_updates s
     WHERE s.author_id = f.author_id
       AND s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
       AND (s.created_at, s.id) < ($3::timestamptz, $4::uuid)
       AND s.group_id IS NULL AND s.hidden_at IS NULL
     ORDER BY s.created_at DESC, s.id DESC
     LIMIT $5
   ) s
   WHERE NOT (SELECT wide FROM strategy)
   ORDER BY s.created_at DESC, s.id DESC
   LIMIT $5)
  UNION ALL
  (SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at
   FROM status_updates s
   WHERE (SELECT wide FROM strategy)
     AND s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
     AND (s.created_at, s.id) < ($3::timestamptz, $4::uuid)
     AND s.group_id IS NULL AND s.hidden_at IS NULL
     -- Written with OR so it stays a hashed filter on the ordered scan, not a semi-join.
     AND (s.author_id = $1::uuid OR s.author_id IN (SELECT author_id FROM followed))
   ORDER BY s.created_at DESC, s.id DESC
   LIMIT $5)
)
SELECT ${POST_COLUMNS}
FROM page s
JOIN users u ON u.id = s.author_id
LEFT JOIN profiles p ON p.user_id = s.author_id
ORDER BY s.created_at DESC, s.id DESC`,
  }),
  listComments: defineQuery({
    name: 'feed.list_comments',
    description: 'GET /api/feed/:postId/comments: post existence (partition-pruned by the id\'s UUIDv7 time, ±1 day) and one keyset page of comments, oldest first, over post_comments_post_idx.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   '-infinity'::timestamptz AS after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 51 AS lim
            FROM (${BUSY_POST}) b`,
    },
    sql: `
SELECT x.post_exists, c.id, c.author_id, c.author_username, c.author_display_name, c.content, ${iso('c.created_at')} AS created_at
FROM (
  SELECT EXISTS (
    SELECT 1 FROM status_updates s WHERE s.id = $1 AND s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
      AND s.group_id IS NULL AND s.hidden_at IS NULL
  ) AS post_exists
) x
${commentPage('x.post_exists', { post: '$1', afterTs: '$4', afterId: '$5', limit: '$6' })}`,
  }),
});

export interface PostRow {
  readonly id: string;
  readonly author_id: string;
  readonly author_username: string;
  readonly author_display_name: string | null;
  readonly content: string;
  readonly comment_count: number;
  readonly created_at: string;
}
export interface CommentRow {
  readonly id: string;
  readonly author_id: string;
  readonly author_username: string;
  readonly author_display_name: string | null;
  readonly content: string;
  readonly created_at: string;
}
export type CommentPageRow = { readonly post_exists: boolean } & { readonly [K in keyof CommentRow]: CommentRow[K] | null };
/** A single comment statement's row (NEW_COMMENT_RESULT, post-sql.ts; the group feed's). */
export type AddCommentRow = CommentPageRow & { readonly blocked: boolean; readonly comment_count: number | null };

export interface TimeWindow { readonly lowerTs: string; readonly upperTs: string; readonly upperId: string }

export class FeedRepository {
  constructor(private readonly db: Database) {}

  async global(viewerId: string, w: TimeWindow, limit: number, ctx: QueryContext): Promise<PostRow[]> {
    return this.db.query<PostRow>(feedQueries.global, [w.lowerTs, w.upperTs, w.upperId, viewerId, limit], ctx);
  }

  async globalHead(w: TimeWindow, limit: number, ctx: QueryContext): Promise<PostRow[]> {
    return this.db.query<PostRow>(feedQueries.globalHead, [w.lowerTs, w.upperTs, w.upperId, limit], ctx);
  }

  async following(viewerId: string, w: TimeWindow, limit: number, ctx: QueryContext): Promise<PostRow[]> {
    return this.db.query<PostRow>(feedQueries.following, [viewerId, w.lowerTs, w.upperTs, w.upperId, limit], ctx);
  }

  async listComments(postId: string, postBounds: { lowerTs: string; upperTs: string }, after: { ts: string; id: string }, limit: number, ctx: QueryContext): Promise<CommentPageRow[]> {
    return this.db.query<CommentPageRow>(feedQueries.listComments, [postId, postBounds.lowerTs, postBounds.upperTs, after.ts, after.id, limit], ctx);
  }
}
