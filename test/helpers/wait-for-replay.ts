import { connectNode } from '../../src/tools/stack/postgres-node.ts';

/**
 * Waits, at most `timeoutMs` per replica, until each replica has replayed everything the
 * primary had written when this was called. Connects to `postgres`: the LSN is
 * cluster-wide, and a database just created may not exist on a replica yet. Throws if a
 * replica has not got there in time (naming it, the position and how far it got): a test
 * that went on would read data the replica does not have and fail somewhere else, far from
 * the cause.
 */
export async function waitForReplay(primaryPort: number, replicaPorts: readonly number[], timeoutMs: number): Promise<void> {
  const p = await connectNode(primaryPort);
  try {
    const lsn = (await p.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
    for (const port of replicaPorts) {
      const r = await connectNode(port);
      try {
        const started = Date.now();
        const deadline = started + timeoutMs;
        for (;;) {
          const row = (await r.query<{ ok: boolean; replayed: string | null }>(
            'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok, pg_last_wal_replay_lsn()::text AS replayed', [lsn])).rows[0];
          if (row?.ok) break;
          if (Date.now() >= deadline) {
            throw new Error(`waitForReplay: the replica on port ${port} had not replayed the primary's (port ${primaryPort}) WAL up to ${lsn ?? '?'} `
              + `within ${timeoutMs} ms (waited ${Date.now() - started} ms; replayed up to ${row?.replayed ?? 'nothing: not a standby, or not replaying'})`);
          }
          await new Promise((x) => setTimeout(x, 25));
        }
      } finally { await r.end(); }
    }
  } finally { await p.end(); }
}
