import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';

/**
 * The warm-up's only query: who to warm. The views themselves are loaded through the
 * ProfileReader (the same statement as a normal miss), so a warmed entry is exactly
 * what a miss would have cached.
 */
export const warmQueries = catalog({
  recentlyActive: defineQuery({
    name: 'cache.warm_recent_users',
    description: 'The N most recently active users with a profile (profiles_last_active_idx, newest first): the start-up and `bgc cache warm` set.',
    target: 'replica',
    sample: [1000],
    sql: `
SELECT p.user_id AS id
FROM profiles p
JOIN users u ON u.id = p.user_id
WHERE u.is_active
ORDER BY p.last_active_at DESC
LIMIT $1`,
  }),
});

export class WarmRepository {
  constructor(private readonly db: Database) {}

  async recentlyActiveUserIds(limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const rows = await this.db.query<{ id: string }>(warmQueries.recentlyActive, [limit]);
    return rows.map((r) => r.id);
  }
}
