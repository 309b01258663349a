-- Which seeds ran and whether they finished. `npm start` loads the demo dataset into a database
-- without users; a load that was interrupted (Ctrl-C, the process killed) committed some tables
-- and not others, and the next start served that partial dataset as it was (or skipped the demo
-- data when no user had committed yet). A run's row is written when it starts loading and
-- finished_at when every table's count matched; `npm start` loads again (emptying the seeded
-- tables first) when the latest run never finished. Maintenance rows, not app data: the seed's
-- TRUNCATE leaves them.
CREATE TABLE seed_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  preset      text NOT NULL,
  seed        bigint NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
