import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';
import { iso, shownName } from './sql-fragments.ts';
import { authorActive, lockedActiveAuthors } from './post-sql.ts';

/**
 * Comments on the public feed in groups (issue 16, app-level group commit;
 * src/services/group-commit.ts): ONE auto-committed statement writes any number of
 * comments, each with its own checks, its own Idempotency-Key record and its own outcome,
 * in input order. A group of one is the plain POST /api/feed/:postId/comments.
 *
 * Per member, in the order a single comment would:
 *   - the commenter's account must still be active, read under a FOR SHARE lock of its users
 *     row (post-sql.ts, lockedActiveAuthors), taken before the posts;
 *   - the post must exist inside the id's time bounds (UUIDv7 time ±1 day) and be neither a
 *     group post (those are commented through /api/groups/:id/feed) nor hidden;
 *   - no block may stand between the commenter and the post's author (one index probe
 *     per direction);
 *   - with a key: the record (fingerprint + the response body) is inserted first; a live
 *     record of an earlier request holds the key, and then the member writes nothing
 *     (`inserted` false with the post found and no block: the caller answers from the
 *     record). An in-flight twin in another transaction makes the insert wait for its commit;
 *   - the comment is inserted.
 * Then, once per POST rather than per comment: comment_count + the number of the group's
 * comments on it. Each member's comment_count is the post's count as if the group's
 * comments had been written one by one in input order (the locked count + its rank among
 * the post's accepted members); a member whose key turns out to be held still takes its
 * rank, so in that rare group the others' counts may skip a number (the stored total is exact).
 *
 * Locks: the commenters' users rows first (FOR SHARE, in id order), then the group's post
 * rows, in id order (LockRows above the Sort), before any row is written; so concurrent
 * groups queue for a post in one order and cannot deadlock on them, nor with a suspension,
 * which writes its users row before it locks posts. The lookup and the bump read only the partitions between the group's
 * lowest and highest bound ($11, $12: pruned at executor start-up).
 */

/** A recent post with comments, for the EXPLAIN audit's sample (as feed.list_comments picks it). */
const SAMPLE = `
  SELECT ARRAY[b.id, b.id] AS post_ids, ARRAY[gen_random_uuid(), gen_random_uuid()] AS ids, ARRAY[u.id, u.id] AS author_ids,
         ARRAY['explain audit', 'explain audit 2'] AS contents, ARRAY[now(), now()] AS created_ats,
         ARRAY[b.created_at - interval '1 day', b.created_at - interval '1 day'] AS lowers,
         ARRAY[b.created_at + interval '1 day', b.created_at + interval '1 day'] AS uppers,
         ARRAY[u.id, NULL]::uuid[] AS key_scopes, ARRAY['explain-audit-comment-key', NULL] AS keys,
         ARRAY[sha256('explain-audit'::bytea), NULL] AS fingerprints,
         b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts, 24 AS ttl_hours
  FROM (SELECT s.id, s.created_at FROM status_updates s
        WHERE s.created_at >= now() - interval '30 days' AND s.group_id IS NULL
        ORDER BY s.comment_count DESC, s.id LIMIT 1) b
  CROSS JOIN (SELECT id FROM users ORDER BY id LIMIT 1) u`;

export const commentBatchQueries = catalog({
  addMany: defineQuery({
    name: 'feed.add_comments',
    description: 'POST /api/feed/:postId/comments, grouped: one statement for a group of concurrent comments (arrays, one element per comment). Per comment: the commenter still active (users row FOR SHARE, so a suspension is waited for), the post (pruned by the id\'s time bounds; not hidden, not a group post), the block checks both ways, the Idempotency-Key record, the insert; per post: comment_count bumped once. Users rows, then post rows, locked in id order first. One row per comment, in input order.',
    target: 'primary',
    timeBounded: true,
    sample: { sql: SAMPLE },
    sql: `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[],
                       $8::uuid[], $9::text[], $10::bytea[])
    WITH ORDINALITY AS i(post_id, id, author_id, content, created_at, lower_ts, upper_ts, key_scope, key, fingerprint, ord)
), ${lockedActiveAuthors('authors', '$3::uuid[]')}, post AS MATERIALIZED (
  SELECT s.id, s.created_at, s.author_id, s.comment_count FROM status_updates s
  WHERE s.id = ANY ($1::uuid[]) AND s.created_at >= $11::timestamptz AND s.created_at <= $12::timestamptz
    AND s.group_id IS NULL -- group posts are commented through /api/groups/:id/feed
    AND s.hidden_at IS NULL -- hidden by a moderator (migration 0014)
    AND ${authorActive()} -- not a suspended author's post
    -- Every commenter is locked before any post: count(*) reads the whole CTE (an EXISTS
    -- would stop at its first row, and the others' locks would come after the posts').
    AND (SELECT count(*) FROM authors) > 0
  ORDER BY s.id
  FOR NO KEY UPDATE
), checked AS (
  SELECT i.*, EXISTS (SELECT 1 FROM authors au WHERE au.id = i.author_id) AS author_active,
         p.id IS NOT NULL AS post_exists, p.created_at AS post_created_at, p.comment_count AS base_count,
         p.id IS NOT NULL AND (
           EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = p.author_id AND b.target_id = i.author_id AND b.kind = 'block')
           OR EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = i.author_id AND b.target_id = p.author_id AND b.kind = 'block')) AS blocked
  FROM input i
  LEFT JOIN post p ON p.id = i.post_id AND p.created_at >= i.lower_ts AND p.created_at <= i.upper_ts
), allowed AS (
  SELECT k.*, u.username AS author_username, ${shownName('pr')} AS author_display_name,
         (k.base_count + row_number() OVER (PARTITION BY k.post_id ORDER BY k.ord))::int AS comment_count
  FROM checked k
  JOIN authors u ON u.id = k.author_id
  LEFT JOIN profiles pr ON pr.user_id = k.author_id
  WHERE k.post_exists AND NOT k.blocked
), keys AS (
  INSERT INTO idempotency_keys AS r (scope, key, fingerprint, response)
  SELECT a.key_scope, a.key, a.fingerprint,
         jsonb_build_object('id', a.id, 'post_id', a.post_id, 'content', a.content, 'created_at', ${iso('a.created_at')},
                            'author', jsonb_build_object('id', a.author_id, 'username', a.author_username, 'display_name', a.author_display_name),
                            'comment_count', a.comment_count)
  FROM allowed a WHERE a.key IS NOT NULL
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = EXCLUDED.created_at
    WHERE r.created_at <= now() - make_interval(hours => $13)
  RETURNING r.scope, r.key
), ins AS (
  INSERT INTO post_comments (id, post_id, post_created_at, author_id, content, created_at)
  SELECT a.id, a.post_id, a.post_created_at, a.author_id, a.content, a.created_at FROM allowed a
  WHERE a.key IS NULL OR EXISTS (SELECT 1 FROM keys WHERE keys.scope = a.key_scope AND keys.key = a.key)
  RETURNING id, post_id, post_created_at
), bump AS (
  UPDATE status_updates s SET comment_count = s.comment_count + n.added
  FROM (SELECT post_id, post_created_at, count(*)::int AS added FROM ins GROUP BY post_id, post_created_at) n
  WHERE s.id = n.post_id AND s.created_at = n.post_created_at
    AND s.created_at >= $11::timestamptz AND s.created_at <= $12::timestamptz
  RETURNING s.id
)
SELECT k.ord::int AS ord, k.author_active, k.post_exists, k.blocked, ins.id IS NOT NULL AS inserted,
       a.author_username, a.author_display_name, a.comment_count, ${iso('k.created_at')} AS created_at
FROM checked k
LEFT JOIN allowed a ON a.ord = k.ord
LEFT JOIN ins ON ins.id = k.id
ORDER BY k.ord`,
  }),
});

/** One comment of a group. */
export interface CommentToWrite {
  readonly postId: string;
  /** The partition range the post can be in, from its id (UUIDv7 time ±1 day). */
  readonly postBounds: { readonly lowerTs: string; readonly upperTs: string };
  readonly id: string;
  readonly authorId: string;
  readonly content: string;
  /** ISO-8601; the id's own time (src/services/ids.ts). */
  readonly createdAt: string;
  /** The Idempotency-Key record to insert with it, if the request carried one. */
  readonly key?: { readonly scope: string; readonly key: string; readonly fingerprint: Buffer };
}

/** What the statement did for one comment, in input order. */
export interface WrittenCommentRow {
  readonly ord: number;
  /** The commenter's account was active under its row lock (false: suspended meanwhile, nothing written). */
  readonly author_active: boolean;
  readonly post_exists: boolean;
  readonly blocked: boolean;
  /** The comment was written (false: refused, or its key was held by an earlier request). */
  readonly inserted: boolean;
  readonly author_username: string | null;
  readonly author_display_name: string | null;
  /** The post's comment count after this comment (null when refused). */
  readonly comment_count: number | null;
  /** created_at as the database formats it (microseconds): the response's and the record's. */
  readonly created_at: string;
}

export class CommentBatchRepository {
  constructor(private readonly db: Database) {}

  /** Writes the group in one auto-committed statement; one row per comment, in input order. */
  async addMany(comments: readonly CommentToWrite[], keyTtlHours: number): Promise<WrittenCommentRow[]> {
    const lowers = comments.map((c) => c.postBounds.lowerTs);
    const uppers = comments.map((c) => c.postBounds.upperTs);
    return this.db.query<WrittenCommentRow>(commentBatchQueries.addMany, [
      comments.map((c) => c.postId),
      comments.map((c) => c.id),
      comments.map((c) => c.authorId),
      comments.map((c) => c.content),
      comments.map((c) => c.createdAt),
      lowers,
      uppers,
      comments.map((c) => c.key?.scope ?? null),
      comments.map((c) => c.key?.key ?? null),
      comments.map((c) => c.key?.fingerprint ?? null),
      earliest(lowers),
      latest(uppers),
      keyTtlHours,
    ]);
  }
}

function earliest(ts: readonly string[]): string | null {
  return ts.reduce<string | null>((m, t) => (m === null || Date.parse(t) < Date.parse(m) ? t : m), null);
}

function latest(ts: readonly string[]): string | null {
  return ts.reduce<string | null>((m, t) => (m === null || Date.parse(t) > Date.parse(m) ? t : m), null);
}
