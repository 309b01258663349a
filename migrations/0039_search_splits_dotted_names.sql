-- Free text finds a name with dots in it: `john.smith`, `J.R. Smith`.
--
-- The search input is split into words at every character that is not a letter or digit
-- (bgc_search_tsquery, 0011/0032), but the document's name part went through the text-search
-- parser whole, and the parser keeps `john.smith` as one token (a host name), with no parts.
-- So `q=john`, `q=smith` and `q=john.smith` (which becomes john & smith) never found the user
-- `john.smith`, whom registration also gives that display name. The name part is now split
-- the way the input is, before the parser sees it. The bio ('english', weight B) and the
-- place ('simple', C) are as 0034 left them.
--
-- Rebuilding the generated column rewrites profiles and its indexes once (about a second on
-- `large`), as 0034 did; its GIN index and statistics are recreated.
ALTER TABLE profiles DROP COLUMN search_vector;
ALTER TABLE profiles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple'::regconfig, regexp_replace(coalesce(display_name, '') || ' ' || username, '[^[:alnum:]]+', ' ', 'g')), 'A') ||
  setweight(to_tsvector('english'::regconfig, coalesce(bio, '')), 'B') ||
  setweight(to_tsvector('simple'::regconfig, coalesce(city, '') || ' ' || coalesce(state, '')), 'C')
) STORED;
CREATE INDEX profiles_search_vector_gin ON profiles USING gin (search_vector);
COMMENT ON INDEX profiles_search_vector_gin IS 'serves: search.profiles free text (q): username, display name, bio, city, state';

ANALYZE profiles (search_vector);
