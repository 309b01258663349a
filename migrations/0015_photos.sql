-- Profile photos (issue 20). The image bytes live in a PhotoStorage (src/storage: the
-- local filesystem by default); PostgreSQL keeps what the API lists and checks. A row is
-- written only after both files (the processed image and its thumbnail) were stored, and
-- the files are removed again if the row cannot be written, so a failed upload leaves
-- nothing behind.
CREATE TABLE photos (
  id            uuid PRIMARY KEY,
  owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
  bytes         integer NOT NULL CHECK (bytes > 0),
  width         integer NOT NULL CHECK (width > 0),
  height        integer NOT NULL CHECK (height > 0),
  thumb_bytes   integer NOT NULL CHECK (thumb_bytes > 0),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX photos_owner_created_idx ON photos (owner_id, created_at DESC, id DESC);
COMMENT ON INDEX photos_owner_created_idx IS 'serves: FK photos.owner_id; photo.gallery keyset pages (newest first)';
ANALYZE photos;
