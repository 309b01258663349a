-- Near search on a 0.01° grid (about 1.1 km north-south, less east-west away from the equator).
--
-- Only a profile's owner sees its exact lat/lng, but the near search measured distances, ordered
-- and filtered by radius on the exact point, and returned distance_km to 10 m and the exact
-- distance in its cursor: three searches from points of the caller's choosing located anyone to
-- within metres (trilateration), and a shrinking radius_km did the same. Every search now works
-- on the profile's point rounded to the grid, so what any number of searches can reveal is the
-- grid point, never the profile's own. The rounding is float8 arithmetic (round(x * 100) / 100,
-- half away from zero), written out the same way in src/repositories/search.repository.ts so the
-- index, the keyset and the distance agree to the bit.
CREATE FUNCTION earth_point_grid(lat float8, lng float8) RETURNS earth
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN earth_point(round(lat * 100::float8) / 100::float8, round(lng * 100::float8) / 100::float8);
COMMENT ON FUNCTION earth_point_grid(float8, float8) IS 'earth_point of the location rounded to a 0.01 degree grid: what the near search sees of a profile (0030)';

CREATE INDEX profiles_location_grid_gist ON profiles USING gist (earth_point_grid(lat, lng)) WHERE lat IS NOT NULL AND lng IS NOT NULL;
DROP INDEX profiles_location_gist;
ALTER INDEX profiles_location_grid_gist RENAME TO profiles_location_gist;
COMMENT ON INDEX profiles_location_gist IS 'serves: search.profiles_near (the radius box and the nearest-first order), on the 0.01 degree grid (0030)';
