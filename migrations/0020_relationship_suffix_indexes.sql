-- A node of a relationship set reads only its own rows (issue 15, "relationship sets at large").
--
-- A node holds one user's rows with the other users whose id ends in the node's hex suffix
-- (src/cache/relationship-sets.ts). 0010 noted that the suffix could not be indexed, so every
-- node load read all of its owner's rows and kept 1/16, 1/256 or 1/4096 of them: on `large` a
-- 20 s profile run spent 1.2 ms of database time per request in cache.relationship_set, 2.5 to
-- 10.7 ms per load, most of it re-reading big sets leaf by leaf. Reversed, a suffix is a prefix,
-- and a B-tree range-scans a prefix of any length: these indexes lead with the owner, then the
-- other user's id reversed (byte order, COLLATE "C"), so a node load reads its own rows only.
-- Both carry every column the load returns (index-only scans).
--
-- The outgoing index replaces relationships_owner_cover_idx (same leading column, same
-- included columns, so the owner's other readers keep their index-only scans). The incoming
-- one is added beside relationships_target_cover_idx, which keeps serving the target_id
-- foreign key and the block and friend-request checks on (target_id, kind, status).
-- One million rows on `large`: a few seconds to build.
CREATE INDEX relationships_owner_suffix_idx ON relationships (user_id, (reverse(target_id::text) COLLATE "C"))
  INCLUDE (target_id, kind, status);
COMMENT ON INDEX relationships_owner_suffix_idx IS 'serves: cache.relationship_set outgoing rows of one node (owner, then the reversed other id as a prefix); index-only scans of one owner''s rows';
DROP INDEX relationships_owner_cover_idx;

CREATE INDEX relationships_target_suffix_idx ON relationships (target_id, (reverse(user_id::text) COLLATE "C"))
  INCLUDE (user_id, kind, status);
COMMENT ON INDEX relationships_target_suffix_idx IS 'serves: cache.relationship_set incoming rows of one node (owner, then the reversed other id as a prefix)';
