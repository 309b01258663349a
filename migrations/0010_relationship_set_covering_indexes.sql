-- Covering indexes for the relationship cache's loads (cache.relationship_set).
--
-- A node of a user's relationship set reads that user's outgoing rows (user_id = $1) and
-- incoming rows (target_id = $1) and keeps those whose other user's id ends in the node's
-- hex suffix. The suffix cannot be indexed (its length is the node's depth), so a load
-- reads all of the owner's rows either way. Before this migration each of them was a heap
-- fetch: relationships_pkey (user_id, target_id, kind) lacks status, and
-- relationships_target_id_idx (target_id, kind, status) lacks user_id. A busy user's rows
-- are scattered over the table: on `large` the busiest has 12,002 outgoing and 8,890
-- incoming rows on ~6,000 heap pages, and one node load took 115-277 ms; the profile
-- workload on `large` loads hundreds of such nodes (41% relationship-cache hit ratio in a
-- 20 s run). With every column in the index, both branches are index-only scans.
--
-- relationships_target_cover_idx keeps the old index's key (target_id, kind, status), so
-- it serves everything the old one served (the target_id foreign key, incoming friend
-- requests, block checks) and the old one is dropped: one more index on the outgoing
-- side, none on the incoming side. Writes to relationships are rare (friend requests,
-- favourites, blocks).
--
-- Built in the migration's transaction (not CONCURRENTLY), like 0006: it blocks writes to
-- relationships while it builds, about a second per million rows here.
CREATE INDEX relationships_owner_cover_idx ON relationships (user_id) INCLUDE (target_id, kind, status);
COMMENT ON INDEX relationships_owner_cover_idx IS 'serves: cache.relationship_set outgoing rows (index-only scan of one owner)';

CREATE INDEX relationships_target_cover_idx ON relationships (target_id, kind, status) INCLUDE (user_id);
COMMENT ON INDEX relationships_target_cover_idx IS 'serves: FK relationships.target_id; incoming friend requests and block checks; cache.relationship_set incoming rows (index-only)';

DROP INDEX relationships_target_id_idx;
