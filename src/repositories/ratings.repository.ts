import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';

/**
 * Profile ratings: one row per (rater, rated) in profile_ratings. The profile's average
 * and count are not stored anywhere else; profile.get computes them from these rows
 * (index-only on profile_ratings_rated_id_idx), so concurrent ratings can never leave a
 * stale aggregate behind: there is no aggregate to race on. Suspended raters are left out
 * (migration 0035), so a suspension or a reinstatement needs no recount. The profile cache
 * is invalidated after commit (WriteHooks.profileChanged), by the profile_ratings triggers
 * of migration 0004, and by the users trigger for a rater's suspension (0035).
 *
 * The average each write returns is computed in the same statement: the other raters'
 * rows as of the statement's snapshot plus this rater's new score (the statement cannot
 * see its own insert), so it is exactly what profile.get would show right after commit
 * unless someone else rated in between.
 */

/** A block in either direction between $1 and $2 (two primary-key probes). */
const BLOCK_BETWEEN = `
SELECT 1 FROM relationships b
WHERE b.kind = 'block' AND ((b.user_id = $1 AND b.target_id = $2) OR (b.user_id = $2 AND b.target_id = $1))`;

/**
 * The other raters' sum and count for $2: all of $2's ratings but suspended raters', as
 * profile.get counts them (index-only on profile_ratings_rated_id_idx, a users probe each),
 * minus rater $1's own row (a primary-key probe; $1 is signed in, so not
 * suspended), both read in the statement's one snapshot.
 */
const OTHERS = `
SELECT (a.total - coalesce(m.score, 0))::int AS total, (a.n - CASE WHEN m.score IS NULL THEN 0 ELSE 1 END)::int AS n
FROM (SELECT coalesce(sum(pr.score), 0) AS total, count(*) AS n FROM profile_ratings pr
      WHERE pr.rated_id = $2 AND NOT EXISTS (SELECT 1 FROM users ru WHERE ru.id = pr.rater_id AND NOT ru.is_active)) a
LEFT JOIN profile_ratings m ON m.rater_id = $1 AND m.rated_id = $2`;

/** A rater of the most rated profile: the largest aggregate any rating write computes. */
const PAIR_OF_BUSIEST = `
  SELECT pr.rater_id, pr.rated_id FROM profile_ratings pr
  WHERE pr.rated_id = (SELECT rated_id FROM profile_ratings GROUP BY rated_id ORDER BY count(*) DESC LIMIT 1)
  ORDER BY pr.rater_id LIMIT 1`;
const PAIR_SAMPLE = { sql: PAIR_OF_BUSIEST } as const;
const SCORE_SAMPLE = { sql: `SELECT b.rater_id, b.rated_id, 4 AS score FROM (${PAIR_OF_BUSIEST}) b` } as const;

export const ratingQueries = catalog({
  upsert: defineQuery({
    name: 'rating.upsert',
    description: 'PUT /api/profiles/:id/rating: one rating per rater and profile (insert or change), refused across a block; returns the new average and count.',
    target: 'primary',
    sample: SCORE_SAMPLE,
    sql: `
WITH target AS (SELECT u.id FROM users u WHERE u.id = $2 AND u.is_active),
blocked AS (${BLOCK_BETWEEN}),
up AS (
  INSERT INTO profile_ratings AS pr (rater_id, rated_id, score)
  SELECT $1, t.id, $3 FROM target t WHERE NOT EXISTS (SELECT 1 FROM blocked)
  ON CONFLICT (rater_id, rated_id) DO UPDATE SET score = EXCLUDED.score
  RETURNING pr.score
),
others AS (${OTHERS})
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       EXISTS (SELECT 1 FROM blocked) AS blocked,
       up.score,
       CASE WHEN up.score IS NULL THEN NULL
            ELSE round((o.total + up.score)::numeric / (o.n + 1), 2)::float8 END AS rating_average,
       CASE WHEN up.score IS NULL THEN o.n ELSE o.n + 1 END AS rating_count
FROM others o
LEFT JOIN up ON true`,
  }),
  remove: defineQuery({
    name: 'rating.remove',
    description: 'DELETE /api/profiles/:id/rating: withdraws the rater\'s rating (idempotent); returns the average and count without it.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH del AS (
  DELETE FROM profile_ratings WHERE rater_id = $1 AND rated_id = $2 RETURNING score
),
others AS (${OTHERS})
SELECT EXISTS (SELECT 1 FROM users WHERE id = $2 AND is_active) AS target_exists,
       false AS blocked,
       (SELECT score FROM del) AS score,
       CASE WHEN o.n = 0 THEN NULL ELSE round(o.total::numeric / o.n, 2)::float8 END AS rating_average,
       o.n AS rating_count,
       EXISTS (SELECT 1 FROM del) AS changed
FROM others o`,
  }),
  mine: defineQuery({
    name: 'rating.mine',
    description: "GET /api/profiles/:id/rating: the viewer's own score for a profile (a primary-key probe).",
    target: 'replica',
    sample: PAIR_SAMPLE,
    sql: `
SELECT pr.score FROM profile_ratings pr WHERE pr.rater_id = $1 AND pr.rated_id = $2`,
  }),
});

export interface RatingWriteRow {
  readonly target_exists: boolean;
  readonly blocked: boolean;
  /** The rater's score after the write (null when nothing was written, or after removal: the removed score). */
  readonly score: number | null;
  readonly rating_average: number | null;
  readonly rating_count: number;
  readonly changed?: boolean;
}

export class RatingRepository {
  constructor(private readonly db: Database) {}

  async upsert(raterId: string, ratedId: string, score: number): Promise<RatingWriteRow> {
    return one(await this.db.query<RatingWriteRow>(ratingQueries.upsert, [raterId, ratedId, score]), 'rating.upsert');
  }

  async remove(raterId: string, ratedId: string): Promise<RatingWriteRow> {
    return one(await this.db.query<RatingWriteRow>(ratingQueries.remove, [raterId, ratedId]), 'rating.remove');
  }

  async mine(raterId: string, ratedId: string, ctx: QueryContext): Promise<number | null> {
    const rows = await this.db.query<{ score: number }>(ratingQueries.mine, [raterId, ratedId], ctx);
    return rows[0]?.score ?? null;
  }
}

function one(rows: RatingWriteRow[], name: string): RatingWriteRow {
  const row = rows[0];
  if (!row) throw new Error(`${name} returned no row`);
  return row;
}
