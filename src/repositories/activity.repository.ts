import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import type { PostRow } from './feed.repository.ts';
import { iso, shownName } from './sql-fragments.ts';
import { authorActive, notBlocked } from './post-sql.ts';

/**
 * User-activity reports over a period [$1, $2) (FR-007: window functions); named `activity.*`
 * so they are never mistaken for the monthly database report (src/ops/report, `report.*`). Both aggregate
 * every row of the period, so their cost grows with the period's rows: measured on a copy
 * of `large` in docs/PERFORMANCE.md ("Query tuning"). The bounds are plan-time constants,
 * so partitions outside the period are pruned. What keeps them cheap:
 *  - the aggregates run on narrow rows and hash (no sort of the whole period);
 *  - windows that rank or accumulate run on the final handful of rows, and only those
 *    rows are joined to users, profiles and (for posts) their content.
 */
const PERIOD_SCAN_JUSTIFICATION =
  'An activity report aggregates every row of its period: reading the period\'s partitions whole is the cheapest plan; the time bounds prune every other partition.';

export const activityQueries = catalog({
  mostActive: defineQuery({
    name: 'activity.most_active_users',
    description: 'GET /api/reports/most-active: users ranked by messages sent plus posts written in the period (messages and feed posts that are not hidden), with rank(), share of the activity of the users the viewer ($4) may see (sum() OVER ()) and running cumulative share; none blocking or blocked by the viewer, no suspended account.',
    target: 'replica',
    timeBounded: true,
    justify: { seq_scan: PERIOD_SCAN_JUSTIFICATION },
    sample: { sql: `SELECT now() - interval '7 days' AS since, now() AS until, 10 AS lim,
                          (SELECT r.user_id FROM relationships r WHERE r.kind = 'block' ORDER BY r.user_id LIMIT 1) AS viewer` },
    // Messages are counted per sender through messages_created_at_sender_idx (0009): an
    // index-only range scan of the period. The ones a moderator hid are taken off from their
    // cases (`hidden`): moderation.resolve is the only writer of messages.hidden_at and records
    // a case per hide, so the count needs no heap access to messages, and no rebuild of that
    // index on the largest table (a partial one would block sends while it is built). Each side is
    // grouped on its own column, so the planner's group counts come from column statistics (a GROUP BY over a UNION ALL
    // would be guessed at 200 groups: 180x off on `large`). The full join merges the two
    // (users who only posted, or only sent). The grand total is one window over every user
    // the viewer may see; rank and the running total then need only the top $3 rows: a user's rank is
    // decided by those above it, and all of them are within the top $3.
    sql: `
WITH counted AS (
  SELECT m.sender_id AS user_id, count(*)::int AS messages
  FROM messages m WHERE m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz
  GROUP BY m.sender_id
), hidden AS (
  -- Not hidden by a moderator, as the posts below (before, a hidden message still counted).
  -- A case hides its message when resolved 'hidden' or 'suspended' (moderation.resolve).
  SELECT c.target_user_id AS user_id, count(*)::int AS messages
  FROM moderation_cases c
  WHERE c.target_kind = 'message' AND c.status IN ('hidden', 'suspended')
    AND c.target_created_at >= $1::timestamptz AND c.target_created_at < $2::timestamptz
  GROUP BY c.target_user_id
), sent AS (
  SELECT n.user_id, n.messages - coalesce(h.messages, 0) AS messages
  FROM counted n LEFT JOIN hidden h ON h.user_id = n.user_id
  WHERE n.messages > coalesce(h.messages, 0)
), posted AS (
  SELECT s.author_id AS user_id, count(*)::int AS posts
  FROM status_updates s WHERE s.created_at >= $1::timestamptz AND s.created_at < $2::timestamptz
    -- The posts anyone may see, as in the top posts: not a group's (its members only, so a count
    -- of them told outsiders of private activity), not hidden by a moderator.
    AND s.group_id IS NULL AND s.hidden_at IS NULL
  GROUP BY s.author_id
), top AS (
  SELECT coalesce(a.user_id, b.user_id) AS user_id, coalesce(a.messages, 0) AS messages, coalesce(b.posts, 0) AS posts,
         coalesce(a.messages, 0) + coalesce(b.posts, 0) AS total,
         sum(coalesce(a.messages, 0) + coalesce(b.posts, 0)) OVER () AS grand_total
  FROM sent a FULL JOIN posted b ON b.user_id = a.user_id
  -- Ranked among the users the viewer may see, as the top posts are: not those blocking or
  -- blocked by the viewer, not suspended accounts (their names are shown).
  WHERE ${notBlocked('$4::uuid', 'coalesce(a.user_id, b.user_id)')}
    AND EXISTS (SELECT 1 FROM users au WHERE au.id = coalesce(a.user_id, b.user_id) AND au.is_active)
  ORDER BY total DESC, user_id
  LIMIT $3
), ranked AS (
  SELECT t.user_id, t.messages, t.posts, t.total,
         rank() OVER (ORDER BY t.total DESC) AS rank,
         round(100.0 * t.total / t.grand_total, 3)::float8 AS share_pct,
         -- In output order (ties by user_id), so the running share never steps back.
         round(100.0 * sum(t.total) OVER (ORDER BY t.total DESC, t.user_id ROWS UNBOUNDED PRECEDING) / t.grand_total, 3)::float8 AS cumulative_share_pct
  FROM top t
)
SELECT r.rank::int, r.user_id, u.username, ${shownName('p')} AS display_name, r.messages, r.posts, r.total, r.share_pct, r.cumulative_share_pct
FROM ranked r
JOIN users u ON u.id = r.user_id
LEFT JOIN profiles p ON p.user_id = r.user_id
ORDER BY r.rank, r.user_id`,
  }),
  topPosts: defineQuery({
    name: 'activity.top_posts',
    description: 'GET /api/reports/top-posts: the period\'s most commented posts, at most one per author (none of a suspended account) (the best by comments, then newest), ranked with rank(); top_pct is the share of authors\' best posts ranked above it.',
    target: 'replica',
    timeBounded: true,
    justify: { seq_scan: PERIOD_SCAN_JUSTIFICATION },
    sample: { sql: `SELECT now() - interval '7 days' AS since, now() AS until, 10 AS lim,
                          (SELECT r.user_id FROM relationships r WHERE r.kind = 'block' ORDER BY r.user_id LIMIT 1) AS viewer` },
    // One hash pass finds each author's best post without sorting the period: max() over
    // the array [comment_count, created_at as epoch seconds] compares element by element,
    // so it is the key of the post with most comments, newest among equals (float8 epoch
    // seconds keep distinct microseconds distinct and in order). rank() and count() OVER ()
    // then run on one row per author. Only the top $3 authors by that key (WITH TIES: equal
    // keys stay) fetch their post: newest with that comment count, lowest id on an exact
    // tie, as row_number() over (comment_count DESC, created_at DESC, id) would pick it.
    // Cost stays flat when many authors tie (e.g. a period without comments yet).
    sql: `
WITH authors AS (
  SELECT s.author_id, count(*) AS author_posts,
         max(ARRAY[s.comment_count::float8, date_part('epoch', s.created_at)]) AS best
  FROM status_updates s
  WHERE s.created_at >= $1::timestamptz AND s.created_at < $2::timestamptz
    AND s.group_id IS NULL -- a group's posts are for its members only (migration 0013)
    AND s.hidden_at IS NULL -- hidden by a moderator (migration 0014)
    -- Not the posts of users blocking or blocked by the viewer, as in the feeds: ranked among the rest.
    AND ${notBlocked('$4::uuid')}
  GROUP BY s.author_id
), ranked AS (
  SELECT a.author_id, a.author_posts, a.best[1] AS comment_count,
         rank() OVER (ORDER BY a.best[1] DESC) AS rank,
         count(*) OVER () AS authors
  FROM authors a
  -- Ranked among authors whose posts show: not suspended accounts (one probe per author, after
  -- the period is grouped; before, a suspended author's best post and name were listed).
  WHERE ${authorActive('a.author_id')}
  ORDER BY a.best[1] DESC, a.best[2] DESC
  FETCH FIRST $3 ROWS WITH TIES
)
SELECT r.rank::int, post.id, r.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name,
       post.content, post.comment_count, r.author_posts::int,
       round(100.0 * (r.rank - 1) / r.authors, 2)::float8 AS top_pct,
       ${iso('post.created_at')} AS created_at
FROM ranked r
CROSS JOIN LATERAL (
  SELECT s.id, s.content, s.comment_count, s.created_at FROM status_updates s
  WHERE s.author_id = r.author_id AND s.created_at >= $1::timestamptz AND s.created_at < $2::timestamptz
    AND s.comment_count = r.comment_count AND s.group_id IS NULL AND s.hidden_at IS NULL
  ORDER BY s.created_at DESC, s.id
  LIMIT 1
) post
JOIN users u ON u.id = r.author_id
LEFT JOIN profiles p ON p.user_id = r.author_id
ORDER BY r.rank, post.created_at DESC, post.id
LIMIT $3`,
  }),
});

export interface MostActiveRow {
  readonly rank: number;
  readonly user_id: string;
  readonly username: string;
  readonly display_name: string | null;
  readonly messages: number;
  readonly posts: number;
  readonly total: number;
  readonly share_pct: number;
  readonly cumulative_share_pct: number;
}
/** A feed post ranked among the month's most commented, with its author's share. */
export type TopPostRow = PostRow & { readonly rank: number; readonly author_posts: number; readonly top_pct: number };

export class ActivityRepository {
  constructor(private readonly db: Database) {}

  async mostActive(viewerId: string, since: string, until: string, limit: number, ctx: QueryContext): Promise<MostActiveRow[]> {
    return this.db.query<MostActiveRow>(activityQueries.mostActive, [since, until, limit, viewerId], ctx);
  }

  async topPosts(viewerId: string, since: string, until: string, limit: number, ctx: QueryContext): Promise<TopPostRow[]> {
    return this.db.query<TopPostRow>(activityQueries.topPosts, [since, until, limit, viewerId], ctx);
  }
}
