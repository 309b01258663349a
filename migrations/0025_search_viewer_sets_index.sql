-- The viewer's friend and block sets of a search read only the rows they need (issue 15,
-- "search_multi on large").
--
-- Every search.profiles / search.profiles_near statement builds two hashed sets for its viewer:
-- the accepted friends (friends-only profiles they may see) and the blocks both ways. The
-- outgoing side had no index that leads with (user_id, kind): the friend set scanned all of the
-- viewer's relationships in relationships_owner_suffix_idx and kept kind = 'friend' AND status =
-- 'accepted', the outgoing blocks scanned all of them in relationships_pkey (user_id, target_id,
-- kind). The bench's actors average 3,524 outgoing relationships (the busiest, picked for ~13% of
-- requests by Zipf(1.0), 7,988): 89 buffers per search for the two sets, 271 for the busiest
-- actor, whatever the filters. This index mirrors relationships_target_cover_idx (target_id,
-- kind, status) INCLUDE (user_id) on the owner side: both sets become index-only range scans of
-- exactly their rows.
--
-- users_inactive_idx (0024) goes: search leaving out deactivated users through it measured worse
-- than the users join it was to replace (docs/PERFORMANCE.md, "search_multi on `large`"), and no
-- statement uses it.
--
-- Cost: one more B-tree entry per relationship written (about 1M rows on `large`); profile writes
-- do not touch it. Before and after per filter combination: docs/PERFORMANCE.md,
-- "search_multi on `large`".
CREATE INDEX relationships_owner_cover_idx ON relationships (user_id, kind, status) INCLUDE (target_id);
COMMENT ON INDEX relationships_owner_cover_idx IS 'serves: search.profiles / search.profiles_near, the viewer''s accepted friends and outgoing blocks (index-only)';
DROP INDEX users_inactive_idx;
ANALYZE relationships;
