-- activity.most_active_users counted the messages a moderator hid (moderation.resolve), though
-- it leaves out hidden posts and every list leaves out hidden messages: it now counts
-- `m.hidden_at IS NULL` only. messages_created_at_sender_idx (0009) serves that report alone
-- as an index-only range scan of the period; with the filter it would have to fetch every
-- message's heap row for hidden_at. Rebuilt partial on `hidden_at IS NULL`, it answers the
-- filtered count index-only again (a partial index's predicate column need not be in the
-- index). A send writes the same one entry as before; a hide (rare) now leaves the index.
-- Nothing un-hides a message (0018).
-- Rebuilding holds writes to messages while it runs, as 0009 and 0019 did: about a second per
-- million messages on the development machine; run it in a quiet moment on a large table.
DROP INDEX messages_created_at_sender_idx;
CREATE INDEX messages_created_at_sender_idx ON messages (created_at) INCLUDE (sender_id)
  WHERE hidden_at IS NULL;
COMMENT ON INDEX messages_created_at_sender_idx IS 'serves: activity.most_active_users (messages not hidden per sender in a period, index-only range scan; partial: not hidden)';
