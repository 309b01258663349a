import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { authorActive, commentPage, notBlocked } from './post-sql.ts';
import { iso, shownName } from './sql-fragments.ts';

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
  s.id, s.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name,
  s.content, s.comment_count, ${iso('s.created_at')} AS created_at`;

/** The global feed's rows inside the window [$1, $2] below the keyset ($2, $3): feed.global adds the viewer's blocks. */
const GLOBAL_WINDOW = `SELECT ${POST_COLUMNS}
FROM status_updates s
JOIN users u ON u.id = s.author_id AND u.is_active -- not the posts of suspended accounts
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
    description: 'GET /api/feed?type=following: posts of the viewer, accepted friends and favourites inside [$2, $3], keyset (created_at DESC, id DESC), with author summaries and comment counts. Fan-out on read: a walk of the window\'s timeline (status_updates_created_idx) that keeps followed authors\' posts, bounded by the number of followed authors, falling back to one probe per author (status_updates_author_created_idx) when the walk comes back short.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT r.user_id AS viewer_id, now() - interval '31 days' AS lower_ts, now() + interval '1 minute' AS upper_ts,
                   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid AS upper_id, 21 AS lim
            FROM relationships r WHERE r.kind IN ('friend', 'favorite')
            GROUP BY r.user_id ORDER BY count(*) DESC LIMIT 1`,
    },
    // Two ways to find the newest posts of F followed authors among N users:
    //  walk:   read the window's timeline newest first (status_updates_created_idx) and keep
    //          followed authors' posts; it stops once it kept the page's $5 rows;
    //  narrow: one short index scan per author (status_updates_author_created_idx), ~10
    //          buffers per author on `large` (two monthly partitions, up to $5 heap rows each).
    // Followed authors post far more than the average user, so a walk usually fills a page
    // early (issue 15, `large`, bench actors following 69-639 authors: 36-91 timeline rows
    // read, 211-258 buffers for the statement, where the per-author probes made it 858-6,419).
    // So every viewer walks first, at most 10·F rows (a walk that finds too little then costs
    // about what the probes do), and only a walk that comes back short runs the probes. Above
    // F = 2·√N (N from the planner's estimate of users) the walk is not bounded and is the
    // answer, as before. The walk keeps a row whose author is in a hashed set of the followed
    // authors, except above F = 8·√N: building that set (10,180 rows for the busiest actor,
    // ~2 ms) costs more than one relationships_following_idx probe per timeline row read.
    // F counts the viewer too, a friend who is also a favourite twice, and stops at 8·√N + 1;
    // the probes take each author once.
    sql: `
WITH followed AS MATERIALIZED (
  SELECT $1::uuid AS author_id
  UNION ALL
  SELECT r.target_id FROM relationships r
  WHERE r.user_id = $1 AND ((r.kind = 'friend' AND r.status = 'accepted') OR r.kind = 'favorite')
), scale AS (
  SELECT sqrt(greatest((SELECT c.reltuples FROM pg_class c WHERE c.oid = 'users'::regclass), 1)) AS root_n
), strategy AS (
  SELECT f.n > 2 * scale.root_n AS wide, f.n > 8 * scale.root_n AS probe, 10 * f.n AS walk_rows
  FROM scale, (SELECT count(*) AS n FROM (SELECT FROM followed LIMIT (SELECT 8 * root_n FROM scale)::bigint + 1) x) f
), walked AS MATERIALIZED (
  SELECT w.id, w.author_id, w.content, w.comment_count, w.created_at
  FROM (
    SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at
    FROM status_updates s
    WHERE s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
      AND (s.created_at, s.id) < ($3::timestamptz, $4::uuid)
      AND s.group_id IS NULL AND s.hidden_at IS NULL
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT (SELECT CASE WHEN wide THEN NULL ELSE walk_rows END FROM strategy)
  ) w
  -- A filter on the ordered walk, not a semi-join, so the walk stops at $5 rows kept. The
  -- hashed set is built on first use only; OFFSET 0 keeps the probe a per-row subplan.
  -- Suspended accounts' posts are left out (followed is checked here, inside the LIMIT).
  WHERE (w.author_id = $1::uuid OR CASE WHEN (SELECT probe FROM strategy)
    THEN EXISTS (
      SELECT FROM relationships r
      WHERE r.user_id = $1 AND r.target_id = w.author_id AND ((r.kind = 'friend' AND r.status = 'accepted') OR r.kind = 'favorite')
      OFFSET 0)
    ELSE w.author_id IN (SELECT author_id FROM followed) END)
    AND EXISTS (SELECT 1 FROM users au WHERE au.id = w.author_id AND au.is_active OFFSET 0)
  ORDER BY w.created_at DESC, w.id DESC
  LIMIT $5
), outcome AS (
  SELECT (SELECT wide FROM strategy) OR count(*) >= $5 AS walked FROM walked
), page AS (
  (SELECT w.id, w.author_id, w.content, w.comment_count, w.created_at
   FROM walked w
   WHERE (SELECT walked FROM outcome))
  UNION ALL
  (SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at
   FROM (SELECT DISTINCT author_id FROM followed) f
   JOIN users au ON au.id = f.author_id AND au.is_active -- not suspended accounts
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
   WHERE NOT (SELECT walked FROM outcome)
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
    description: 'GET /api/feed/:postId/comments: post existence (partition-pruned by the id\'s UUIDv7 time, ±1 day; none across a block between the viewer and its author, none of a suspended author) and one keyset page of comments, oldest first, over post_comments_post_idx, without those of users blocked either way.',
    target: 'replica',
    timeBounded: true,
    sample: {
      sql: `SELECT b.id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   '-infinity'::timestamptz AS after_ts, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 51 AS lim,
                   (SELECT r.user_id FROM relationships r WHERE r.kind = 'block' ORDER BY r.user_id LIMIT 1) AS viewer
            FROM (${BUSY_POST}) b`,
    },
    sql: `
SELECT x.post_exists, c.id, c.author_id, c.author_username, c.author_display_name, c.content, ${iso('c.created_at')} AS created_at
FROM (
  SELECT EXISTS (
    SELECT 1 FROM status_updates s WHERE s.id = $1 AND s.created_at >= $2::timestamptz AND s.created_at <= $3::timestamptz
      AND s.group_id IS NULL AND s.hidden_at IS NULL
      AND ${notBlocked('$7::uuid')}
      AND ${authorActive()}
  ) AS post_exists
) x
${commentPage('x.post_exists', { viewer: '$7::uuid', post: '$1', afterTs: '$4', afterId: '$5', limit: '$6' })}`,
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
export type AddCommentRow = CommentPageRow & { readonly author_active: boolean; readonly blocked: boolean; readonly comment_count: number | null };

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

  async listComments(viewerId: string, postId: string, postBounds: { lowerTs: string; upperTs: string }, after: { ts: string; id: string }, limit: number, ctx: QueryContext): Promise<CommentPageRow[]> {
    return this.db.query<CommentPageRow>(feedQueries.listComments, [postId, postBounds.lowerTs, postBounds.upperTs, after.ts, after.id, limit, viewerId], ctx);
  }
}
