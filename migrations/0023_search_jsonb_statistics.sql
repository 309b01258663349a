-- Steadier row estimates for the JSONB containment filters of search (issue 15, "search on large").
--
-- search.profiles picks its plan from the estimate of `metadata @> $9` (interests @> $7,
-- roles @> $8): few matches → read them all through the GIN index and sort by activity; many →
-- walk profiles_last_active_idx and stop after the page. PostgreSQL estimates `@>` by testing
-- the value against the column's sampled histogram, 101 entries at the default statistics
-- target, so a filter that matches 4% of the profiles hits 4 entries on average and now and
-- then none. On `large`, 2 of 5 ANALYZE samples estimated {"occupation": "designer"} (4,100
-- profiles) at 10 rows: the GIN plan then read 2,865 rows and 15,039 buffers for one page
-- (20 ms; 1.3 ms and 22 rows through the activity order). At 300 the histogram has 301
-- entries: in 5 samples no filter the bench draws (76 of them match 1,000 rows or more) was
-- estimated under a third of its count, against 0.002 in the bad samples at 100. Planning a
-- search with one of these filters costs about 0.05 ms more (the operator runs on 301 entries,
-- not 101; 1000 cost 0.3 ms and was not needed). Measured with EXPLAIN on the replica of
-- `large`; docs/PERFORMANCE.md, "Search operations on `large`".
ALTER TABLE profiles
  ALTER COLUMN metadata SET STATISTICS 300,
  ALTER COLUMN interests SET STATISTICS 300,
  ALTER COLUMN roles SET STATISTICS 300;
ANALYZE profiles;
