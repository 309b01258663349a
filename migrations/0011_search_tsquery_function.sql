-- The free-text part of search.profiles / search.profiles_near as an IMMUTABLE function,
-- so the planner sees the tsquery.
--
-- Before, the statements built the tsquery in a CTE from $1. The planner cannot look
-- inside a subquery's result, so it estimated every text match at the GIN default (483
-- rows on `large`) and always chose "bitmap scan of every match, then sort by activity".
-- For a common word that reads every matching profile: "love" matches 70,125 of 100,000
-- and took 470 ms. With the query as an IMMUTABLE function of $1, a custom plan (the
-- entries are sent unnamed, `plan: 'custom'`) folds it to a constant at plan time, the
-- planner uses the search_vector statistics, and a common word walks
-- profiles_last_active_idx until the page is full (about 1 ms), while a rare one still
-- uses the GIN index.
--
-- Each word of the input becomes (english form | simple form) and the words are AND-ed,
-- at most 8 words, English stop words dropped (src/repositories/search.repository.ts).
-- Only IMMUTABLE functions are used with fixed configurations, as to_tsvector(regconfig,
-- text) itself is. NULL when nothing searchable is left.
CREATE FUNCTION bgc_search_tsquery(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_agg('(' || (websearch_to_tsquery('english', t.w) || websearch_to_tsquery('simple', t.w))::text || ')', ' & ' ORDER BY t.n)::tsquery
  FROM unnest(regexp_split_to_array(lower(q), '[^[:alnum:]]+')) WITH ORDINALITY AS t(w, n)
  WHERE t.w <> '' AND t.n <= 8 AND numnode(websearch_to_tsquery('english', t.w)) > 0
$$;
COMMENT ON FUNCTION bgc_search_tsquery(text) IS 'serves: search.profiles and search.profiles_near free text (folded at plan time)';
