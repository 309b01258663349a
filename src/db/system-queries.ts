import { defineQuery } from '../catalog/types.ts';
import { catalog } from '../catalog/registry.ts';

/**
 * Statements the db layer itself sends (replica monitor, read-your-writes, leader lock). They are
 * catalog entries like any other so pg_stat_statements and the metrics name them.
 */
export const systemQueries = catalog({
  replicaStatus: defineQuery({
    name: 'system.replica_status',
    description: 'Replica monitor poll: recovery state, replayed and received LSNs, and time lag.',
    target: 'replica',
    standbyOnly: true,
    sample: [],
    sql: `SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
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
  // The leader lock's statements (leader-lock.ts), sent on its dedicated session. The audit's
  // sample key is NULL: the lock functions are strict, so EXPLAIN ANALYZE takes no lock.
  leaderInRecovery: defineQuery({
    name: 'system.leader_in_recovery',
    description: 'Leader election: is the lock session\'s node a standby (a standby never leads)?',
    target: 'primary',
    sample: [],
    sql: `SELECT pg_is_in_recovery() AS in_recovery`,
  }),
  leaderTryLock: defineQuery({
    name: 'system.leader_try_lock',
    description: 'Leader election: take the session advisory lock of an election if it is free.',
    target: 'primary',
    sample: [null],
    sql: `SELECT pg_try_advisory_lock($1::bigint) AS got`,
  }),
  leaderUnlock: defineQuery({
    name: 'system.leader_unlock',
    description: 'Leader election: give up the session advisory lock (the node turned out to be a standby).',
    target: 'primary',
    sample: [null],
    sql: `SELECT pg_advisory_unlock($1::bigint) AS released`,
  }),
  backendPid: defineQuery({
    name: 'system.backend_pid',
    description: 'The backend pid of a dedicated session (the leader lock\'s, which tests terminate to simulate a dead leader).',
    target: 'primary',
    sample: [],
    sql: `SELECT pg_backend_pid() AS pid`,
  }),
  ping: defineQuery({
    name: 'system.ping',
    description: 'Liveness probe used by /readyz and the floor benchmark.',
    target: 'primary',
    sample: [],
    sql: `SELECT 1 AS ok`,
  }),
});
