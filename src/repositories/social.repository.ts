import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import { iso, pairLockSql, shownName } from './sql-fragments.ts';

/**
 * The social graph in `relationships` (user_id → target_id, kind, status).
 * A friendship is two accepted 'friend' rows, one per direction, so "my friends" is a
 * primary-key prefix scan; a pending request is one 'friend' row with status 'pending'.
 * Every write is one statement that also checks the target exists and that no block
 * stands between the two users; the flags it returns let the service pick the error.
 *
 * Each write runs after the pair's lock (social.pair_lock) in its transaction. A statement's
 * checks read its snapshot, and under READ COMMITTED two concurrent statements miss each
 * other's uncommitted rows: a block racing a favourite (or a friend-accept's reverse row)
 * deleted what it saw and left the other's new row standing beside the block. With the lock
 * taken by an earlier statement, the write's snapshot is taken after the other write of the
 * same pair committed, so it sees that row (and the block check sees the block).
 */

/** A block in either direction between $1 and $2 (two primary-key probes). */
const BLOCK_BETWEEN = `
SELECT 1 FROM relationships b
WHERE b.kind = 'block' AND ((b.user_id = $1 AND b.target_id = $2) OR (b.user_id = $2 AND b.target_id = $1))`;

const PAIR_SAMPLE = {
  sql: `SELECT r.user_id, r.target_id FROM relationships r WHERE r.kind = 'friend' ORDER BY r.user_id, r.target_id LIMIT 1`,
} as const;

/**
 * The advisory-lock class of relationship pairs (two-int4 keys, "soc"): the two-key form never
 * conflicts with the one-bigint keys of leader election and partition maintenance.
 */

export const socialQueries = catalog({
  pairLock: defineQuery({
    name: 'social.pair_lock',
    description: 'Serializes the relationship writes of one pair of users (either direction) until the transaction ends; taken before the write so its snapshot sees the other write.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `SELECT ${pairLockSql('$1', '$2')}`,
  }),
  between: defineQuery({
    name: 'social.relationship_between',
    description: "The viewer's relationship rows with one other user, both directions (at most six primary-key hits). Feeds the profile view's relationship status.",
    target: 'replica',
    sample: PAIR_SAMPLE,
    sql: `
SELECT r.user_id = $1 AS outgoing, r.kind, r.status
FROM relationships r
WHERE (r.user_id = $1 AND r.target_id = $2) OR (r.user_id = $2 AND r.target_id = $1)`,
  }),
  favoriteAdd: defineQuery({
    name: 'social.favorite_add',
    description: 'Favourites a user unless a block stands between the two; idempotent.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH target AS (SELECT id FROM users WHERE id = $2 AND is_active),
blocked AS (${BLOCK_BETWEEN}),
ins AS (
  INSERT INTO relationships (user_id, target_id, kind, status)
  SELECT $1, t.id, 'favorite', 'accepted' FROM target t WHERE NOT EXISTS (SELECT 1 FROM blocked)
  ON CONFLICT (user_id, target_id, kind) DO NOTHING
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       EXISTS (SELECT 1 FROM blocked) AS blocked,
       EXISTS (SELECT 1 FROM ins) AS changed`,
  }),
  favoriteRemove: defineQuery({
    name: 'social.favorite_remove',
    description: 'Removes a favourite; idempotent.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH del AS (
  DELETE FROM relationships WHERE user_id = $1 AND target_id = $2 AND kind = 'favorite' RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM users WHERE id = $2) AS target_exists, false AS blocked,
       EXISTS (SELECT 1 FROM del) AS changed`,
  }),
  friendRequest: defineQuery({
    name: 'social.friend_request',
    description: 'Sends a friend request; if the other user already asked us, both rows become accepted (mutual request). Returns the resulting status.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH target AS (SELECT id FROM users WHERE id = $2 AND is_active),
blocked AS (${BLOCK_BETWEEN}),
ok AS (SELECT 1 FROM target WHERE NOT EXISTS (SELECT 1 FROM blocked)),
existing AS (SELECT status FROM relationships WHERE user_id = $1 AND target_id = $2 AND kind = 'friend'),
reverse AS (SELECT status FROM relationships WHERE user_id = $2 AND target_id = $1 AND kind = 'friend'),
acc AS (
  UPDATE relationships SET status = 'accepted', updated_at = now()
  WHERE user_id = $2 AND target_id = $1 AND kind = 'friend' AND status = 'pending' AND EXISTS (SELECT 1 FROM ok)
  RETURNING 1
),
ins AS (
  INSERT INTO relationships (user_id, target_id, kind, status)
  SELECT $1, $2, 'friend', CASE WHEN EXISTS (SELECT 1 FROM reverse) THEN 'accepted' ELSE 'pending' END FROM ok
  ON CONFLICT (user_id, target_id, kind) DO UPDATE SET status = 'accepted', updated_at = now()
    WHERE relationships.status = 'pending' AND EXCLUDED.status = 'accepted'
  RETURNING status
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       EXISTS (SELECT 1 FROM blocked) AS blocked,
       EXISTS (SELECT 1 FROM ins) AS changed,
       COALESCE((SELECT status FROM ins), (SELECT status FROM existing)) AS status`,
  }),
  friendAccept: defineQuery({
    name: 'social.friend_accept',
    description: 'Accepts the pending friend request from $2 to $1: the request row becomes accepted and the reverse row is written.',
    target: 'primary',
    sample: { sql: `SELECT r.target_id, r.user_id FROM relationships r WHERE r.kind = 'friend' ORDER BY r.status DESC, r.user_id LIMIT 1` },
    sql: `
WITH target AS (SELECT id FROM users WHERE id = $2 AND is_active),
req AS (
  -- A suspended account's pending request is not accepted (its requests and favourites are
  -- refused as to an unknown user): a friendship made now would open friends-only profiles to
  -- it once reinstated.
  UPDATE relationships SET status = 'accepted', updated_at = now()
  WHERE user_id = $2 AND target_id = $1 AND kind = 'friend' AND status = 'pending' AND EXISTS (SELECT 1 FROM target)
  RETURNING user_id
), mine AS (
  INSERT INTO relationships (user_id, target_id, kind, status)
  SELECT $1, req.user_id, 'friend', 'accepted' FROM req
  ON CONFLICT (user_id, target_id, kind) DO UPDATE SET status = 'accepted', updated_at = now()
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       false AS blocked,
       EXISTS (SELECT 1 FROM req) AS changed,
       CASE WHEN EXISTS (SELECT 1 FROM req)
              OR EXISTS (SELECT 1 FROM relationships WHERE user_id = $2 AND target_id = $1 AND kind = 'friend' AND status = 'accepted')
            THEN 'accepted' END AS status`,
  }),
  block: defineQuery({
    name: 'social.block',
    description: 'Blocks a user and removes friendship, favourites and pending join requests to each other\'s groups, in both directions, in one statement.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH target AS (SELECT id FROM users WHERE id = $2),
del AS (
  DELETE FROM relationships
  WHERE kind IN ('friend', 'favorite') AND EXISTS (SELECT 1 FROM target)
    AND ((user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1))
  RETURNING 1
), reqs AS (
  -- A private group's owner gets no join request across a block (group.join): one made before
  -- the block goes with it, either way (a moderator could still see and approve it).
  DELETE FROM group_join_requests jr USING community_groups g
  WHERE EXISTS (SELECT 1 FROM target) AND g.id = jr.group_id
    AND ((jr.user_id = $2 AND g.owner_id = $1) OR (jr.user_id = $1 AND g.owner_id = $2))
  RETURNING 1
), ins AS (
  INSERT INTO relationships (user_id, target_id, kind, status)
  SELECT $1, t.id, 'block', 'accepted' FROM target t
  ON CONFLICT (user_id, target_id, kind) DO NOTHING
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists, false AS blocked,
       EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM del) AS changed`,
  }),
  unblock: defineQuery({
    name: 'social.unblock',
    description: 'Lifts a block; idempotent.',
    target: 'primary',
    sample: PAIR_SAMPLE,
    sql: `
WITH del AS (
  DELETE FROM relationships WHERE user_id = $1 AND target_id = $2 AND kind = 'block' RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM users WHERE id = $2) AS target_exists, false AS blocked,
       EXISTS (SELECT 1 FROM del) AS changed`,
  }),
  list: defineQuery({
    name: 'social.relationships',
    description: "GET /api/social/relationships: the user's own rows (friends, requests sent, favourites, blocks) and friend requests received, keyset on (direction, other user, kind).",
    target: 'replica',
    sample: {
      sql: `SELECT user_id, '' AS direction, '00000000-0000-0000-0000-000000000000'::uuid AS other_id, '' AS kind, 51 AS lim
            FROM relationships GROUP BY user_id ORDER BY count(*) DESC LIMIT 1`,
    },
    // Each branch is an ordered, limited index scan (outgoing: relationships_pkey; incoming:
    // relationships_target_cover_idx), merged afterwards; the cursor condition per branch folds
    // to an index condition or to "branch done" once the planner sees the cursor values.
    sql: `
SELECT x.direction, x.other_id, x.kind, x.status, ${iso('x.created_at')} AS created_at,
       u.username, ${shownName('p')} AS display_name
FROM (
  (SELECT 'incoming'::text AS direction, r.user_id AS other_id, r.kind, r.status, r.created_at
   FROM relationships r
   WHERE r.target_id = $1 AND r.kind = 'friend' AND r.status = 'pending'
     AND ($2::text < 'incoming' OR ($2::text = 'incoming' AND (r.user_id, r.kind) > ($3::uuid, $4::text)))
   ORDER BY r.user_id, r.kind
   LIMIT $5)
  UNION ALL
  (SELECT 'outgoing'::text, r.target_id, r.kind, r.status, r.created_at
   FROM relationships r
   WHERE r.user_id = $1
     AND ($2::text < 'outgoing' OR ($2::text = 'outgoing' AND (r.target_id, r.kind) > ($3::uuid, $4::text)))
   ORDER BY r.target_id, r.kind
   LIMIT $5)
) x
JOIN users u ON u.id = x.other_id
LEFT JOIN profiles p ON p.user_id = x.other_id
ORDER BY x.direction, x.other_id, x.kind
LIMIT $5`,
  }),
});

export interface RelationshipEdgeRow { readonly outgoing: boolean; readonly kind: 'friend' | 'favorite' | 'block'; readonly status: 'pending' | 'accepted' }
export interface SocialWriteRow { readonly target_exists: boolean; readonly blocked: boolean; readonly changed: boolean; readonly status?: 'pending' | 'accepted' | null }
export interface RelationshipListRow {
  readonly direction: 'incoming' | 'outgoing';
  readonly other_id: string;
  readonly kind: 'friend' | 'favorite' | 'block';
  readonly status: 'pending' | 'accepted';
  readonly created_at: string;
  readonly username: string;
  readonly display_name: string | null;
}

export type SocialWrite = 'favoriteAdd' | 'favoriteRemove' | 'friendRequest' | 'friendAccept' | 'block' | 'unblock';

export class SocialRepository {
  constructor(private readonly db: Database) {}

  async between(viewerId: string, otherId: string, ctx: QueryContext): Promise<RelationshipEdgeRow[]> {
    return this.db.query<RelationshipEdgeRow>(socialQueries.between, [viewerId, otherId], ctx);
  }

  /** One relationship write after the pair's lock: in `q`'s transaction, or in one of its own when `q` is the database. */
  async write(op: SocialWrite, userId: string, targetId: string, q: Tx = this.db): Promise<SocialWriteRow> {
    const locked = async (tx: Tx) => {
      await tx.query(socialQueries.pairLock, [userId, targetId]);
      return tx.query<SocialWriteRow>(socialQueries[op], [userId, targetId]);
    };
    const rows = q === this.db ? await this.db.transaction(locked) : await locked(q);
    const row = rows[0];
    if (!row) throw new Error(`social.${op} returned no row`);
    return row;
  }

  async list(userId: string, after: { direction: string; otherId: string; kind: string }, limit: number, ctx: QueryContext): Promise<RelationshipListRow[]> {
    return this.db.query<RelationshipListRow>(socialQueries.list, [userId, after.direction, after.otherId, after.kind, limit], ctx);
  }
}
