-- A profile's rating average and count leave out the ratings of suspended accounts, as every
-- list and count leaves out a suspended account's posts, comments, messages and memberships
-- (a ring of accounts suspended for rating a profile down, or up, kept their effect). The
-- average is not stored: profile.get and the rating writes compute it from profile_ratings
-- (src/repositories/profiles.repository.ts, ratings.repository.ts), now without suspended
-- raters, so a suspension and a reinstatement are right at once, with nothing to recount.
--
-- 1. profile_ratings_rated_id_idx also carries rater_id, so the ratings stay an index-only
--    scan (no heap fetch per rating to find its rater); each rater is then one users probe
--    (its hash index, 0028). 16 bytes more per rating.
DROP INDEX profile_ratings_rated_id_idx;
CREATE INDEX profile_ratings_rated_id_idx ON profile_ratings (rated_id) INCLUDE (score, rater_id);
COMMENT ON INDEX profile_ratings_rated_id_idx IS 'serves: FK profile_ratings.rated_id; profile.get and the rating writes, rating average without suspended raters (index-only)';

-- 2. The cached profile views (0004) of the profiles a user rated show that rating in their
--    average: when the user's is_active changes (a suspension, a reinstatement), those views
--    are invalidated too, found through profile_ratings_pkey (rater_id, rated_id). The rest of
--    the function is 0004's.
CREATE OR REPLACE FUNCTION bgc_cache_users_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  session_keys text[];
  flipped uuid[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT id) INTO ids FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    -- Their sessions go by ON DELETE CASCADE, whose own DELETE trigger names them.
    IF bgc_cache_too_many((SELECT count(*) FROM old_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT id) INTO ids FROM old_rows;
  ELSE
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN
      PERFORM bgc_cache_flush('profile');
      PERFORM bgc_cache_flush('session');
      RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT coalesce(n.id, o.id)) INTO ids
    FROM (SELECT id, to_jsonb(r) - '{last_login_at,updated_at}'::text[] AS j FROM old_rows r) o
    FULL JOIN (SELECT id, to_jsonb(r) - '{last_login_at,updated_at}'::text[] AS j FROM new_rows r) n USING (id)
    WHERE o.j IS DISTINCT FROM n.j;
    SELECT array_agg(encode(s.token_hash, 'hex')) INTO session_keys
    FROM sessions s
    WHERE s.user_id = ANY (ids) AND s.revoked_at IS NULL AND s.expires_at > now();
    PERFORM bgc_cache_notify('session', session_keys);
    -- Suspended or reinstated: the profiles they rated (the routine stamps change no is_active
    -- and read no profile_ratings).
    SELECT array_agg(n.id) INTO flipped
    FROM old_rows o JOIN new_rows n USING (id) WHERE o.is_active IS DISTINCT FROM n.is_active;
    IF flipped IS NOT NULL THEN
      ids := ids || ARRAY(SELECT DISTINCT pr.rated_id FROM profile_ratings pr WHERE pr.rater_id = ANY (flipped));
    END IF;
  END IF;
  PERFORM bgc_cache_notify('profile', (SELECT array_agg(x::text) FROM unnest(ids) x));
  RETURN NULL;
END $$;
