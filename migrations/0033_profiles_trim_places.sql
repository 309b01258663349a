-- City, state and ethnicity are stored trimmed, blank as NULL.
--
-- Search filters them by equality on the trimmed input (search.service.ts), but profile.update
-- stored whatever the client sent, so a profile saved with city " Austin " or "Austin " was
-- never found by city=Austin. The service now trims on write (profile.service.ts); this trims
-- the rows written before. Only rows that change are updated (a seq scan of profiles, once).
-- [[:space:]] is the whitespace the service's String.prototype.trim() removes, the ASCII part.
UPDATE profiles SET
  city = nullif(regexp_replace(city, '^[[:space:]]+|[[:space:]]+$', '', 'g'), ''),
  state = nullif(regexp_replace(state, '^[[:space:]]+|[[:space:]]+$', '', 'g'), ''),
  ethnicity = nullif(regexp_replace(ethnicity, '^[[:space:]]+|[[:space:]]+$', '', 'g'), '')
WHERE city ~ '^[[:space:]]|[[:space:]]$' OR city = ''
   OR state ~ '^[[:space:]]|[[:space:]]$' OR state = ''
   OR ethnicity ~ '^[[:space:]]|[[:space:]]$' OR ethnicity = '';
