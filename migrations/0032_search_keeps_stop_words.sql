-- Free text keeps words that are English stop words.
--
-- bgc_search_tsquery (0011) dropped every word whose English form was empty: "will", "don",
-- "may", "in", "or". Display names, cities and states are indexed with the `simple`
-- configuration, which keeps those words, so "Will" as a name, "IN" or "OR" as a state could
-- not be searched: `q=will` gave no rows (the whole query became NULL) and `q=will smith`
-- matched every Smith, while the API promises that every word must match. Such a word is now
-- matched by its simple form alone; other words by (english form | simple form) as before.
-- The 8-word cap counts words, not the empty pieces the split leaves between separators.
CREATE OR REPLACE FUNCTION bgc_search_tsquery(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg('(' || (CASE WHEN numnode(websearch_to_tsquery('english', w.w)) > 0
                                 THEN websearch_to_tsquery('english', w.w) || websearch_to_tsquery('simple', w.w)
                                 ELSE websearch_to_tsquery('simple', w.w) END)::text || ')', ' & ' ORDER BY w.n)::tsquery
  FROM (
    SELECT t.w, row_number() OVER (ORDER BY t.o) AS n
    FROM unnest(regexp_split_to_array(lower(q), '[^[:alnum:]]+')) WITH ORDINALITY AS t(w, o)
    WHERE t.w <> ''
  ) w
  WHERE w.n <= 8 AND numnode(websearch_to_tsquery('simple', w.w)) > 0
$$;
COMMENT ON FUNCTION bgc_search_tsquery(text) IS 'serves: search.profiles and search.profiles_near free text (folded at plan time); stop words kept by their simple form (0032)';
