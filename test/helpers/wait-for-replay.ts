import { connectNode } from '../../src/tools/stack/postgres-node.ts';

/**
 * Waits, at most `timeoutMs` per replica, until each replica has replayed everything the
 * primary had written when this was called. Connects to `postgres`: the LSN is
 * cluster-wide, and a database just created may not exist on a replica yet.
 */
export async function waitForReplay(primaryPort: number, replicaPorts: readonly number[], timeoutMs: number): Promise<void> {
  const p = await connectNode(primaryPort);
  try {
    const lsn = (await p.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
    for (const port of replicaPorts) {
      const r = await connectNode(port);
      try {
        for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
          const ok = (await r.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0]?.ok;
          if (ok) break;
          await new Promise((x) => setTimeout(x, 25));
        }
      } finally { await r.end(); }
    }
  } finally { await p.end(); }
}
