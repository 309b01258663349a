/**
 * What the harness reads from a seeded database to build realistic requests. Seeded
 * entities are numbered in creation order and a lower number means more activity (the
 * seed's Zipf rank, src/tools/seed/world.ts), so `ORDER BY created_at` is most-popular-first.
 */
export const DATA_SQL = {
  actors: `SELECT id, email FROM users WHERE is_active ORDER BY created_at, id LIMIT $1`,
  /** Each actor's conversations, most recently active first (the inbox index order). */
  /**
   * Each actor's conversations, most recently active first (the inbox index order),
   * without those where either side blocked the other: sending there is refused (403).
   */
  conversations: `SELECT m.user_id, array_agg(c.conversation_id ORDER BY c.last_message_at DESC NULLS LAST) AS ids
    FROM unnest($1::uuid[]) AS m(user_id)
    CROSS JOIN LATERAL (
      SELECT cm.conversation_id, cm.last_message_at
        FROM conversation_members cm
        JOIN conversations cv ON cv.id = cm.conversation_id
       WHERE cm.user_id = m.user_id
         AND NOT EXISTS (SELECT 1 FROM relationships r WHERE r.kind = 'block'
               AND ((r.user_id = cv.user_low AND r.target_id = cv.user_high) OR (r.user_id = cv.user_high AND r.target_id = cv.user_low)))
       ORDER BY cm.last_message_at DESC NULLS LAST
       LIMIT $2) c
    GROUP BY m.user_id`,
  /** Profiles anyone may read (active, public), most active users first. */
  profileIds: `SELECT u.id FROM users u JOIN profiles p ON p.user_id = u.id
    WHERE u.is_active AND p.privacy_level = 'public' ORDER BY u.created_at, u.id LIMIT $1`,
  /** Each actor's active groups, busiest first (most members), at most $2. */
  groups: `SELECT m.user_id, array_agg(g.group_id ORDER BY g.members DESC, g.group_id) AS ids
    FROM unnest($1::uuid[]) AS m(user_id)
    CROSS JOIN LATERAL (
      SELECT gm.group_id, (SELECT count(*) FROM group_memberships x WHERE x.group_id = gm.group_id) AS members
        FROM group_memberships gm JOIN community_groups cg ON cg.id = gm.group_id AND cg.is_active
       WHERE gm.user_id = m.user_id
       ORDER BY members DESC LIMIT $2) g
    GROUP BY m.user_id`,
  /** Public profiles with photos, most photos first. */
  galleryOwners: `SELECT ph.owner_id AS id FROM photos ph
    JOIN users u ON u.id = ph.owner_id AND u.is_active
    JOIN profiles p ON p.user_id = ph.owner_id AND p.privacy_level = 'public' AND p.hidden_at IS NULL
    GROUP BY ph.owner_id ORDER BY count(*) DESC, ph.owner_id LIMIT $1`,
  /**
   * The newest public posts of active authors, newest first (status_updates_created_idx):
   * what the global feed shows first, so what gets commented. Group posts and hidden posts
   * are not commented through /api/feed/:postId/comments.
   */
  recentPosts: `SELECT s.id::text AS id, s.author_id::text AS author_id FROM status_updates s
    JOIN users u ON u.id = s.author_id AND u.is_active
    WHERE s.created_at <= now() AND s.group_id IS NULL AND s.hidden_at IS NULL
    ORDER BY s.created_at DESC, s.id DESC LIMIT $1`,
  /** Blocks involving an actor: a blocked pair's profile reads answer 404, so the generator avoids them. */
  blocks: `SELECT user_id::text AS a, target_id::text AS b FROM relationships
    WHERE kind = 'block' AND (user_id = ANY($1::uuid[]) OR target_id = ANY($1::uuid[]))`,
  rooms: `SELECT id FROM chat_rooms WHERE is_active ORDER BY created_at, id LIMIT 200`,
  places: `SELECT city, state, avg(lat)::float8 AS lat, avg(lng)::float8 AS lng
    FROM (SELECT city, state, lat, lng FROM profiles WHERE city IS NOT NULL AND state IS NOT NULL LIMIT 20000) p
    GROUP BY city, state ORDER BY count(*) DESC LIMIT 100`,
  interests: `SELECT x AS v FROM (SELECT interests FROM profiles LIMIT 20000) p, jsonb_array_elements_text(p.interests) x
    GROUP BY x ORDER BY count(*) DESC LIMIT 100`,
  roles: `SELECT x AS v FROM (SELECT roles FROM profiles LIMIT 20000) p, jsonb_array_elements_text(p.roles) x
    GROUP BY x ORDER BY count(*) DESC LIMIT 50`,
  bios: `SELECT bio FROM profiles WHERE bio IS NOT NULL LIMIT 500`,
  /** Scalar top-level metadata attributes, as one-key JSON objects for `metadata=` filters. */
  metadataFilters: `SELECT jsonb_build_object(e.key, e.value)::text AS v
    FROM (SELECT metadata FROM profiles LIMIT 20000) p, jsonb_each(p.metadata) e
   WHERE jsonb_typeof(e.value) IN ('string', 'boolean', 'number')
   GROUP BY e.key, e.value ORDER BY count(*) DESC LIMIT 100`,
  /** Sessions created by the harness's logins, to give the baseline database the same ones. */
  sessionsById: `SELECT coalesce(json_agg(s), '[]'::json)::text AS rows FROM sessions s WHERE s.user_id = ANY($1::uuid[]) AND s.created_at >= $2`,
  insertSessions: `INSERT INTO sessions SELECT * FROM json_populate_recordset(NULL::sessions, $1::json) ON CONFLICT DO NOTHING`,
} as const;
