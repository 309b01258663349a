import { defineQuery } from '../catalog/types.ts';
import { catalog } from '../catalog/registry.ts';

/**
 * Statements the db layer itself sends (replica monitor, read-your-writes). They are
 * catalog entries like any other so pg_stat_statements and the metrics name them.
 */
export const systemQueries = catalog({
  replicaStatus: defineQuery({
    name: 'system.replica_status',
    description: 'Replica monitor poll: recovery state, replayed LSN and time lag.',
    target: 'replica',
    standbyOnly: true,
    sample: [],
    sql: `SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) END::float8 AS lag_ms,
       pg_is_wal_replay_paused() AS paused`,
  }),
  primaryLsn: defineQuery({
    name: 'system.primary_lsn',
    description: 'Current WAL LSN of the primary: the read-your-writes mark after a write, and the lag-bytes reference.',
    target: 'primary',
    sample: [],
    sql: `SELECT pg_current_wal_lsn()::text AS lsn`,
  }),
  replayedPast: defineQuery({
    name: 'system.replayed_past',
    description: 'Has this replica replayed past the given LSN? Used for the short read-your-writes wait.',
    target: 'replica',
    standbyOnly: true,
    sample: ['0/0'],
    sql: `SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS caught_up, pg_last_wal_replay_lsn()::text AS replay_lsn`,
  }),
  ping: defineQuery({
    name: 'system.ping',
    description: 'Liveness probe used by /readyz and the floor benchmark.',
    target: 'primary',
    sample: [],
    sql: `SELECT 1 AS ok`,
  }),
});
