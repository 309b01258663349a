import type { Database } from '../db/database.ts';
import { IdempotencyRepository } from '../repositories/idempotency.repository.ts';
import { KEY_TTL_HOURS } from '../services/idempotency.ts';
import { untilShortBatch } from './batches.ts';
import type { JobSpec } from './scheduler.ts';

export const IDEMPOTENCY_EXPIRY_JOB_NAME = 'idempotency.expire';

/** Rows per DELETE: a few ms of locks and WAL per batch, so writers never queue behind it. */
const BATCH = 5_000;

export interface IdempotencyExpiryDeps {
  readonly db: Database;
  /** Default 10 minutes: keys live 24 h, so they are deleted at most 10 minutes late. */
  readonly intervalMs?: number;
  /** Overrides KEY_TTL_HOURS (tests). */
  readonly ttlHours?: number;
}

/**
 * Deletes Idempotency-Key records older than their TTL (migrations/0012), leader-only.
 * Lookups already ignore expired rows, so this job only bounds the table's size; a late
 * run is harmless. Batches repeat until one comes back short, and stop between batches
 * when the scheduler aborts (shutdown, lost leadership).
 */
export function idempotencyExpiryJob(deps: IdempotencyExpiryDeps): JobSpec {
  const repo = new IdempotencyRepository(deps.db);
  const ttlHours = deps.ttlHours ?? KEY_TTL_HOURS;
  return {
    name: IDEMPOTENCY_EXPIRY_JOB_NAME,
    intervalMs: deps.intervalMs ?? 600_000,
    leaderOnly: true,
    run: async ({ signal, logger }) => {
      const deleted = await expireIdempotencyKeys(repo, ttlHours, signal);
      if (deleted > 0) logger.info({ job: IDEMPOTENCY_EXPIRY_JOB_NAME, deleted }, 'expired idempotency keys deleted');
    },
  };
}

/** Deletes expired records batch by batch; returns how many. */
export async function expireIdempotencyKeys(repo: IdempotencyRepository, ttlHours: number, signal?: AbortSignal, batch = BATCH): Promise<number> {
  return untilShortBatch((n) => repo.expireBatch(ttlHours, n), batch, signal);
}
