import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * Activity reports over a period [$1, $2) (FR-007: window functions). Both aggregate
 * every row of the period, so they scan the period's partitions; the bounds are plan-time
 * constants, so partitions outside the period are pruned.
 */
const PERIOD_SCAN_JUSTIFICATION =
  'An activity report aggregates every row of its period: reading the period\'s partitions whole is the cheapest plan; the time bounds prune every other partition.';

export const reportQueries = catalog({
  mostActive: defineQuery({
    name: 'report.most_active_users',
    description: 'GET /api/reports/most-active: users ranked by messages sent plus posts written in the period, with rank(), share of all activity (sum() OVER ()) and running cumulative share.',
    target: 'replica',
    timeBounded: true,
    justify: { seq_scan: PERIOD_SCAN_JUSTIFICATION },
    sample: { sql: `SELECT now() - interval '7 days' AS since, now() AS until, 10 AS lim` },
    sql: `
WITH activity AS (
  SELECT m.sender_id AS user_id, count(*)::int AS messages, 0 AS posts
  FROM messages m WHERE m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz
  GROUP BY m.sender_id
  UNION ALL
  SELECT s.author_id, 0, count(*)::int
  FROM status_updates s WHERE s.created_at >= $1::timestamptz AND s.created_at < $2::timestamptz
  GROUP BY s.author_id
), totals AS (
  SELECT user_id, sum(messages)::int AS messages, sum(posts)::int AS posts, sum(messages + posts)::int AS total
  FROM activity GROUP BY user_id
), ranked AS (
  -- One sort serves all three: rank by total, running total in the same order, grand total.
  SELECT t.*,
         rank() OVER w AS rank,
         round(100.0 * t.total / sum(t.total) OVER (), 3)::float8 AS share_pct,
         round(100.0 * sum(t.total) OVER (w ROWS UNBOUNDED PRECEDING) / sum(t.total) OVER (), 3)::float8 AS cumulative_share_pct
  FROM totals t
  WINDOW w AS (ORDER BY t.total DESC)
)
SELECT r.rank::int, r.user_id, u.username, p.display_name, r.messages, r.posts, r.total, r.share_pct, r.cumulative_share_pct
FROM (SELECT * FROM ranked ORDER BY rank, user_id LIMIT $3) r
JOIN users u ON u.id = r.user_id
LEFT JOIN profiles p ON p.user_id = r.user_id
ORDER BY r.rank, r.user_id`,
  }),
  topPosts: defineQuery({
    name: 'report.top_posts',
    description: 'GET /api/reports/top-posts: the period\'s most commented posts, at most one per author (row_number() per author), ranked with rank(); top_pct is the share of authors\' best posts ranked above it.',
    target: 'replica',
    timeBounded: true,
    justify: { seq_scan: PERIOD_SCAN_JUSTIFICATION },
    sample: { sql: `SELECT now() - interval '7 days' AS since, now() AS until, 10 AS lim` },
    sql: `
WITH period AS (
  SELECT s.id, s.author_id, s.content, s.comment_count, s.created_at,
         row_number() OVER (PARTITION BY s.author_id ORDER BY s.comment_count DESC, s.created_at DESC, s.id) AS author_rank,
         count(*) OVER (PARTITION BY s.author_id) AS author_posts
  FROM status_updates s
  WHERE s.created_at >= $1::timestamptz AND s.created_at < $2::timestamptz
), best AS (
  -- One sort: rank by comments, and how far up the period's field that rank is.
  SELECT b.*,
         rank() OVER w AS rank,
         round(100.0 * (rank() OVER w - 1) / count(*) OVER (), 2)::float8 AS top_pct
  FROM period b WHERE b.author_rank = 1
  WINDOW w AS (ORDER BY b.comment_count DESC)
)
SELECT b.rank::int, b.id, b.author_id, u.username AS author_username, p.display_name AS author_display_name,
       b.content, b.comment_count, b.author_posts::int, b.top_pct,
       ${iso('b.created_at')} AS created_at
FROM (SELECT * FROM best ORDER BY rank, created_at DESC, id LIMIT $3) b
JOIN users u ON u.id = b.author_id
LEFT JOIN profiles p ON p.user_id = b.author_id
ORDER BY b.rank, b.created_at DESC, b.id`,
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
export interface TopPostRow {
  readonly rank: number;
  readonly id: string;
  readonly author_id: string;
  readonly author_username: string;
  readonly author_display_name: string | null;
  readonly content: string;
  readonly comment_count: number;
  readonly author_posts: number;
  readonly top_pct: number;
  readonly created_at: string;
}

export class ReportRepository {
  constructor(private readonly db: Database) {}

  async mostActive(since: string, until: string, limit: number, ctx: QueryContext): Promise<MostActiveRow[]> {
    return this.db.query<MostActiveRow>(reportQueries.mostActive, [since, until, limit], ctx);
  }

  async topPosts(since: string, until: string, limit: number, ctx: QueryContext): Promise<TopPostRow[]> {
    return this.db.query<TopPostRow>(reportQueries.topPosts, [since, until, limit], ctx);
  }
}
