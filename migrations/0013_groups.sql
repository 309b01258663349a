-- Groups API (issue 20): visibility, name search, join requests and group feeds.
-- Forward-only; every FK column gets a B-tree index leading with it (FR-003).

-- A private group is listed and searchable, but joining it takes the owner's (or a
-- moderator's) approval. Seeds before this migration kept the flag in metadata.
ALTER TABLE community_groups
  ADD COLUMN visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
  ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
  ) STORED;
UPDATE community_groups SET visibility = 'private' WHERE metadata ->> 'visibility' = 'private';

CREATE INDEX community_groups_active_name_idx ON community_groups (name, id) WHERE is_active;
COMMENT ON INDEX community_groups_active_name_idx IS 'serves: group.list (active groups, keyset by name)';
CREATE INDEX community_groups_search_vector_gin ON community_groups USING gin (search_vector);
COMMENT ON INDEX community_groups_search_vector_gin IS 'serves: group.list free text (q) via bgc_search_tsquery';

-- Requests to join a private group; a row leaves when it is approved (it becomes a
-- membership), rejected, or withdrawn.
CREATE TABLE group_join_requests (
  group_id    uuid NOT NULL REFERENCES community_groups (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id)
);
COMMENT ON INDEX group_join_requests_pkey IS 'serves: FK group_join_requests.group_id; group.requests keyset by user; one request per user and group';
CREATE INDEX group_join_requests_user_id_idx ON group_join_requests (user_id);
COMMENT ON INDEX group_join_requests_user_id_idx IS 'serves: FK group_join_requests.user_id';

-- Group posts are status updates with a group_id; the public feeds show only posts with
-- none. The index is declared on the partitioned table, so every monthly partition,
-- existing and future (partition maintenance), gets its own. It is not partial although
-- most rows have no group: `bgc doctor` (and PostgreSQL's ON DELETE CASCADE lookup)
-- want a plain index leading with the FK column.
ALTER TABLE status_updates ADD COLUMN group_id uuid REFERENCES community_groups (id) ON DELETE CASCADE;
CREATE INDEX status_updates_group_created_idx ON status_updates (group_id, created_at DESC, id DESC);
COMMENT ON INDEX status_updates_group_created_idx IS 'serves: FK status_updates.group_id; group.feed keyset pages per partition';

-- A new column has no statistics until the next ANALYZE, and autovacuum does not run one
-- for an ADD COLUMN. Without them the planner guesses `group_id IS NULL` (every public
-- feed) matches 0.5% of rows and walks the new index instead of the time index (measured
-- on `medium`: feed.global 219 ms instead of a few ms). Only this column, every partition.
ANALYZE status_updates (group_id);
ANALYZE community_groups;
ANALYZE group_join_requests;
