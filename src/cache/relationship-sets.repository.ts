import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import type { SetRow } from './relationship-sets.ts';

/**
 * The relationship cache's loader (relationship-sets.ts): one user's relationship rows in
 * both directions, limited to other users whose id ends in a given suffix ('' = all).
 * Each branch is an index-only scan of one owner's rows, on relationships_owner_cover_idx
 * (user_id = $1) or relationships_target_cover_idx (target_id = $1), both from migration
 * 0010; LIMIT stops at SET_ROWS + 1 for the common small set.
 */
export const relationshipSetQueries = catalog({
  set: defineQuery({
    name: 'cache.relationship_set',
    description: "One user's relationship rows (outgoing and incoming) with users whose id ends in $2 ('' = everyone), at most $3 rows: a node of the relationship cache.",
    target: 'replica',
    sample: { sql: `SELECT user_id, '' AS suffix, 257 AS row_limit FROM relationships GROUP BY user_id ORDER BY count(*) DESC LIMIT 1` },
    justify: {
      misestimate: "Generic plans only: the planner cannot see $2, so it takes the suffix filter right(other_id, length($2)) = $2 as a rare match, while '' (a root node) matches every row. The plan is the same either way: each branch is an index-only scan on its owner column (relationships_owner_cover_idx, relationships_target_cover_idx) and LIMIT $3 bounds the rows.",
    },
    sql: `
SELECT e.other_id::text AS other_id, e.outgoing, e.kind, e.status
FROM (
  SELECT r.target_id AS other_id, true AS outgoing, r.kind, r.status FROM relationships r WHERE r.user_id = $1
  UNION ALL
  SELECT r.user_id AS other_id, false AS outgoing, r.kind, r.status FROM relationships r WHERE r.target_id = $1
) e
WHERE right(e.other_id::text, length($2::text)) = $2::text
LIMIT $3`,
  }),
});

export class RelationshipSetRepository {
  constructor(private readonly db: Database) {}

  async load(ownerId: string, suffix: string, limit: number, ctx: QueryContext): Promise<SetRow[]> {
    return this.db.query<SetRow>(relationshipSetQueries.set, [ownerId, suffix, limit], ctx);
  }
}
