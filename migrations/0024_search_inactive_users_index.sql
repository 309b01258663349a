-- Search leaves out deactivated users through a small set, not a join per candidate (issue 15,
-- "search_multi on large").
--
-- search.profiles / search.profiles_near joined every candidate profile to users to check
-- is_active before the top of the page was kept. A walk in activity order joins about a page of
-- rows, but a plan that reads the matches of two filters (two GIN indexes AND-ed, then a sort)
-- joined every match: 3-4 buffers each, most of that plan's cost. So the planner walked
-- profiles_last_active_idx instead whenever two filters matched a few hundred profiles, and
-- the walk read thousands of rows for one page ({"occupation": "social worker"} with the
-- interest "cycling": 446 matches, 8,764 rows walked, 8,847 buffers; the matches alone cost
-- about 600). The search now drops deactivated users with `p.user_id NOT IN (SELECT id FROM
-- users WHERE NOT is_active)`, a hashed set built once per statement from this index (3,025 of
-- 100,000 users on `large`: a few pages), and reads the username after the LIMIT.
--
-- Only deactivated users are in it: creating, updating or deleting an active user does not
-- touch it, and profile writes never do. Per-combination EXPLAIN ANALYZE before and after:
-- docs/PERFORMANCE.md, "search_multi on `large`".
CREATE INDEX users_inactive_idx ON users (id) WHERE NOT is_active;
COMMENT ON INDEX users_inactive_idx IS 'serves: search.profiles / search.profiles_near, the set of deactivated users left out of results (hashed NOT IN, built once per statement)';
