import type pg from 'pg';
import { relationState, runLockedTransaction } from './create.ts';
import { FOREIGN_KEYS_SQL } from './catalog.sql.ts';
import {
  commentsTableOf, createCommentsSideStatement, detachStatement, dropForeignKeyStatement, finalizeStatement, moveCommentsStatement, qname,
} from './archive.sql.ts';
import { PartitionError } from './errors.ts';
import { transition, type LedgerRow } from './ledger.ts';
import { withLockRetry, withLockedTransaction, type LockRetryOptions } from './lock-retry.ts';
import { tableStats, type TableStats } from './stats.ts';
import type { PartitionedTable } from './naming.ts';
import type { PlannedStatement, StepContext } from './types.ts';

/**
 * DETACH … CONCURRENTLY waits, in its second transaction, for every transaction older than
 * it that touched the parent; a report query can take seconds. Waiting there blocks no
 * DML (only SHARE UPDATE EXCLUSIVE is held on the parent), so the per-attempt lock_timeout
 * is longer than for DDL that queues ahead of writers. A timeout in that phase leaves the
 * partition "pending detach"; the next attempt (or the next run) FINALIZEs it.
 */
export const DETACH_LOCK_RETRY: LockRetryOptions = { attempts: 12, firstTimeoutMs: 500, maxTimeoutMs: 3_000, budgetMs: 45_000 };

async function withSessionLockTimeout(client: pg.ClientBase, timeoutMs: number, sql: string): Promise<void> {
  // DETACH CONCURRENTLY refuses to run in a transaction block, so SET LOCAL is not an option.
  await client.query(`SET lock_timeout = ${Math.round(timeoutMs)}`);
  try {
    await client.query(sql);
  } finally {
    await client.query('RESET lock_timeout');
  }
}

export async function finalizeDetach(client: pg.ClientBase, parent: string, name: string): Promise<void> {
  await withLockRetry(`finalize detach of ${name}`, (timeoutMs) =>
    withSessionLockTimeout(client, timeoutMs, finalizeStatement(parent, name).sql), DETACH_LOCK_RETRY);
}

/** Detaches `name` from `parent` however far an earlier attempt got. Idempotent. */
export async function detachRelation(client: pg.ClientBase, parent: PartitionedTable, name: string): Promise<'detached' | 'finalized' | 'already'> {
  return withLockRetry(`detach ${name}`, async (timeoutMs) => {
    const state = await relationState(client, name);
    if (state === 'detached') return 'already';
    if (state === 'pending_detach') {
      await withSessionLockTimeout(client, timeoutMs, finalizeStatement(parent, name).sql);
      return 'finalized';
    }
    if (state !== 'attached') throw new PartitionError('PARTITION_MISSING', `${name} is ${state}; expected it attached to ${parent}`);
    await withSessionLockTimeout(client, timeoutMs, detachStatement(parent, name).sql);
    return 'detached';
  }, DETACH_LOCK_RETRY);
}

export async function foreignKeysOf(client: pg.ClientBase, name: string, schema = 'public'): Promise<Array<{ name: string; referenced: string }>> {
  return (await client.query<{ name: string; referenced: string }>(FOREIGN_KEYS_SQL, [name, schema])).rows;
}

/**
 * A detached partition keeps its FKs (to users, conversations, chat_rooms). They must go
 * before anything else: ON DELETE CASCADE would otherwise change the rows under the
 * archive, and DROP TABLE would lock all referenced tables ACCESS EXCLUSIVE at once.
 * Dropping one FK locks its referenced table ACCESS EXCLUSIVE for milliseconds, so each
 * gets its own short transaction with lock_timeout (as GitLab's DetachedPartitionDropper).
 */
export async function dropForeignKeys(client: pg.ClientBase, name: string): Promise<number> {
  const fks = await foreignKeysOf(client, name);
  for (const fk of fks) {
    await runLockedTransaction(client, `drop ${fk.name} on ${name}`, [dropForeignKeyStatement(name, fk.name, fk.referenced)]);
  }
  return fks.length;
}

/** The statements of the detach step, for the dry run. */
export function detachStepStatements(parent: PartitionedTable, name: string, fks: ReadonlyArray<{ name: string; referenced: string }>): PlannedStatement[] {
  const comments = parent === 'status_updates' ? [createCommentsSideStatement(name), moveCommentsStatement(name)] : [];
  return [detachStatement(parent, name), ...fks.map((fk) => dropForeignKeyStatement(name, fk.name, fk.referenced)), ...comments];
}

/**
 * detaching → detached: detach, drop FKs, move the month's comments into a side table,
 * and record the numbers every later step is checked against. The comments' move, their
 * numbers and the ledger update commit together, so they always describe the same rows (the
 * month's own numbers are read just before: nothing writes a detached table).
 */
export async function detachStep(ctx: StepContext, row: LedgerRow): Promise<LedgerRow> {
  const { client } = ctx;
  const name = row.partition_name;
  await detachRelation(client, row.parent, name);
  await dropForeignKeys(client, name);
  // Before the transaction: detached and without foreign keys, nothing can change the table,
  // and the checksum reads the whole month (minutes on a large one). Inside, it held the moved
  // comments' row locks (and ROW EXCLUSIVE on post_comments) that long: a user's deletion
  // cascading to one of those comments, or a moderator hiding one, waited past its timeout.
  const stats = await tableStats(client, qname('public', name));
  return withLockedTransaction(client, `record ${name}`, async () => {
    let comments: TableStats | null = null;
    if (row.parent === 'status_updates') {
      await client.query(createCommentsSideStatement(name).sql);
      await client.query(moveCommentsStatement(name).sql);
      comments = await tableStats(client, qname('public', commentsTableOf(name)));
    }
    return transition(client, name, ['detaching'], 'detached', {
      row_count: stats.rows,
      min_created_at: stats.minCreatedAt,
      max_created_at: stats.maxCreatedAt,
      content_checksum: stats.checksum,
      comment_count: comments?.rows ?? null,
      comment_checksum: comments?.checksum ?? null,
    });
  });
}
