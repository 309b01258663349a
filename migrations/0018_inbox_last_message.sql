-- The inbox reads no messages (issue 15): the last message's sender and content are kept on
-- the conversation, next to last_message_id/_at, by the statements that change them: the send
-- (chat.send_messages) sets all four; a moderator hiding the last message
-- (moderation.resolve) sets sender and content to NULL, so chat.inbox shows no last message,
-- as it did when it joined messages and filtered hidden_at IS NULL. Nothing un-hides a message.
-- Adding nullable columns without a default rewrites nothing.
ALTER TABLE conversations
  ADD COLUMN last_message_sender_id uuid,
  ADD COLUMN last_message_content text;

-- Backfill in one statement: one primary-key probe per conversation on (id, created_at), so
-- each probe is pruned to the one partition holding the message; the cost grows with the
-- number of conversations, not with history (a join would let the planner hash all messages).
-- A hidden last message (or one whose partition retention dropped) leaves both NULL.
-- No foreign key on last_message_sender_id: a sender is one of the conversation's two users,
-- whose deletion already deletes the conversation (user_low/user_high ON DELETE CASCADE).
UPDATE conversations c
SET (last_message_sender_id, last_message_content) = (
  SELECT m.sender_id, m.content FROM messages m
  WHERE m.id = c.last_message_id AND m.created_at = c.last_message_at AND m.hidden_at IS NULL)
WHERE c.last_message_id IS NOT NULL;
