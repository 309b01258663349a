-- profiles_location_gist on a location function that autovacuum can evaluate.
--
-- Autovacuum runs with search_path = pg_catalog. earthdistance 1.1's ll_to_earth is a SQL
-- function whose body names cube(), earth() and the earth type unqualified, so every automatic
-- ANALYZE (and VACUUM) of profiles failed while evaluating profiles_location_gist's expression:
-- `ERROR: type "earth" does not exist`, context `automatic analyze of table ... profiles`, about
-- once a minute per database in the server log (seen 2026-12-05 on the bench databases). So
-- profiles was never analyzed automatically: pg_stat_user_tables showed last_autoanalyze null and
-- n_mod_since_analyze growing, and its statistics stayed those of the seed's explicit ANALYZE.
-- A manual `SET search_path = pg_catalog; ANALYZE profiles;` fails the same way.
--
-- earth_point(lat, lng) is ll_to_earth's body as an SQL-standard function body (RETURN): the
-- names in it are resolved once, here, under the migrator's search_path, and stored resolved, so
-- it evaluates the same under any search_path. The same operations in the same order as
-- ll_to_earth, so the same float8 values. The index is rebuilt on it, and the near search
-- (src/repositories/search.repository.ts) orders and filters by it. The build takes a SHARE lock on
-- profiles (writes wait; about a second on `large`'s 100,000 profiles).
CREATE FUNCTION earth_point(lat float8, lng float8) RETURNS earth
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN cube(cube(cube(earth() * cos(radians(lat)) * cos(radians(lng))), earth() * cos(radians(lat)) * sin(radians(lng))), earth() * sin(radians(lat)))::earth;
COMMENT ON FUNCTION earth_point(float8, float8) IS 'll_to_earth with its names resolved at creation, so autovacuum (search_path pg_catalog) can evaluate profiles_location_gist (0029)';

CREATE INDEX profiles_location_point_gist ON profiles USING gist (earth_point(lat, lng)) WHERE lat IS NOT NULL AND lng IS NOT NULL;
DROP INDEX profiles_location_gist;
ALTER INDEX profiles_location_point_gist RENAME TO profiles_location_gist;
COMMENT ON INDEX profiles_location_gist IS 'serves: search.profiles_near (the radius box and the nearest-first order); on earth_point, which autovacuum can evaluate (0029)';
