import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database } from '../db/database.ts';
import { iso, shownName } from './sql-fragments.ts';

/**
 * Posts in groups (issue 16, app-level group commit; src/services/group-commit.ts): ONE
 * auto-committed statement writes any number of status updates, each with its own
 * Idempotency-Key record, and returns each with its author summary, in input order. A group
 * of one is the plain POST /api/feed.
 *
 * Per member: with a key, the record (fingerprint + the response body, built here from the
 * same values the response is) goes in first, and the post is inserted only if it did; a
 * live record of an earlier request holds the key and the member writes nothing
 * (`inserted` false: the caller answers from the record).
 */
export const postBatchQueries = catalog({
  postMany: defineQuery({
    name: 'feed.post_many',
    description: 'POST /api/feed, grouped: one statement for a group of concurrent posts (arrays, one element per post): per post its Idempotency-Key record and the insert; one row per post with the author summary, in input order.',
    target: 'primary',
    sample: {
      sql: `SELECT ARRAY[gen_random_uuid(), gen_random_uuid()] AS ids, ARRAY[u.id, u.id] AS author_ids, ARRAY['explain audit', 'explain audit 2'] AS contents,
                   ARRAY[now(), now()] AS created_ats, ARRAY[u.id, NULL]::uuid[] AS key_scopes, ARRAY['explain-audit-post-key', NULL] AS keys,
                   ARRAY[sha256('explain-audit'::bytea), NULL] AS fingerprints, 24 AS ttl_hours
            FROM users u ORDER BY u.id LIMIT 1`,
    },
    sql: `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], $6::text[], $7::bytea[])
    WITH ORDINALITY AS i(id, author_id, content, created_at, key_scope, key, fingerprint, ord)
), authored AS (
  SELECT i.*, u.username AS author_username, ${shownName('p')} AS author_display_name
  FROM input i
  LEFT JOIN users u ON u.id = i.author_id
  LEFT JOIN profiles p ON p.user_id = i.author_id
), keys AS (
  INSERT INTO idempotency_keys AS r (scope, key, fingerprint, response)
  SELECT a.key_scope, a.key, a.fingerprint,
         jsonb_build_object('id', a.id,
                            'author', jsonb_build_object('id', a.author_id, 'username', a.author_username, 'display_name', a.author_display_name),
                            'content', a.content, 'comment_count', 0, 'created_at', ${iso('a.created_at')})
  FROM authored a WHERE a.key IS NOT NULL
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = EXCLUDED.created_at
    WHERE r.created_at <= now() - make_interval(hours => $8)
  RETURNING r.scope, r.key
), ins AS (
  INSERT INTO status_updates (id, author_id, content, created_at)
  SELECT a.id, a.author_id, a.content, a.created_at FROM authored a
  WHERE a.key IS NULL OR EXISTS (SELECT 1 FROM keys WHERE keys.scope = a.key_scope AND keys.key = a.key)
  RETURNING id, comment_count
)
SELECT a.ord::int AS ord, ins.id IS NOT NULL AS inserted, a.author_username, a.author_display_name,
       COALESCE(ins.comment_count, 0) AS comment_count, ${iso('a.created_at')} AS created_at
FROM authored a
LEFT JOIN ins ON ins.id = a.id
ORDER BY a.ord`,
  }),
});

export interface PostToWrite {
  readonly id: string;
  readonly authorId: string;
  readonly content: string;
  /** ISO-8601; the id's own time (src/services/ids.ts). */
  readonly createdAt: string;
  readonly key?: { readonly scope: string; readonly key: string; readonly fingerprint: Buffer };
}

export interface WrittenPostRow {
  readonly ord: number;
  /** The post was written (false: its key was held by an earlier request). */
  readonly inserted: boolean;
  readonly author_username: string | null;
  readonly author_display_name: string | null;
  readonly comment_count: number;
  /** created_at as the database formats it (microseconds): the response's and the record's. */
  readonly created_at: string;
}

export class PostBatchRepository {
  constructor(private readonly db: Database) {}

  /** Writes the group in one auto-committed statement; one row per post, in input order. */
  async postMany(posts: readonly PostToWrite[], keyTtlHours: number): Promise<WrittenPostRow[]> {
    return this.db.query<WrittenPostRow>(postBatchQueries.postMany, [
      posts.map((p) => p.id),
      posts.map((p) => p.authorId),
      posts.map((p) => p.content),
      posts.map((p) => p.createdAt),
      posts.map((p) => p.key?.scope ?? null),
      posts.map((p) => p.key?.key ?? null),
      posts.map((p) => p.key?.fingerprint ?? null),
      keyTtlHours,
    ]);
  }
}
