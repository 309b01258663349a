-- Chat images (issue 20): an image sent in a direct conversation or a chat room. The bytes
-- live in the photo store (src/storage, namespace chat-images); PostgreSQL keeps what the
-- API checks. The image is announced by an ordinary message (its content carries the
-- image's URL) sent through the chat service; message_id/message_created_at link the two
-- once the message exists, so an image whose message a moderator hid is hidden with it.
-- messages is partitioned and its key is (id, created_at): the link is a plain pair of
-- columns, not a foreign key. Forward-only; every FK column has an index leading with it.
CREATE TABLE chat_images (
  id                  uuid PRIMARY KEY,
  conversation_id     uuid REFERENCES conversations (id) ON DELETE CASCADE,
  room_id             uuid REFERENCES chat_rooms (id) ON DELETE CASCADE,
  uploader_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  message_id          uuid,
  message_created_at  timestamptz,
  content_type        text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
  bytes               integer NOT NULL CHECK (bytes > 0),
  width               integer NOT NULL CHECK (width > 0),
  height              integer NOT NULL CHECK (height > 0),
  thumb_bytes         integer NOT NULL CHECK (thumb_bytes > 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((conversation_id IS NULL) <> (room_id IS NULL)),
  CHECK ((message_id IS NULL) = (message_created_at IS NULL))
);
CREATE INDEX chat_images_conversation_created_idx ON chat_images (conversation_id, created_at DESC, id DESC);
COMMENT ON INDEX chat_images_conversation_created_idx IS 'serves: FK chat_images.conversation_id';
CREATE INDEX chat_images_room_created_idx ON chat_images (room_id, created_at DESC, id DESC);
COMMENT ON INDEX chat_images_room_created_idx IS 'serves: FK chat_images.room_id';
CREATE INDEX chat_images_uploader_created_idx ON chat_images (uploader_id, created_at DESC);
COMMENT ON INDEX chat_images_uploader_created_idx IS 'serves: FK chat_images.uploader_id';
ANALYZE chat_images;
