-- Free-text search finds a profile by its username (as well as display name, bio, city and
-- state).
--
-- search_vector (0001) never held the username: registration sets display_name to the
-- username, so `q=<username>` matched only until the user chose another display name, after
-- which no search found them by the name other users see beside their posts and messages.
-- A generated column can only read its own row, so profiles keeps a copy of the username,
-- set from users by a trigger on every insert (and on the rare rename of a user), and
-- search_vector is rebuilt with it under the display name's weight and configuration
-- ('simple': no stemming). The trigger is ENABLE ALWAYS so it also fires under the seed's
-- session_replication_role = replica (which skips ordinary triggers). It overwrites what an
-- insert gives: users is the one source of the name.
--
-- Rebuilding the generated column rewrites profiles and its indexes once (about a second
-- on `large`); its GIN index and statistics are recreated as 0001 and 0011 left them.
ALTER TABLE profiles ADD COLUMN username text;
UPDATE profiles p SET username = u.username FROM users u WHERE u.id = p.user_id;
ALTER TABLE profiles ALTER COLUMN username SET NOT NULL;

CREATE FUNCTION bgc_profiles_username() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A row inserted earlier in the same statement (auth.register's users CTE) is visible here.
  NEW.username := (SELECT u.username FROM users u WHERE u.id = NEW.user_id);
  RETURN NEW;
END $$;
CREATE TRIGGER bgc_profiles_username BEFORE INSERT OR UPDATE OF user_id ON profiles
  FOR EACH ROW EXECUTE FUNCTION bgc_profiles_username();
ALTER TABLE profiles ENABLE ALWAYS TRIGGER bgc_profiles_username;

CREATE FUNCTION bgc_users_username_renamed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE profiles p SET username = NEW.username WHERE p.user_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER bgc_users_username_renamed AFTER UPDATE OF username ON users
  FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username) EXECUTE FUNCTION bgc_users_username_renamed();
ALTER TABLE users ENABLE ALWAYS TRIGGER bgc_users_username_renamed;

-- Dropping the column drops profiles_search_vector_gin with it.
ALTER TABLE profiles DROP COLUMN search_vector;
ALTER TABLE profiles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple'::regconfig, coalesce(display_name, '') || ' ' || username), 'A') ||
  setweight(to_tsvector('english'::regconfig, coalesce(bio, '')), 'B') ||
  setweight(to_tsvector('simple'::regconfig, coalesce(city, '') || ' ' || coalesce(state, '')), 'C')
) STORED;
CREATE INDEX profiles_search_vector_gin ON profiles USING gin (search_vector);
COMMENT ON INDEX profiles_search_vector_gin IS 'serves: search.profiles free text (q): username, display name, bio, city, state';

-- The planner reads search_vector's statistics to choose between the GIN index and the
-- activity order (0011); a new column has none until an ANALYZE.
ANALYZE profiles (search_vector, username);
