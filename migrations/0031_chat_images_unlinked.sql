-- Chat images whose announcing message was never linked to them (migration 0017's message_id).
--
-- An upload stores the image row first, then sends the message that names it, then links the
-- two. When the message failed in a way that left it unknown whether it committed (a lost
-- connection in its group's commit, a statement timeout) the image was kept, unlinked, and
-- nothing ever looked at it again: a row and two files for good, reachable by id. The
-- chat_images.unlinked job links each such image to its message when one exists, and deletes
-- it when none does (its files then go with images.orphan_files). This index finds them: few
-- rows, the unlinked ones only.
CREATE INDEX chat_images_unlinked_idx ON chat_images (created_at) WHERE message_id IS NULL;
COMMENT ON INDEX chat_images_unlinked_idx IS 'serves: chat_image.resolve_unlinked (partial: images whose message was never linked)';
