-- The following feed (feed.following) starts from "whom does this user follow": accepted
-- friends and favourites. Through relationships_pkey that is one heap fetch per row, and
-- a user's rows are scattered over the table (the busiest user of the medium dataset has
-- ~2,000 rows on ~950 pages, 3-8 ms). This partial covering index answers it with an
-- index-only scan. Built in the migration's transaction (not CONCURRENTLY) so the comment
-- below lands with it; on 1M relationships the build holds writes to the table ~1 s.
CREATE INDEX relationships_following_idx
  ON relationships (user_id, target_id)
  WHERE kind = 'favorite' OR (kind = 'friend' AND status = 'accepted');
COMMENT ON INDEX relationships_following_idx IS 'serves: feed.following (followed authors of a user, index-only)';
