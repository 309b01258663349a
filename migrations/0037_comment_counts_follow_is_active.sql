-- A post's comment_count counts the comments its list shows: not hidden, by an active account.
-- Moderation keeps that rule for the suspensions it makes (moderation.resolve and
-- moderation.recount_comments, in chunks), but an account whose is_active an operator changes
-- by SQL was recounted by nothing: a reinstatement, which has no route and is always SQL
-- ("reinstated by an operator's UPDATE", docs/SECURITY.md), left every post the account had
-- commented on one lower per comment for good, and a suspension by SQL left them counted.
--
-- This trigger recounts, after any UPDATE of users that flips is_active, the posts those
-- accounts commented on. It is statement-level, so a mass UPDATE locks all their posts in one
-- pass in id order (the order comment groups lock theirs: per-row passes, each in its own id
-- order, could deadlock with a group), and then counts in a second statement whose snapshot is
-- taken after the locks were granted, as moderation and 0036 do. The UPDATE holds the accounts'
-- rows, which a comment locks FOR SHARE before its post (post-sql.ts, lockedActiveAuthors): a
-- comment by a flipped account that held the row first committed before the UPDATE ran, and is
-- counted; a later one waits for the commit and, suspended, is refused. A comment by anyone
-- else on those posts either committed before the lock (counted) or bumps the recount after.
--
-- The app's own suspension recounts in chunks, bounded by statement_timeout, and says so with
-- the transaction-local setting bgc.skip_comment_recount (moderation.lock_account), so this
-- does not count its posts twice. An operator's UPDATE recounts in the one statement: for an
-- account with comments on very many posts, run it without a statement_timeout (those posts
-- stay locked until it commits). It must run under READ COMMITTED (the default): the trigger
-- refuses the others. Deleting a user (its comments go by ON DELETE CASCADE) recounts nothing.
CREATE FUNCTION bgc_comment_counts_follow_is_active() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  flipped uuid[];
  post_ids uuid[];
  post_times timestamptz[];
BEGIN
  IF current_setting('bgc.skip_comment_recount', true) = 'on' THEN RETURN NULL; END IF;
  SELECT array_agg(n.id) INTO flipped
  FROM old_rows o JOIN new_rows n USING (id) WHERE o.is_active IS DISTINCT FROM n.is_active;
  IF flipped IS NULL THEN RETURN NULL; END IF;
  -- The count below must see what committed while the locks were awaited, which only READ
  -- COMMITTED gives a later statement; under REPEATABLE READ it would reuse the snapshot from
  -- before the locks and could leave a count wrong for good. Refused, with the reason.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'changing users.is_active recounts comment counts and needs READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'feature_not_supported', HINT = 'Run the UPDATE in a READ COMMITTED transaction (the default).';
  END IF;

  -- The posts, locked in id order (post_comments_author_id_idx, then a primary-key probe per
  -- status_updates partition: not pruned, the times are known only here).
  SELECT array_agg(x.id ORDER BY x.id), array_agg(x.created_at ORDER BY x.id) INTO post_ids, post_times
  FROM (
    SELECT s.id, s.created_at FROM status_updates s
    JOIN (SELECT DISTINCT pc.post_id, pc.post_created_at FROM post_comments pc WHERE pc.author_id = ANY (flipped)) c
      ON s.id = c.post_id AND s.created_at = c.post_created_at
    ORDER BY s.id
    FOR NO KEY UPDATE OF s
  ) x;
  IF post_ids IS NULL THEN RETURN NULL; END IF;

  -- A later statement: its snapshot sees every comment committed while the locks were awaited.
  UPDATE status_updates s SET comment_count = c.n
  FROM unnest(post_ids, post_times) AS t (id, created_at)
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS n FROM post_comments pc
    WHERE pc.post_id = t.id AND pc.hidden_at IS NULL
      AND EXISTS (SELECT 1 FROM users au WHERE au.id = pc.author_id AND au.is_active)
  ) c
  WHERE s.id = t.id AND s.created_at = t.created_at AND s.comment_count <> c.n;
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_comment_counts_users_upd AFTER UPDATE ON users
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_comment_counts_follow_is_active();
