-- Which server a node's snapshot was taken on. A node is a pool name ("primary", "replica1"), and
-- after a failover "primary" is another server: its counters (pg_stat_statements, pg_stat_database,
-- table and index scans) are that server's own, unrelated to the previous snapshot's, and a delta
-- between the two counted a promoted replica's whole history as one interval's primary work. The
-- postmaster's start time tells the servers (and restarts) apart; a snapshot whose server differs
-- from the previous one's is a new baseline. Nullable, no default: an instant ALTER.
ALTER TABLE monitoring.snapshots ADD COLUMN server_started_at timestamptz;
COMMENT ON COLUMN monitoring.snapshots.server_started_at IS 'pg_postmaster_start_time() of the server sampled: counters are compared only between snapshots of one server run';
