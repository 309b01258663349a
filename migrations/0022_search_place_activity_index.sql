-- A place search reads one page of a city, not the whole city (issue 15, "search on large").
--
-- search.profiles with city and state (the bench's search_place, and search_multi draws that
-- include a place) orders a city's profiles by activity. profiles_state_city_idx found the
-- city's rows but not in that order, so every request read all of them, joined each to users,
-- and kept the top 21: Chicago has 5,481 profiles on `large`, 19,717 buffers and 22 ms for one
-- page. This index adds the order (last_active_at, user_id) after (state, city): the scan
-- walks it backwards from the keyset position, (last_active_at, user_id) < ($13, $14) is an
-- index condition, and the scan stops after the page. It replaces profiles_state_city_idx
-- (same leading columns, so state-only and state+city lookups keep an index). last_active_at
-- was already indexed (profiles_last_active_idx), so its updates were never HOT: no new cost.
--
-- The statistics fix the estimate of `state = $3 AND city = $2`: PostgreSQL multiplied the two
-- selectivities (a city implies its state), estimated 113 rows for Chicago's 5,481 and so
-- preferred bitmap plans that read the whole city when a place came with a text, role or
-- metadata filter (Philadelphia + "dancing": 1,988 buffers and 9.7 ms; 417 and 1.2 ms now).
--
-- EXPLAIN (ANALYZE, BUFFERS) on the replica of `large`, 31 draws per operation as the bench
-- draws them, median: search_place 7.6–9.5 ms, 4,464 buffers before; 0.7 ms, 160 buffers
-- after. search_multi median buffers 1,533 → 661 after 0023 (docs/PERFORMANCE.md, "Search operations on
-- `large`"). 100,000 profiles on `large`: well under a second to build and analyze.
CREATE INDEX profiles_place_activity_idx ON profiles (state, city, last_active_at, user_id);
COMMENT ON INDEX profiles_place_activity_idx IS 'serves: search.profiles city/state filters, most recently active first (backward scan from the keyset position)';
DROP INDEX profiles_state_city_idx;

CREATE STATISTICS profiles_state_city_stats (mcv, dependencies) ON state, city FROM profiles;
COMMENT ON STATISTICS profiles_state_city_stats IS 'serves: search.profiles / search.profiles_near row estimates for city AND state (a city implies its state)';
ANALYZE profiles;
