import { maxLsn } from '../../src/db/lsn.ts';
import type { TestDatabase } from './test-db.ts';

/**
 * Read-your-writes across users in tests. The app follows a user's OWN last write (a mark
 * per user); a read by anyone else that must see a write has to carry the writer's
 * position, the X-BGC-LSN header of the write's response, or a replica that lags (CI
 * under load) may answer without it.
 */

/**
 * The newest X-BGC-LSN among write responses. For writes sent concurrently, the last one in
 * array order is not necessarily the last to commit: a read that must see all of them
 * sends this. Undefined when none carried one (no replicas: every read is on the primary).
 */
export function newestLsn(responses: Iterable<{ readonly lsn?: string | undefined }>): string | undefined {
  let newest: string | undefined;
  for (const r of responses) newest = maxLsn(newest, r.lsn);
  return newest;
}

/** `lsn` as request headers (none without one), for tests that build their own requests. */
export function lsnHeaders(lsn: string | undefined): Record<string, string> {
  return lsn ? { 'x-bgc-lsn': lsn } : {};
}

/**
 * For the one kind of cross-user read that cannot carry a position: a read meant to go
 * through the cache (filling it, or checking what it serves), which a position would send
 * around the cache. Waits (bounded, see waitForReplay) until both replicas have replayed
 * everything written so far, and prints how long that took.
 */
export async function replicasCaughtUp(tdb: TestDatabase, why: string): Promise<void> {
  const started = performance.now();
  await tdb.syncReplicas();
  console.log(`[replicas] caught up in ${(performance.now() - started).toFixed(0)} ms (${why})`);
}
