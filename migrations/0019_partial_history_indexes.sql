-- One index entry fewer per message (issue 16, the send path): a message belongs to a
-- conversation or to a room, never both, yet both history indexes held an entry for every
-- message, the other one under a NULL key that no query asks for. Each is now partial on its
-- own column. The queries that use them (chat.conversation_history, chat.room_history, the
-- realtime sync, the foreign keys' checks) all ask `column = value`, which implies
-- `column IS NOT NULL`, so the planner keeps using them. A direct message now writes five
-- index entries instead of six (primary key, conversation history, sender, created_at with
-- sender, BRIN).
-- Rebuilding takes an ACCESS EXCLUSIVE lock on each partition while it runs: about a second
-- per million messages on the development machine; run it in a quiet moment on a large table.
DROP INDEX messages_conversation_history_idx;
CREATE INDEX messages_conversation_history_idx ON messages (conversation_id, created_at DESC, id DESC)
  WHERE conversation_id IS NOT NULL;
COMMENT ON INDEX messages_conversation_history_idx IS 'serves: FK messages.conversation_id; chat.conversation_history keyset pages; realtime sync (partial: direct messages only)';

DROP INDEX messages_room_history_idx;
CREATE INDEX messages_room_history_idx ON messages (room_id, created_at DESC, id DESC)
  WHERE room_id IS NOT NULL;
COMMENT ON INDEX messages_room_history_idx IS 'serves: FK messages.room_id; chat.room_history keyset pages (partial: room messages only)';
