import type { Database } from '../db/database.ts';
import { SessionRepository } from '../repositories/sessions.repository.ts';
import { untilShortBatch } from './batches.ts';
import type { JobSpec } from './scheduler.ts';

export const SESSION_EXPIRY_JOB_NAME = 'sessions.expire';

/** Rows per DELETE: a few ms of locks and WAL per batch, so logins and logouts never queue behind it. */
const BATCH = 5_000;

/**
 * Default 24 h. A session just past its expiry may still sit in an instance's session cache
 * for up to that cache's TTL (BGC_CACHE_SESSION_TTL_S, at most 24 h). The lookups, cached or
 * not, already refuse a session past its expires_at, so deleting is only about the table's
 * size; a day's grace costs little and keeps the delete clear of anything still cached.
 */
const GRACE_HOURS = 24;

export interface SessionExpiryDeps {
  readonly db: Database;
  /** Default 1 hour: with a day's grace, an hour's delay more costs nothing. */
  readonly intervalMs?: number;
  /** Overrides GRACE_HOURS (tests). */
  readonly graceHours?: number;
}

/**
 * Deletes sessions that expired more than the grace period ago, revoked ones included,
 * leader-only, through sessions_expires_at_idx (migrations/0001). A late run is harmless.
 * Batches repeat until one comes back short, and stop between batches when the scheduler
 * aborts (shutdown, lost leadership).
 */
export function sessionExpiryJob(deps: SessionExpiryDeps): JobSpec {
  const repo = new SessionRepository(deps.db);
  const graceHours = deps.graceHours ?? GRACE_HOURS;
  return {
    name: SESSION_EXPIRY_JOB_NAME,
    intervalMs: deps.intervalMs ?? 3_600_000,
    leaderOnly: true,
    run: async ({ signal, logger }) => {
      const deleted = await expireSessions(repo, graceHours, signal);
      if (deleted > 0) logger.info({ job: SESSION_EXPIRY_JOB_NAME, deleted }, 'expired sessions deleted');
    },
  };
}

/** Deletes expired sessions batch by batch; returns how many. */
export async function expireSessions(repo: SessionRepository, graceHours: number, signal?: AbortSignal, batch = BATCH): Promise<number> {
  return untilShortBatch((n) => repo.expireBatch(graceHours, n), batch, signal);
}
