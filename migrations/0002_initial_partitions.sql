-- Monthly partitions around "now" so a fresh database accepts writes at once.
-- Names follow <table>_yYYYYmMM. The partition maintenance job (src/jobs/partitions)
-- keeps months ahead from here on and creates any month on demand.
DO $$
DECLARE
  parent text;
  m date;
BEGIN
  FOREACH parent IN ARRAY ARRAY['messages', 'status_updates'] LOOP
    FOR i IN -1..3 LOOP
      m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
      EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        format('%s_y%sm%s', parent, to_char(m, 'YYYY'), to_char(m, 'MM')), parent,
        (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
    END LOOP;
  END LOOP;
END $$;
