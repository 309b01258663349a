import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext, Tx } from '../db/database.ts';
import { iso, pairLockSql, shownName } from './sql-fragments.ts';
import { notBlocked } from './post-sql.ts';

/**
 * Community groups and their members (migration 0013). A group's creator is its owner
 * (a group_memberships row with role 'owner'); public groups are joined at once, private
 * ones through a group_join_requests row that an owner or moderator approves. Member
 * counts are counted per listed group (group_memberships_pkey, a users probe per member for
 * suspended accounts) rather than kept in a column, so joins and leaves never contend on the
 * group row, and they count the members the viewer's member list shows.
 * Every write is one statement that also returns the flags the service needs to pick
 * the error (no such group, not allowed), as in social.repository.ts, and a membership's
 * writes (join, leave, a decision on its request) run after the (group, user) lock in their
 * transaction (group.member_lock): a leave racing an approval read a snapshot without the
 * new membership, deleted nothing and answered "none" while the user became a member.
 */

/** The advisory-lock class of (group, user) memberships (two-int4 keys, "grp"), apart from social pairs and the one-bigint keys. */
const MEMBER_LOCK_CLASS = 0x677270;

/** The columns of a group as the API shows it, for viewer $1; `g` is community_groups. */
const GROUP_COLUMNS = `
  g.id, g.name, g.description, g.visibility, g.owner_id, ${iso('g.created_at')} AS created_at,
  -- The members group.members lists to this viewer: not suspended accounts, none blocking or
  -- blocked by the viewer (a count above the list told the viewer a hidden member was there).
  (SELECT count(*)::int FROM group_memberships c JOIN users cu ON cu.id = c.user_id AND cu.is_active
   WHERE c.group_id = g.id AND ${notBlocked('$1::uuid', 'c.user_id')}) AS member_count,
  (SELECT m.role FROM group_memberships m WHERE m.group_id = g.id AND m.user_id = $1) AS my_role,
  EXISTS (SELECT 1 FROM group_join_requests r WHERE r.group_id = g.id AND r.user_id = $1) AS requested`;

/** The viewer $2's role in group $1 (a primary-key probe), for the permission checks. */
const ROLE_OF = (user: string) => `(SELECT m.role FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = ${user})`;

const BIGGEST_GROUP = `
  SELECT m.group_id FROM group_memberships m JOIN community_groups g ON g.id = m.group_id AND g.is_active
  GROUP BY m.group_id ORDER BY count(*) DESC, m.group_id LIMIT 1`;
const GROUP_AND_MEMBER = {
  sql: `SELECT m.group_id, m.user_id FROM group_memberships m WHERE m.group_id = (${BIGGEST_GROUP}) ORDER BY m.role DESC, m.user_id LIMIT 1`,
} as const;

export const groupQueries = catalog({
  memberLock: defineQuery({
    name: 'group.member_lock',
    description: "Serializes the writes of one user's membership of one group (join, leave, a decision on the request) until the transaction ends; taken before the write so its snapshot sees the other write.",
    target: 'primary',
    sample: GROUP_AND_MEMBER,
    sql: `SELECT pg_advisory_xact_lock(${MEMBER_LOCK_CLASS}, hashtext($1::uuid::text || $2::uuid::text))`,
  }),
  ownerPairLock: defineQuery({
    name: 'group.owner_pair_lock',
    description: "Before a join of a private group: the pair lock of the user and the group's owner (social.pair_lock), so a block between them committed meanwhile is seen by the join's check, and a block's delete of requests sees this one. Nothing for a public group.",
    target: 'primary',
    sample: GROUP_AND_MEMBER,
    sql: `SELECT ${pairLockSql('$2', 'g.owner_id')} FROM community_groups g WHERE g.id = $1 AND g.visibility = 'private' AND g.owner_id IS NOT NULL AND g.owner_id <> $2`,
  }),
  list: defineQuery({
    name: 'group.list',
    description: "GET /api/groups: active groups by name, keyset on (name, id) over community_groups_active_name_idx; optional free text ($2, bgc_search_tsquery on the GIN search_vector) and 'only mine' ($4); member count and the viewer's role per group.",
    target: 'replica',
    sample: { sql: `SELECT id AS viewer_id, NULL::text AS q, NULL::uuid AS after_id, false AS mine, 21 AS lim FROM users ORDER BY id LIMIT 1` },
    // The cursor carries only the last group's id; its name (the keyset's first column) is
    // looked up here, so a long name never makes a long cursor.
    sql: `
SELECT ${GROUP_COLUMNS}
FROM community_groups g
WHERE g.is_active
  AND ($2::text IS NULL OR g.search_vector @@ bgc_search_tsquery($2::text))
  AND ($3::uuid IS NULL OR (g.name, g.id) > (SELECT a.name, a.id FROM community_groups a WHERE a.id = $3::uuid))
  AND (NOT $4::boolean OR EXISTS (SELECT 1 FROM group_memberships m WHERE m.group_id = g.id AND m.user_id = $1))
ORDER BY g.name, g.id
LIMIT $5`,
  }),
  get: defineQuery({
    name: 'group.get',
    description: "GET /api/groups/:id: one active group with its member count and the viewer's role.",
    target: 'replica',
    sample: { sql: `SELECT b.user_id AS viewer_id, b.group_id FROM (${GROUP_AND_MEMBER.sql}) b` },
    sql: `
SELECT ${GROUP_COLUMNS}
FROM community_groups g
WHERE g.id = $2 AND g.is_active`,
  }),
  create: defineQuery({
    name: 'group.create',
    description: 'POST /api/groups: inserts the group and its owner membership in one statement.',
    target: 'primary',
    sample: { sql: `SELECT id AS owner_id, gen_random_uuid() AS id, 'explain audit group' AS name, 'about' AS description, 'public' AS visibility FROM users ORDER BY id LIMIT 1` },
    sql: `
WITH g AS (
  INSERT INTO community_groups (id, name, description, owner_id, visibility)
  VALUES ($2, $3, $4, $1, $5)
  RETURNING id, name, description, visibility, owner_id, created_at
), m AS (
  INSERT INTO group_memberships (group_id, user_id, role) SELECT g.id, $1, 'owner' FROM g RETURNING role
)
SELECT g.id, g.name, g.description, g.visibility, g.owner_id, ${iso('g.created_at')} AS created_at,
       1 AS member_count, (SELECT role FROM m) AS my_role, false AS requested
FROM g`,
  }),
  join: defineQuery({
    name: 'group.join',
    description: "POST /api/groups/:id/join: a public group adds the member at once; a private one records a join request, unless a block stands between the user and the group's owner. Idempotent.",
    target: 'primary',
    sample: { sql: `SELECT g.id AS group_id, (SELECT id FROM users ORDER BY id LIMIT 1) AS user_id FROM community_groups g ORDER BY g.visibility DESC, g.id LIMIT 1` },
    sql: `
WITH g AS (SELECT g.id, g.visibility, g.owner_id FROM community_groups g WHERE g.id = $1 AND g.is_active),
member AS (SELECT m.role FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = $2),
-- A request to a private group is shown to its owner: not across a block, either way.
blocked AS (
  SELECT 1 FROM g JOIN relationships b ON b.kind = 'block'
   AND ((b.user_id = $2 AND b.target_id = g.owner_id) OR (b.user_id = g.owner_id AND b.target_id = $2))
  WHERE g.visibility = 'private'
),
ins AS (
  INSERT INTO group_memberships (group_id, user_id, role)
  SELECT g.id, $2, 'member' FROM g WHERE g.visibility = 'public'
  ON CONFLICT (group_id, user_id) DO NOTHING
  RETURNING 1
), req AS (
  INSERT INTO group_join_requests (group_id, user_id)
  SELECT g.id, $2 FROM g WHERE g.visibility = 'private' AND NOT EXISTS (SELECT 1 FROM member) AND NOT EXISTS (SELECT 1 FROM blocked)
  ON CONFLICT (group_id, user_id) DO NOTHING
  RETURNING 1
)
-- The result is derived from the group's visibility, not by reading the rows again: a
-- concurrent join of the same user makes our insert a no-op, and its row is not in this
-- statement's snapshot. Either way the user is a member (public) or has a request (private).
SELECT EXISTS (SELECT 1 FROM g) AS group_exists,
       coalesce((SELECT role FROM member), CASE WHEN (SELECT visibility FROM g) = 'public' THEN 'member' END) AS role,
       coalesce((SELECT visibility FROM g) = 'private' AND NOT EXISTS (SELECT 1 FROM member) AND NOT EXISTS (SELECT 1 FROM blocked), false) AS requested,
       EXISTS (SELECT 1 FROM blocked) AND NOT EXISTS (SELECT 1 FROM member) AS blocked,
       EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM req) AS changed`,
  }),
  leave: defineQuery({
    name: 'group.leave',
    description: 'POST /api/groups/:id/leave: ends a membership (never the owner\'s) or withdraws a pending join request. Idempotent.',
    target: 'primary',
    sample: GROUP_AND_MEMBER,
    sql: `
WITH active AS (SELECT 1 FROM community_groups g WHERE g.id = $1 AND g.is_active),
member AS (SELECT m.role FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = $2),
-- Nothing changes in a deactivated group: the answer is 404, and a refused request writes nothing.
del AS (DELETE FROM group_memberships m WHERE m.group_id = $1 AND m.user_id = $2 AND m.role <> 'owner' AND EXISTS (SELECT 1 FROM active) RETURNING 1),
req AS (DELETE FROM group_join_requests r WHERE r.group_id = $1 AND r.user_id = $2 AND EXISTS (SELECT 1 FROM active) RETURNING 1)
SELECT EXISTS (SELECT 1 FROM active) AS group_exists,
       coalesce((SELECT role FROM member) = 'owner', false) AS is_owner,
       EXISTS (SELECT 1 FROM del) OR EXISTS (SELECT 1 FROM req) AS changed`,
  }),
  members: defineQuery({
    name: 'group.members',
    description: "GET /api/groups/:id/members: a keyset page (user id) of active members over group_memberships_pkey, without users blocked either way; a private group's list only for its members.",
    target: 'replica',
    sample: { sql: `SELECT b.group_id, b.user_id AS viewer_id, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 51 AS lim FROM (${GROUP_AND_MEMBER.sql}) b` },
    sql: `
SELECT x.group_exists, x.can_see, mm.user_id, mm.username, mm.display_name, mm.role, ${iso('mm.joined_at')} AS joined_at
FROM (
  SELECT g.id IS NOT NULL AS group_exists,
         coalesce(g.visibility = 'public' OR ${ROLE_OF('$2')} IS NOT NULL, false) AS can_see
  FROM (SELECT 1) one
  LEFT JOIN community_groups g ON g.id = $1 AND g.is_active
) x
LEFT JOIN LATERAL (
  SELECT m.user_id, u.username, ${shownName('p')} AS display_name, m.role, m.joined_at
  FROM group_memberships m
  JOIN users u ON u.id = m.user_id AND u.is_active
  LEFT JOIN profiles p ON p.user_id = m.user_id
  WHERE x.can_see AND m.group_id = $1 AND m.user_id > $3 AND ${notBlocked('$2::uuid', 'm.user_id')}
  ORDER BY m.user_id
  LIMIT $4
) mm ON true
ORDER BY mm.user_id`,
  }),
  requests: defineQuery({
    name: 'group.requests',
    description: "GET /api/groups/:id/requests: pending join requests (keyset on user id over group_join_requests_pkey), for the group's owner and moderators only.",
    target: 'replica',
    sample: { sql: `SELECT g.id AS group_id, g.owner_id AS viewer_id, '00000000-0000-0000-0000-000000000000'::uuid AS after_id, 51 AS lim FROM community_groups g WHERE g.owner_id IS NOT NULL AND g.is_active ORDER BY g.id LIMIT 1` },
    sql: `
SELECT x.group_exists, x.can_manage, r.user_id, r.username, r.display_name, ${iso('r.created_at')} AS created_at
FROM (
  SELECT g.id IS NOT NULL AS group_exists, coalesce(${ROLE_OF('$2')} IN ('owner', 'moderator'), false) AS can_manage
  FROM (SELECT 1) one
  LEFT JOIN community_groups g ON g.id = $1 AND g.is_active
) x
LEFT JOIN LATERAL (
  SELECT jr.user_id, u.username, ${shownName('p')} AS display_name, jr.created_at
  FROM group_join_requests jr
  JOIN users u ON u.id = jr.user_id AND u.is_active
  LEFT JOIN profiles p ON p.user_id = jr.user_id
  WHERE x.can_manage AND jr.group_id = $1 AND jr.user_id > $3 AND ${notBlocked('$2::uuid', 'jr.user_id')}
  ORDER BY jr.user_id
  LIMIT $4
) r ON true
ORDER BY r.user_id`,
  }),
  decide: defineQuery({
    name: 'group.decide_request',
    description: "POST /api/groups/:id/requests/:userId/approve and DELETE …/requests/:userId: an owner or moderator ($3) removes the request of $2 and, when approving ($4), adds $2 as a member; an approval is refused (nothing changes) while a block stands between $2 and the group's owner.",
    target: 'primary',
    sample: { sql: `SELECT g.id AS group_id, (SELECT id FROM users ORDER BY id LIMIT 1) AS user_id, g.owner_id AS manager_id, true AS approve FROM community_groups g WHERE g.owner_id IS NOT NULL AND g.is_active ORDER BY g.id LIMIT 1` },
    sql: `
WITH ok AS (SELECT 1 WHERE ${ROLE_OF('$3')} IN ('owner', 'moderator') AND EXISTS (SELECT 1 FROM community_groups g WHERE g.id = $1 AND g.is_active)),
-- As group.join refuses a request across a block with the owner, an approval is refused across
-- one (a moderator saw, and could approve, a request made before the owner's block).
blocked AS (
  SELECT 1 FROM community_groups g JOIN relationships b ON b.kind = 'block'
   AND ((b.user_id = $2 AND b.target_id = g.owner_id) OR (b.user_id = g.owner_id AND b.target_id = $2))
  WHERE g.id = $1
),
req AS (
  DELETE FROM group_join_requests r
  WHERE r.group_id = $1 AND r.user_id = $2 AND EXISTS (SELECT 1 FROM ok) AND NOT ($4::boolean AND EXISTS (SELECT 1 FROM blocked))
  RETURNING r.group_id, r.user_id
), ins AS (
  INSERT INTO group_memberships (group_id, user_id, role)
  SELECT req.group_id, req.user_id, 'member' FROM req WHERE $4::boolean
  ON CONFLICT (group_id, user_id) DO NOTHING
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM community_groups g WHERE g.id = $1 AND g.is_active) AS group_exists,
       EXISTS (SELECT 1 FROM ok) AS allowed,
       EXISTS (SELECT 1 FROM req) AS changed,
       EXISTS (SELECT 1 FROM ins) OR ${ROLE_OF('$2')} IS NOT NULL AS is_member,
       EXISTS (SELECT 1 FROM blocked) AS blocked`,
  }),
});

export interface GroupRow {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly visibility: 'public' | 'private';
  readonly owner_id: string | null;
  readonly created_at: string;
  readonly member_count: number;
  readonly my_role: GroupRole | null;
  readonly requested: boolean;
}
export type GroupRole = 'owner' | 'moderator' | 'member';
export interface JoinRow { readonly group_exists: boolean; readonly role: GroupRole | null; readonly requested: boolean; readonly blocked: boolean; readonly changed: boolean }
export interface LeaveRow { readonly group_exists: boolean; readonly is_owner: boolean; readonly changed: boolean }
export interface DecideRow { readonly group_exists: boolean; readonly allowed: boolean; readonly changed: boolean; readonly is_member: boolean; readonly blocked: boolean }
export interface MemberPageRow {
  readonly group_exists: boolean;
  readonly can_see: boolean;
  readonly user_id: string | null;
  readonly username: string | null;
  readonly display_name: string | null;
  readonly role: GroupRole | null;
  readonly joined_at: string | null;
}
export interface RequestPageRow {
  readonly group_exists: boolean;
  readonly can_manage: boolean;
  readonly user_id: string | null;
  readonly username: string | null;
  readonly display_name: string | null;
  readonly created_at: string | null;
}
export interface GroupListFilter { readonly q: string | null; readonly mine: boolean; readonly afterId: string | null }

export class GroupRepository {
  constructor(private readonly db: Database) {}

  async list(viewerId: string, f: GroupListFilter, limit: number, ctx: QueryContext): Promise<GroupRow[]> {
    return this.db.query<GroupRow>(groupQueries.list, [viewerId, f.q, f.afterId, f.mine, limit], ctx);
  }

  async get(viewerId: string, groupId: string, ctx: QueryContext): Promise<GroupRow | undefined> {
    return (await this.db.query<GroupRow>(groupQueries.get, [viewerId, groupId], ctx))[0];
  }

  /** `q`: the transaction of a keyed create (its Idempotency-Key record commits with it). */
  async create(ownerId: string, g: { id: string; name: string; description: string | null; visibility: 'public' | 'private' }, q: Tx = this.db): Promise<GroupRow> {
    return one(await q.query<GroupRow>(groupQueries.create, [ownerId, g.id, g.name, g.description, g.visibility]), 'group.create');
  }

  /**
   * After the membership lock, the pair lock with a private group's owner: a block between the
   * two and this join otherwise ran side by side under READ COMMITTED, each missing the other's
   * uncommitted row, and a join request stood beside the block (shown to the owner's moderators).
   */
  async join(groupId: string, userId: string): Promise<JoinRow> {
    return this.#locked(groupId, userId, async (tx) => {
      await tx.query(groupQueries.ownerPairLock, [groupId, userId]);
      return one(await tx.query<JoinRow>(groupQueries.join, [groupId, userId]), 'group.join');
    });
  }

  async leave(groupId: string, userId: string): Promise<LeaveRow> {
    return this.#locked(groupId, userId, async (tx) => one(await tx.query<LeaveRow>(groupQueries.leave, [groupId, userId]), 'group.leave'));
  }

  async members(groupId: string, viewerId: string, afterId: string, limit: number, ctx: QueryContext): Promise<MemberPageRow[]> {
    return this.db.query<MemberPageRow>(groupQueries.members, [groupId, viewerId, afterId, limit], ctx);
  }

  async requests(groupId: string, viewerId: string, afterId: string, limit: number, ctx: QueryContext): Promise<RequestPageRow[]> {
    return this.db.query<RequestPageRow>(groupQueries.requests, [groupId, viewerId, afterId, limit], ctx);
  }

  async decide(groupId: string, userId: string, managerId: string, approve: boolean): Promise<DecideRow> {
    return this.#locked(groupId, userId, async (tx) => one(await tx.query<DecideRow>(groupQueries.decide, [groupId, userId, managerId, approve]), 'group.decide_request'));
  }

  /** One membership write after the (group, user) lock, in a transaction of its own. */
  async #locked<T>(groupId: string, userId: string, write: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query(groupQueries.memberLock, [groupId, userId]);
      return write(tx);
    });
  }
}

function one<T>(rows: T[], name: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${name} returned no row`);
  return row;
}
