import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { iso } from './sql-fragments.ts';

/**
 * The profile read model and its one write. `profile.get` is viewer-independent on
 * purpose: it is what the cache stores (ProfileReader); the viewer's relationship to the
 * profile is a separate tiny statement (social.relationship_between).
 */

/** The columns of the viewer-independent profile view; `u` is users, `p` profiles, `r` the rating lateral. */
const PROFILE_VIEW_COLUMNS = `
  u.id, u.username, p.display_name, p.bio, to_char(p.birthdate, 'YYYY-MM-DD') AS birthdate,
  p.gender, p.ethnicity, p.height_cm, p.body_type, p.relationship_status, p.city, p.state,
  p.lat, p.lng, p.roles, p.interests, p.metadata, p.privacy_level,
  ${iso('p.last_active_at')} AS last_active_at, ${iso('u.created_at')} AS created_at, ${iso('p.updated_at')} AS updated_at,
  r.rating_average, r.rating_count, p.hidden_at IS NOT NULL AS hidden`;

/**
 * Average and count of ratings, index-only on profile_ratings_rated_id_idx (rated_id) INCLUDE
 * (score, rater_id), without suspended raters (migration 0035: a suspended account's content
 * counts nowhere, as its comments leave comment_count; a users probe per rating, as a group's
 * member_count makes per member).
 */
const RATING_LATERAL = `
LEFT JOIN LATERAL (
  SELECT round(avg(pr.score), 2)::float8 AS rating_average, count(*)::int AS rating_count
  FROM profile_ratings pr WHERE pr.rated_id = u.id
    AND NOT EXISTS (SELECT 1 FROM users ru WHERE ru.id = pr.rater_id AND NOT ru.is_active)
) r ON true`;

export const profileQueries = catalog({
  get: defineQuery({
    name: 'profile.get',
    description: 'One profile with its user name and rating average/count, suspended raters left out (viewer-independent; cached by the ProfileReader).',
    target: 'replica',
    sample: { sql: `SELECT rated_id FROM profile_ratings GROUP BY rated_id ORDER BY count(*) DESC LIMIT 1` },
    sql: `
SELECT ${PROFILE_VIEW_COLUMNS}
FROM users u
JOIN profiles p ON p.user_id = u.id
${RATING_LATERAL}
WHERE u.id = $1 AND u.is_active`,
  }),
  getMany: defineQuery({
    name: 'profile.get_many',
    description: 'Many profile views by user id (same columns as profile.get): cache warming loads a batch of ids in one statement.',
    target: 'replica',
    sample: { sql: `SELECT array_agg(user_id) AS ids FROM (SELECT user_id FROM profiles ORDER BY last_active_at DESC LIMIT 250) s` },
    sql: `
SELECT ${PROFILE_VIEW_COLUMNS}
FROM users u
JOIN profiles p ON p.user_id = u.id
${RATING_LATERAL}
WHERE u.id = ANY($1::uuid[]) AND u.is_active`,
  }),
  update: defineQuery({
    name: 'profile.update',
    description: 'PUT /api/profiles/me: applies the keys present in a JSON patch (absent keys keep their value, null clears) and returns the new view, in one statement.',
    target: 'primary',
    sample: { sql: `SELECT user_id, '{"bio":"explain audit","interests":["hiking"]}'::jsonb AS patch FROM profiles ORDER BY user_id LIMIT 1` },
    sql: `
WITH p AS (
  UPDATE profiles p SET
    display_name = CASE WHEN $2::jsonb ? 'display_name' THEN $2::jsonb ->> 'display_name' ELSE p.display_name END,
    bio = CASE WHEN $2::jsonb ? 'bio' THEN $2::jsonb ->> 'bio' ELSE p.bio END,
    birthdate = CASE WHEN $2::jsonb ? 'birthdate' THEN ($2::jsonb ->> 'birthdate')::date ELSE p.birthdate END,
    gender = CASE WHEN $2::jsonb ? 'gender' THEN $2::jsonb ->> 'gender' ELSE p.gender END,
    ethnicity = CASE WHEN $2::jsonb ? 'ethnicity' THEN $2::jsonb ->> 'ethnicity' ELSE p.ethnicity END,
    height_cm = CASE WHEN $2::jsonb ? 'height_cm' THEN ($2::jsonb ->> 'height_cm')::smallint ELSE p.height_cm END,
    body_type = CASE WHEN $2::jsonb ? 'body_type' THEN $2::jsonb ->> 'body_type' ELSE p.body_type END,
    relationship_status = CASE WHEN $2::jsonb ? 'relationship_status' THEN $2::jsonb ->> 'relationship_status' ELSE p.relationship_status END,
    city = CASE WHEN $2::jsonb ? 'city' THEN $2::jsonb ->> 'city' ELSE p.city END,
    state = CASE WHEN $2::jsonb ? 'state' THEN $2::jsonb ->> 'state' ELSE p.state END,
    lat = CASE WHEN $2::jsonb ? 'lat' THEN ($2::jsonb ->> 'lat')::float8 ELSE p.lat END,
    lng = CASE WHEN $2::jsonb ? 'lng' THEN ($2::jsonb ->> 'lng')::float8 ELSE p.lng END,
    roles = CASE WHEN $2::jsonb ? 'roles' THEN $2::jsonb -> 'roles' ELSE p.roles END,
    interests = CASE WHEN $2::jsonb ? 'interests' THEN $2::jsonb -> 'interests' ELSE p.interests END,
    metadata = CASE WHEN $2::jsonb ? 'metadata' THEN $2::jsonb -> 'metadata' ELSE p.metadata END,
    privacy_level = CASE WHEN $2::jsonb ? 'privacy_level' THEN $2::jsonb ->> 'privacy_level' ELSE p.privacy_level END,
    last_active_at = now(),
    updated_at = now()
  WHERE p.user_id = $1
  RETURNING p.*
)
SELECT ${PROFILE_VIEW_COLUMNS}
FROM p
JOIN users u ON u.id = p.user_id
${RATING_LATERAL}`,
  }),
});

export interface ProfileRow {
  readonly id: string;
  readonly username: string;
  readonly display_name: string | null;
  readonly bio: string | null;
  readonly birthdate: string | null;
  readonly gender: string | null;
  readonly ethnicity: string | null;
  readonly height_cm: number | null;
  readonly body_type: string | null;
  readonly relationship_status: string | null;
  readonly city: string | null;
  readonly state: string | null;
  readonly lat: number | null;
  readonly lng: number | null;
  readonly roles: string[];
  readonly interests: string[];
  readonly metadata: Record<string, unknown>;
  readonly privacy_level: 'public' | 'friends' | 'private';
  readonly last_active_at: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly rating_average: number | null;
  readonly rating_count: number;
  /** Hidden by a moderator (migration 0014): shown to its owner only. */
  readonly hidden: boolean;
}

export class ProfileRepository {
  constructor(private readonly db: Database) {}

  async get(userId: string, ctx: QueryContext): Promise<ProfileRow | undefined> {
    const rows = await this.db.query<ProfileRow>(profileQueries.get, [userId], ctx);
    return rows[0];
  }

  /** The views of those of `userIds` that exist and are active, in no particular order. */
  async getMany(userIds: readonly string[], ctx: QueryContext): Promise<ProfileRow[]> {
    if (userIds.length === 0) return [];
    return this.db.query<ProfileRow>(profileQueries.getMany, [userIds], ctx);
  }

  /** `patch` holds only the keys to change; its JSON goes to the statement as one jsonb parameter. */
  async update(userId: string, patch: Record<string, unknown>): Promise<ProfileRow | undefined> {
    const rows = await this.db.query<ProfileRow>(profileQueries.update, [userId, JSON.stringify(patch)]);
    return rows[0];
  }
}
