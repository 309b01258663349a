-- Database-driven cache invalidation (FR-011). Writes made anywhere -- the app, psql, a
-- migration, an admin script -- NOTIFY 'bgc_cache_invalidate' with the cache keys they
-- touched; every app instance LISTENs (src/db/notify-listener.ts) and drops those keys
-- from its L1 and from Redis. NOTIFY is delivered at commit, so a rolled-back write
-- sends nothing and a reader never sees an invalidation before the data.
--
-- Payload (JSON, < 8000 bytes): {"v":1,"cache":"profile"|"session","keys":[...]}, or
-- {"v":1,"cache":...,"flush":true} when one statement touched more rows than is worth
-- naming (bulk loads, TRUNCATE). Profile keys are user ids; session keys are the hex of
-- sessions.token_hash. Triggers are statement-level with transition tables, so a bulk
-- statement costs one trigger call, not one per row.
--
-- Columns that no cached view shows are ignored, so routine stamps cost nothing:
-- users.last_login_at / updated_at, sessions.last_seen_at / user_agent, and
-- profiles.search_vector (generated from columns that are compared anyway).
-- What the views read: profile view = users (username, created_at, is_active) + profiles
-- + profile_ratings (average, count) (src/repositories/profiles.repository.ts);
-- session lookup = sessions + users (username, email, is_superuser, is_active)
-- (src/repositories/sessions.repository.ts). A new column in either view needs its
-- table covered here (a new migration).

CREATE FUNCTION bgc_cache_notify(cache text, keys text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  -- 100 keys of at most 64 hex chars stay well under NOTIFY's 8000-byte payload limit.
  chunk constant int := 100;
  n int := coalesce(cardinality(keys), 0);
BEGIN
  IF n = 0 THEN RETURN; END IF;
  IF n > 5000 THEN
    PERFORM pg_notify('bgc_cache_invalidate', json_build_object('v', 1, 'cache', cache, 'flush', true)::text);
    RETURN;
  END IF;
  FOR i IN 0 .. (n - 1) / chunk LOOP
    PERFORM pg_notify('bgc_cache_invalidate',
      json_build_object('v', 1, 'cache', cache, 'keys', keys[i * chunk + 1 : (i + 1) * chunk])::text);
  END LOOP;
END $$;
COMMENT ON FUNCTION bgc_cache_notify(text, text[]) IS 'Sends cache invalidations for keys in chunks (or one flush for very large sets); see migration 0004.';

CREATE FUNCTION bgc_cache_flush(cache text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('bgc_cache_invalidate', json_build_object('v', 1, 'cache', cache, 'flush', true)::text);
$$;

-- Big statements skip the per-row comparison: counting first keeps a bulk COPY cheap.
CREATE FUNCTION bgc_cache_too_many(n bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT n > 5000 $$;

-- profiles -> profile view of that user ---------------------------------------------
CREATE FUNCTION bgc_cache_profiles_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  keys text[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT user_id::text) INTO keys FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM old_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT user_id::text) INTO keys FROM old_rows;
  ELSE
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT coalesce(n.user_id, o.user_id)::text) INTO keys
    FROM (SELECT user_id, to_jsonb(r) - 'search_vector' AS j FROM old_rows r) o
    FULL JOIN (SELECT user_id, to_jsonb(r) - 'search_vector' AS j FROM new_rows r) n USING (user_id)
    WHERE o.j IS DISTINCT FROM n.j;
  END IF;
  PERFORM bgc_cache_notify('profile', keys);
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_cache_profiles_ins AFTER INSERT ON profiles REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_profiles_changed();
CREATE TRIGGER bgc_cache_profiles_upd AFTER UPDATE ON profiles REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_profiles_changed();
CREATE TRIGGER bgc_cache_profiles_del AFTER DELETE ON profiles REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_profiles_changed();

-- profile_ratings -> the rated user's profile view (it shows the rating average) -------
CREATE FUNCTION bgc_cache_ratings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  keys text[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT rated_id::text) INTO keys FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM old_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT rated_id::text) INTO keys FROM old_rows;
  ELSE
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('profile'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT k) INTO keys FROM (
      SELECT rated_id::text AS k FROM old_rows UNION SELECT rated_id::text FROM new_rows) x;
  END IF;
  PERFORM bgc_cache_notify('profile', keys);
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_cache_ratings_ins AFTER INSERT ON profile_ratings REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_ratings_changed();
CREATE TRIGGER bgc_cache_ratings_upd AFTER UPDATE ON profile_ratings REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_ratings_changed();
CREATE TRIGGER bgc_cache_ratings_del AFTER DELETE ON profile_ratings REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_ratings_changed();

-- users -> profile view (username, created_at, is_active) and the user's live sessions
-- (the session view carries username, email, is_superuser, and is_active gates it) ----
CREATE FUNCTION bgc_cache_users_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  session_keys text[];
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
  END IF;
  PERFORM bgc_cache_notify('profile', (SELECT array_agg(x::text) FROM unnest(ids) x));
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_cache_users_ins AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_users_changed();
CREATE TRIGGER bgc_cache_users_upd AFTER UPDATE ON users REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_users_changed();
CREATE TRIGGER bgc_cache_users_del AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_users_changed();

-- sessions -> that token's session lookup ----------------------------------------------
-- INSERT matters too: a token looked up before its session existed may be cached as
-- missing (negative caching). Deleting sessions that were already dead (the expiry
-- clean-up) changes nothing a reader could see, so those rows are not named.
CREATE FUNCTION bgc_cache_sessions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  keys text[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('session'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT encode(token_hash, 'hex')) INTO keys FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT encode(token_hash, 'hex')) INTO keys
    FROM old_rows WHERE revoked_at IS NULL AND expires_at > now();
  ELSE
    IF bgc_cache_too_many((SELECT count(*) FROM new_rows)) THEN PERFORM bgc_cache_flush('session'); RETURN NULL; END IF;
    SELECT array_agg(DISTINCT k) INTO keys FROM (
      SELECT unnest(ARRAY[encode(o.token_hash, 'hex'), encode(n.token_hash, 'hex')]) AS k
      FROM old_rows o FULL JOIN new_rows n USING (id)
      WHERE (o.token_hash, o.user_id, o.expires_at, o.revoked_at) IS DISTINCT FROM (n.token_hash, n.user_id, n.expires_at, n.revoked_at)
    ) c WHERE k IS NOT NULL;
  END IF;
  PERFORM bgc_cache_notify('session', keys);
  RETURN NULL;
END $$;

CREATE TRIGGER bgc_cache_sessions_ins AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_sessions_changed();
CREATE TRIGGER bgc_cache_sessions_upd AFTER UPDATE ON sessions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_sessions_changed();
CREATE TRIGGER bgc_cache_sessions_del AFTER DELETE ON sessions REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_sessions_changed();

-- TRUNCATE names no rows: flush the cache it feeds.
CREATE FUNCTION bgc_cache_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM bgc_cache_flush(TG_ARGV[0]);
  IF TG_NARGS > 1 THEN PERFORM bgc_cache_flush(TG_ARGV[1]); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bgc_cache_users_trunc AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_truncated('profile', 'session');
CREATE TRIGGER bgc_cache_profiles_trunc AFTER TRUNCATE ON profiles FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_truncated('profile');
CREATE TRIGGER bgc_cache_ratings_trunc AFTER TRUNCATE ON profile_ratings FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_truncated('profile');
CREATE TRIGGER bgc_cache_sessions_trunc AFTER TRUNCATE ON sessions FOR EACH STATEMENT EXECUTE FUNCTION bgc_cache_truncated('session');
