import { iso, shownName } from './sql-fragments.ts';

/**
 * SQL fragments shared by the public feed and the group feed (feed.repository.ts,
 * group-feed.repository.ts). Each catalog entry still splices them into one fixed string at
 * module load; the two feeds differ only in how they find the post (group scope, membership).
 */

/**
 * Hides posts (or, with `author`, comments) between the viewer and anyone blocking or blocked
 * by them. NOT IN over a subquery stays a hashed filter built once per statement (the
 * viewer's few blocks), instead of probing relationships for every candidate row.
 */
export const notBlocked = (viewer: string, author = 's.author_id'): string => `
  NOT (${author} IN (
    SELECT b.target_id FROM relationships b WHERE b.user_id = ${viewer} AND b.kind = 'block'
    UNION ALL
    SELECT b.user_id FROM relationships b WHERE b.target_id = ${viewer} AND b.kind = 'block'))`;

/**
 * The author's account is not suspended (one `users` primary-key probe): a suspended account's
 * posts show nowhere, so they can be neither read nor commented by id either (docs/SECURITY.md).
 */
export const authorActive = (author = 's.author_id'): string => `EXISTS (SELECT 1 FROM users au WHERE au.id = ${author} AND au.is_active)`;

/**
 * A CTE `name (id, username)`: the commenters among `ids` (an SQL uuid[]) whose accounts are
 * active, their users rows locked FOR SHARE in id order. A suspension locks the users row
 * (moderation.lock_account) before its resolve statement starts; the two locks conflict, so a
 * comment either commits first (the resolve statement's snapshot, taken after, sees it and
 * recounts its post) or waits for the suspension's commit and, re-reading the row, finds the
 * account inactive and writes nothing. The statement must read the whole CTE before it locks
 * any post (the suspension's order: account, then posts), or the two can deadlock. The
 * comment's foreign key locks the same row FOR KEY SHARE anyway, so this adds no row lock of
 * its own; the stronger mode also waits for the row's other writes (a login's last_login_at).
 */
export const lockedActiveAuthors = (name: string, ids: string): string => `${name} AS MATERIALIZED (
  SELECT u.id, u.username FROM users u
  WHERE u.id = ANY (${ids}) AND u.is_active
  ORDER BY u.id
  FOR SHARE
)`;

/** Parameter positions of a comments page: the viewer, the post, the keyset cursor, the page size. */
export interface CommentPageParams { readonly viewer: string; readonly post: string; readonly afterTs: string; readonly afterId: string; readonly limit: string }

/**
 * A page of a post's visible comments oldest first, keyset (created_at, id), as the lateral
 * row `c`; empty unless `visible` (an SQL boolean: the post exists and the viewer may see it).
 * Comments by users blocking or blocked by the viewer are left out, as their posts are.
 */
export const commentPage = (visible: string, p: CommentPageParams): string => `
LEFT JOIN LATERAL (
  SELECT pc.id, pc.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name, pc.content, pc.created_at
  FROM post_comments pc
  JOIN users u ON u.id = pc.author_id AND u.is_active -- not the comments of suspended accounts
  LEFT JOIN profiles p ON p.user_id = pc.author_id
  WHERE ${visible} AND pc.post_id = ${p.post} AND pc.hidden_at IS NULL
    AND ${notBlocked(p.viewer, 'pc.author_id')}
    AND (pc.created_at, pc.id) > (${p.afterTs}::timestamptz, ${p.afterId}::uuid)
  ORDER BY pc.created_at, pc.id
  LIMIT ${p.limit}
) c ON true
ORDER BY c.created_at, c.id`;

/** Parameter positions of a new comment, and the post's time window (partition pruning). */
export interface NewCommentParams {
  readonly id: string; readonly author: string; readonly content: string; readonly createdAt: string;
  readonly lower: string; readonly upper: string;
}

/**
 * After a CTE `post (id, created_at, author_id)`: `blocked` (either side blocks the other:
 * two exact primary-key probes), `ins` (the comment, unless blocked) and `bump` (the post's
 * comment_count, pruned to the post's window).
 */
export const insertCommentCtes = (p: NewCommentParams): string => `
blocked AS (
  SELECT 1 FROM post
  WHERE EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = post.author_id AND b.target_id = ${p.author}::uuid AND b.kind = 'block')
     OR EXISTS (SELECT 1 FROM relationships b WHERE b.user_id = ${p.author}::uuid AND b.target_id = post.author_id AND b.kind = 'block')
), ins AS (
  INSERT INTO post_comments (id, post_id, post_created_at, author_id, content, created_at)
  SELECT ${p.id}, post.id, post.created_at, ${p.author}, ${p.content}, ${p.createdAt} FROM post WHERE NOT EXISTS (SELECT 1 FROM blocked)
  RETURNING id, post_id, post_created_at, author_id, content, created_at
), bump AS (
  UPDATE status_updates s SET comment_count = s.comment_count + 1
  FROM ins
  WHERE s.id = ins.post_id AND s.created_at = ins.post_created_at
    AND s.created_at >= ${p.lower}::timestamptz AND s.created_at <= ${p.upper}::timestamptz
  RETURNING s.comment_count
)`;

/** The new comment's columns and outcome flags, one row even when nothing was inserted (after CTEs `author`, lockedActiveAuthors, and insertCommentCtes). */
export const NEW_COMMENT_RESULT = `
       EXISTS (SELECT 1 FROM author) AS author_active, EXISTS (SELECT 1 FROM post) AS post_exists, EXISTS (SELECT 1 FROM blocked) AS blocked,
       ins.id, ins.author_id, u.username AS author_username, ${shownName('p')} AS author_display_name,
       ins.content, ${iso('ins.created_at')} AS created_at, (SELECT comment_count FROM bump) AS comment_count
FROM (SELECT 1) AS one
LEFT JOIN ins ON true
LEFT JOIN users u ON u.id = ins.author_id
LEFT JOIN profiles p ON p.user_id = ins.author_id`;
