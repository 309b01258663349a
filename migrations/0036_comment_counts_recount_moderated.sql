-- A post's comment_count counts the comments its list shows: not hidden, by an active account.
--
-- Counts written before that rule can be too high: a comment hidden before hides lowered the
-- count (2026-12-06), the comments of an account suspended before suspensions did (2026-12-07)
-- or deactivated by SQL, and the seed's (it counts every comment, 3% of accounts are
-- inactive). One can be too low: a hide racing a suspension of the comment's author took it
-- off twice. Moderation now recounts the posts it touches (moderation.recount_comments); this
-- recounts, once, every post that can be wrong: those with a hidden comment or a comment by an
-- inactive account. Every other post counts all its comments, as its bumps did. One read of
-- post_comments (hidden_at has no index), one count per candidate post over
-- post_comments_post_idx, and only the counts that differ are written.
--
-- Two statements, as moderation does: the first locks the candidate posts in id order (the
-- order comment groups lock theirs: no deadlock), the second counts with a snapshot taken
-- after the locks were granted. Counting in the locking statement would miss a comment that
-- committed while it waited for a post's lock and overwrite that comment's +1; a comment not
-- committed when the count starts bumps the post after this commits, from the new count.
CREATE TEMP TABLE bgc_0036_posts ON COMMIT DROP AS
SELECT s.id, s.created_at FROM status_updates s
JOIN (
  SELECT DISTINCT pc.post_id, pc.post_created_at FROM post_comments pc
  WHERE pc.hidden_at IS NOT NULL
     OR pc.author_id IN (SELECT u.id FROM users u WHERE NOT u.is_active)
) c ON s.id = c.post_id AND s.created_at = c.post_created_at
ORDER BY s.id
FOR NO KEY UPDATE OF s;

UPDATE status_updates s SET comment_count = c.n
FROM bgc_0036_posts t
CROSS JOIN LATERAL (
  SELECT count(*)::int AS n FROM post_comments pc
  WHERE pc.post_id = t.id AND pc.hidden_at IS NULL
    AND EXISTS (SELECT 1 FROM users au WHERE au.id = pc.author_id AND au.is_active)
) c
WHERE s.id = t.id AND s.created_at = t.created_at AND s.comment_count <> c.n;
