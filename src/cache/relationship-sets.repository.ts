import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import type { SetRow } from './relationship-sets.ts';

/**
 * The relationship cache's loader (relationship-sets.ts): one user's relationship rows in
 * both directions, limited to other users whose id ends in a given suffix ('' = all).
 * A suffix reversed is a prefix: each branch range-scans [reverse(suffix), reverse(suffix)
 * + '~') of its owner's rows in relationships_owner_suffix_idx or
 * relationships_target_suffix_idx (migration 0020, byte order), so a node reads only its
 * own rows, index-only; LIMIT stops at SET_ROWS + 1 for the common small set.
 */
export const relationshipSetQueries = catalog({
  set: defineQuery({
    name: 'cache.relationship_set',
    description: "One user's relationship rows (outgoing and incoming) with users whose id ends in a suffix, given reversed as the range [$2, $3) of reversed ids ('' to '~' = everyone), at most $4 rows: a node of the relationship cache.",
    target: 'replica',
    sample: { sql: `SELECT user_id, '' AS lower_rev, '~' AS upper_rev, 257 AS row_limit FROM relationships GROUP BY user_id ORDER BY count(*) DESC LIMIT 1` },
    justify: {
      misestimate: "Generic plans only: the planner cannot see the range [$2, $3), so it takes it as a narrow one, while '' to '~' (a root node) holds every row of the owner. The plan is the same either way: each branch is an index-only range scan of its owner's rows (relationships_owner_suffix_idx, relationships_target_suffix_idx) and LIMIT $4 bounds the rows.",
    },
    sql: `
SELECT e.other_id::text AS other_id, e.outgoing, e.kind, e.status
FROM (
  SELECT r.target_id AS other_id, true AS outgoing, r.kind, r.status FROM relationships r
  WHERE r.user_id = $1 AND reverse(r.target_id::text) COLLATE "C" >= $2::text AND reverse(r.target_id::text) COLLATE "C" < $3::text
  UNION ALL
  SELECT r.user_id AS other_id, false AS outgoing, r.kind, r.status FROM relationships r
  WHERE r.target_id = $1 AND reverse(r.user_id::text) COLLATE "C" >= $2::text AND reverse(r.user_id::text) COLLATE "C" < $3::text
) e
LIMIT $4`,
  }),
});

export class RelationshipSetRepository {
  constructor(private readonly db: Database) {}

  async load(ownerId: string, suffix: string, limit: number, ctx: QueryContext): Promise<SetRow[]> {
    // Ids are lower-case hex and '-', all below '~' in byte order: [rev, rev + '~') is every
    // id whose reverse starts with rev, i.e. every id ending in `suffix`.
    const lower = [...suffix.toLowerCase()].reverse().join('');
    return this.db.query<SetRow>(relationshipSetQueries.set, [ownerId, lower, `${lower}~`, limit], ctx);
  }
}
