import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';

/**
 * Who to warm. The views themselves are loaded through the ProfileReader (the same
 * statement as a normal miss), so a warmed entry is exactly what a miss would have cached.
 */
export const warmQueries = catalog({
  recentlyActive: defineQuery({
    name: 'cache.warm_recent_users',
    description: 'The N most recently active users with a profile (profiles_last_active_idx, newest first): the viewers whose relationship sets are warmed, and a fifth of the profiles warmed (cache.warm_linked_users).',
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
  mostLinked: defineQuery({
    name: 'cache.warm_linked_users',
    description: 'The N active users with a profile whom most users follow (inbound favorites and accepted friendships, the predicate of relationships_following_idx), most first: the profiles others read most (start-up and `bgc cache warm`, with a fifth from cache.warm_recent_users). One index-only pass over a relationships index, a top-2N sort of the counts, then one users/profiles probe per kept row until N pass (no pass over users).',
    target: 'replica',
    sample: [1000],
    sql: `
SELECT c.id
FROM (
  SELECT r.target_id AS id, count(*) AS links
  FROM relationships r
  WHERE r.kind = 'favorite' OR (r.kind = 'friend' AND r.status = 'accepted')
  GROUP BY r.target_id
  ORDER BY links DESC, r.target_id
  LIMIT 2 * $1::int) c
WHERE (SELECT u.is_active FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = c.id)
ORDER BY c.links DESC, c.id
LIMIT $1`,
  }),
});

/**
 * Of the profiles warmed, the share taken from the most recently active users (they read
 * their own profile right after logging in); the rest are the most linked-to users.
 * Measured on bgc_bench_large (Zipf(1.0) read mass over the 67,810 readable profiles,
 * ideal 0.777 for 5,000): 5,000 recent 0.670, 5,000 linked 0.742, 1,000 recent + linked
 * 0.742; for 10,000: 0.729 / 0.798 / 2,000 recent + linked 0.794.
 */
export const RECENT_SHARE = 0.2;

/**
 * The warm order: `recent[0..ceil(count x RECENT_SHARE))` interleaved one to four with
 * `linked`, duplicates dropped, up to `count`; when `linked` runs out the rest of `recent`
 * fills up. Interleaved so a warm-up cut short by its time limit has warmed both kinds.
 */
export function mergeWarmCandidates(linked: readonly string[], recent: readonly string[], count: number): string[] {
  const quota = Math.min(recent.length, Math.ceil(count * RECENT_SHARE));
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (id: string) => {
    const key = id.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    out.push(id);
  };
  let i = 0;
  let j = 0;
  while (out.length < count && (i < quota || j < linked.length)) {
    // One recent id per five positions while the quota lasts, else the next linked one.
    if (i < quota && (j >= linked.length || i * 5 <= out.length)) add(recent[i++]!);
    else add(linked[j++]!);
  }
  while (out.length < count && i < recent.length) add(recent[i++]!);
  return out;
}

export class WarmRepository {
  constructor(private readonly db: Database) {}

  /** The most recently active users (the relationship-set warm-up's viewers). */
  async recentlyActiveUserIds(limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const rows = await this.db.query<{ id: string }>(warmQueries.recentlyActive, [limit]);
    return rows.map((r) => r.id);
  }

  /** The most linked-to users (inbound favorites and accepted friendships), most first. */
  async mostLinkedUserIds(limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const rows = await this.db.query<{ id: string }>(warmQueries.mostLinked, [limit]);
    return rows.map((r) => r.id);
  }

  /**
   * The profiles to warm, in warm order: the most linked-to users with a fifth of the
   * most recently active interleaved (mergeWarmCandidates). Both lists are read at once.
   */
  async profileWarmCandidates(count: number): Promise<string[]> {
    if (count <= 0) return [];
    const [linked, recent] = await Promise.all([this.mostLinkedUserIds(count), this.recentlyActiveUserIds(count)]);
    return mergeWarmCandidates(linked, recent, count);
  }
}
