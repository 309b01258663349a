-- Covering index for the activity report's period scan (report.most_active_users).
--
-- The report counts every message of its period per sender. Before this index the plan had
-- two choices, both poor on `large` (121k messages in 7 days, 30k senders):
--   * messages_sender_created_idx (sender_id, created_at): created_at is its second key,
--     so the scan reads the WHOLE index of every partition the period touches (a 1-day
--     report costs as much as a 30-day one), and wherever the visibility map is not set
--     (the newest rows, until insert-triggered autovacuum runs) it fetches heap pages in
--     sender order, i.e. at random;
--   * the BRIN index: a bitmap heap scan that reads whole message rows.
-- (created_at) INCLUDE (sender_id) reads exactly the period's entries in time order; the
-- heap pages it must still visit for not-yet-vacuumed rows come in table order.
-- Measured on a copy of large's last two months, newest 2.6 days not yet vacuumed (as
-- between insert-triggered autovacuums), same SQL: report.most_active_users over 7 days
-- 152 -> 97 ms backend CPU, over 1 day 62 -> 21 ms (docs/PERFORMANCE.md, "Query tuning").
--
-- Write cost: one more B-tree entry per message (~40 bytes: 18 MB for large's 471k-row November);
-- keys arrive in time order, so inserts go to the rightmost leaf. Measured +1.7 us of
-- executor CPU per single-row INSERT (about 5% of the insert itself, ~32 us).
-- status_updates gets no such index: the comment counter (feed.add_comment) rewrites
-- recent posts, which clears their visibility-map bits, so an index-only scan of a
-- recent period would visit the heap anyway.
--
-- CREATE INDEX on the partitioned parent cascades to every partition (and to partitions
-- created later). It cannot be CONCURRENTLY, so it holds writes to messages while it
-- builds: 0.7 s for 1M rows here, so expect ~10 s at 10M (a maintenance window).
CREATE INDEX messages_created_at_sender_idx ON messages (created_at) INCLUDE (sender_id);
COMMENT ON INDEX messages_created_at_sender_idx IS 'serves: report.most_active_users (messages per sender in a period, index-only range scan)';

-- The sender index no longer serves the report; say what it does serve.
COMMENT ON INDEX messages_sender_created_idx IS 'serves: FK messages.sender_id (cascading user deletion)';
