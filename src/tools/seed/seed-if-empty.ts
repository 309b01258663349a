import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import { runSeed, type SeedProgress } from './run-seed.ts';
import { SEED_SQL } from './seed.sql.ts';
import { SeedError } from './seed-error.ts';

/** The demo dataset `npm start` loads: small, seed 42 (the CLI's default seed). */
export const DEMO_PRESET = 'small';
export const DEMO_SEED = 42;

/** Progress as a few plain lines (start-up output is a log, not a terminal UI). */
function lineProgress(print: (m: string) => void): SeedProgress {
  let total = 0;
  let done = 0;
  let nextReport = 0.25;
  return {
    start: (t) => { total = t; },
    rows: (_table, n) => {
      done += n;
      if (total > 0 && done / total >= nextReport) {
        print(`demo data: ${Math.floor((done / total) * 100)}% of ${total.toLocaleString('en-US')} rows`);
        nextReport += 0.25;
      }
    },
    phase: (m) => print(`demo data: ${m}`),
    stop: () => undefined,
  };
}

/**
 * `npm start` loads the small demo dataset into a database that has no users yet, and loads it
 * again (emptying the seeded tables first) when the latest seed run never finished: an
 * interrupted first start left some tables loaded and others not, with the demo's partitioned
 * indexes still detached, and the next start served that as it was.
 */
export async function seedIfEmpty(config: Config, db: Database, progress: (m: string) => void): Promise<void> {
  const { hasUsers, hasSessions, unfinishedRun } = await db.withPrimaryClient(async (c) => ({
    hasUsers: (await c.query<{ has_users: boolean }>(SEED_SQL.anyUser)).rows[0]?.has_users ?? false,
    hasSessions: (await c.query<{ has_sessions: boolean }>(SEED_SQL.anySession)).rows[0]?.has_sessions ?? false,
    unfinishedRun: (await c.query<{ preset: string; seed: number }>(SEED_SQL.unfinishedRun)).rows[0],
  }));
  // Only the demo load's own (small, seed 42): any other interrupted seed is the operator's to redo.
  const unfinished = unfinishedRun !== undefined && unfinishedRun.preset === DEMO_PRESET && unfinishedRun.seed === DEMO_SEED;
  if (hasUsers && !unfinished) return;
  if (unfinished && hasSessions) {
    // Someone signed in since (the seed writes no session): their accounts are not ours to empty.
    progress('the last demo data load did not finish, and the database has been used since: not loading it again (`npx bgc seed --preset small --force` empties it and loads it)');
    return;
  }
  progress(unfinished
    ? `the last demo data load did not finish: loading the ${DEMO_PRESET} demo dataset again`
    : `loading the ${DEMO_PRESET} demo dataset (every user's password is the demo password; see README)`);
  try {
    const result = await runSeed(db, { preset: DEMO_PRESET, seed: DEMO_SEED, force: unfinished, monthsAhead: config.partitions.premakeMonths }, lineProgress(progress));
    progress(`demo data loaded in ${result.seconds} s`);
  } catch (err) {
    // Other tables have rows although users is empty: not ours to wipe at start-up.
    if (err instanceof SeedError && err.code === 'SEED_NOT_EMPTY') { progress('demo data skipped: the database has rows but no users'); return; }
    // Another start (or `bgc seed`) is loading it right now: that one finishes it.
    if (err instanceof SeedError && err.code === 'SEED_RUNNING') { progress('demo data is being loaded by another process; starting without waiting for it'); return; }
    throw err;
  }
}
