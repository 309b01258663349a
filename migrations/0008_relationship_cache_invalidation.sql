-- Database-driven invalidation of the relationship cache (same channel and payload as
-- 0004: {"v":1,"cache":"relationship","keys":[...]} via bgc_cache_notify, or a flush).
--
-- The cache keeps each user's relationship rows (both directions) as a small trie of
-- nodes keyed '<user id>' and '<user id>:<last 1..3 hex digits of the other id>'
-- (src/cache/relationship-sets.ts). A row between A and B can sit in any of four levels
-- of A's set and of B's, so a changed row names those eight keys. MAX_DEPTH there (3)
-- and the generate_series bound here must agree.
--
-- Only columns the cached rows carry matter (user_id, target_id, kind, status); touching
-- created_at / updated_at alone notifies nothing. A user deleted with ON DELETE CASCADE
-- removes their rows through this DELETE trigger too. Statement-level with transition
-- tables, as in 0004; a statement over 5,000 rows flushes the cache instead (the seed
-- loads with session_replication_role = replica, so its COPY fires nothing at all).

CREATE FUNCTION bgc_cache_relationship_keys(a uuid, b uuid) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d = 0 THEN p.owner::text ELSE p.owner::text || ':' || right(p.other::text, d) END
  FROM generate_series(0, 3) AS d, (VALUES (a, b), (b, a)) AS p(owner, other)
$$;
COMMENT ON FUNCTION bgc_cache_relationship_keys(uuid, uuid) IS 'Relationship cache keys that may hold a row between a and b (see migration 0008, src/cache/relationship-sets.ts).';

CREATE FUNCTION bgc_cache_relationships_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  keys text[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('relationship'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT k) INTO keys
    FROM new_rows r, bgc_cache_relationship_keys(r.user_id, r.target_id) AS k;
  ELSIF TG_OP = 'DELETE' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM old_rows)) THEN PERFORM bgc_cache_flush('relationship'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT k) INTO keys
    FROM old_rows r, bgc_cache_relationship_keys(r.user_id, r.target_id) AS k;
  ELSE
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('relationship'); RETURN NULL; END IF;
    -- Rows are matched by their primary key (user_id, target_id, kind); an UPDATE that
    -- changes the key shows up as one old row and one new row without a partner.
    SELECT array_agg(DISTINCT k) INTO keys
    FROM (
      SELECT coalesce(n.user_id, o.user_id) AS user_id, coalesce(n.target_id, o.target_id) AS target_id
      FROM old_rows o
      FULL JOIN new_rows n ON n.user_id = o.user_id AND n.target_id = o.target_id AND n.kind = o.kind
      WHERE o.user_id IS NULL OR n.user_id IS NULL OR o.status IS DISTINCT FROM n.status
    ) c, bgc_cache_relationship_keys(c.user_id, c.target_id) AS k;
  END IF;
  PERFORM bgc_cache_notify('relationship', keys);
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_cache_relationships_ins AFTER INSERT ON relationships REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_relationships_changed();
CREATE TRIGGER bgc_cache_relationships_upd AFTER UPDATE ON relationships REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_relationships_changed();
CREATE TRIGGER bgc_cache_relationships_del AFTER DELETE ON relationships REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_relationships_changed();
CREATE TRIGGER bgc_cache_relationships_trunc AFTER TRUNCATE ON relationships
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_truncated('relationship');
