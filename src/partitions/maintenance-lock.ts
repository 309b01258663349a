import type pg from 'pg';
import { PartitionError } from './errors.ts';

/**
 * One maintenance run or restore at a time per database (the scheduler's leader, a CLI
 * `maintain`, a CLI `restore`): a session advisory lock on the maintenance session. The
 * migrator uses 727_160_001 and the scheduler's leader lock 727_160_010.
 */
export const MAINTENANCE_LOCK_KEY = 727_160_011;

export async function tryMaintenanceLock(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [MAINTENANCE_LOCK_KEY]);
  return rows[0]?.got === true;
}

export async function releaseMaintenanceLock(client: pg.ClientBase): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK_KEY]).catch(() => undefined);
}

/** Runs `fn` holding the maintenance lock; PARTITION_BUSY if someone else holds it. */
export async function withMaintenanceLock<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  if (!(await tryMaintenanceLock(client))) throw new PartitionError('PARTITION_BUSY', 'another partition maintenance run or restore is in progress; retry when it ends');
  try {
    return await fn();
  } finally {
    await releaseMaintenanceLock(client);
  }
}
