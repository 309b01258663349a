import type pg from 'pg';
import { LEDGER_BEGIN_SQL, LEDGER_COLUMNS, LEDGER_ERROR_SQL, LEDGER_GET_SQL, LEDGER_IN_PROGRESS_SQL, LEDGER_LIST_SQL } from './ledger.sql.ts';
import { PartitionError } from './errors.ts';
import type { PartitionedTable } from './naming.ts';

export type LedgerState = 'live' | 'detaching' | 'detached' | 'exported' | 'verified' | 'dropped' | 'restored';
export type ArchiveMode = 'file' | 'schema';

/** A ledger row as read (bigints and timestamps of the archived data as exact text). */
export interface LedgerRow {
  readonly partition_name: string;
  readonly parent: PartitionedTable;
  readonly month: string;
  readonly state: LedgerState;
  readonly archive_mode: ArchiveMode | null;
  readonly row_count: string | null;
  readonly min_created_at: string | null;
  readonly max_created_at: string | null;
  readonly content_checksum: string | null;
  readonly file_sha256: string | null;
  readonly archive_path: string | null;
  readonly archive_schema: string | null;
  readonly comment_count: string | null;
  readonly comment_checksum: string | null;
  readonly comment_sha256: string | null;
  readonly comment_path: string | null;
  readonly retain_until: Date | null;
  readonly detached_at: Date | null;
  readonly exported_at: Date | null;
  readonly verified_at: Date | null;
  readonly dropped_at: Date | null;
  readonly restored_at: Date | null;
  readonly updated_at: Date;
  readonly last_error: string | null;
}

/** Columns a step may set along with its new state (a whitelist: names go into SQL). */
export interface LedgerPatch {
  row_count?: number;
  min_created_at?: string | null;
  max_created_at?: string | null;
  content_checksum?: string;
  file_sha256?: string;
  archive_path?: string;
  archive_schema?: string;
  comment_count?: number | null;
  comment_checksum?: string | null;
  comment_sha256?: string | null;
  comment_path?: string | null;
  retain_until?: Date | null;
}

const PATCHABLE: ReadonlySet<string> = new Set([
  'row_count', 'min_created_at', 'max_created_at', 'content_checksum', 'file_sha256', 'archive_path', 'archive_schema',
  'comment_count', 'comment_checksum', 'comment_sha256', 'comment_path', 'retain_until',
]);

/** The timestamp column each state stamps when it is reached. */
const STAMP: Partial<Record<LedgerState, string>> = {
  detached: 'detached_at', exported: 'exported_at', verified: 'verified_at', dropped: 'dropped_at', restored: 'restored_at',
};

export async function getLedger(client: pg.ClientBase, name: string): Promise<LedgerRow | undefined> {
  return (await client.query<LedgerRow>(LEDGER_GET_SQL, [name])).rows[0];
}

export async function listLedger(client: pg.ClientBase): Promise<LedgerRow[]> {
  return (await client.query<LedgerRow>(LEDGER_LIST_SQL)).rows;
}

export async function inProgress(client: pg.ClientBase): Promise<LedgerRow[]> {
  return (await client.query<LedgerRow>(LEDGER_IN_PROGRESS_SQL)).rows;
}

export async function beginCycle(client: pg.ClientBase, name: string, parent: PartitionedTable, month: string, mode: ArchiveMode): Promise<LedgerRow> {
  const row = (await client.query<LedgerRow>(LEDGER_BEGIN_SQL, [name, parent, month, mode])).rows[0];
  if (!row) throw new PartitionError('PARTITION_STATE', `${name}: the ledger already holds a cycle that is not live or restored`);
  return row;
}

/**
 * Moves a ledger row from `from` to `to` (compare-and-set: a row in another state means
 * someone else moved it, which the maintenance lock should make impossible).
 */
export async function transition(
  client: pg.ClientBase, name: string, from: readonly LedgerState[], to: LedgerState, patch: LedgerPatch = {},
): Promise<LedgerRow> {
  const sets = ['state = $2', 'updated_at = now()', 'last_error = NULL'];
  const params: unknown[] = [name, to, [...from]];
  for (const [col, value] of Object.entries(patch)) {
    if (!PATCHABLE.has(col)) throw new Error(`ledger column ${col} is not patchable`);
    params.push(value);
    sets.push(`${col} = $${params.length}`);
  }
  const stamp = STAMP[to];
  if (stamp) sets.push(`${stamp} = now()`);
  const sql = `UPDATE partition_ledger SET ${sets.join(', ')} WHERE partition_name = $1 AND state = ANY($3::text[]) RETURNING ${LEDGER_COLUMNS}`;
  const row = (await client.query<LedgerRow>(sql, params)).rows[0];
  if (!row) throw new PartitionError('PARTITION_STATE', `${name}: expected ledger state ${from.join('|')} before moving to ${to}`);
  return row;
}

export async function recordLedgerError(client: pg.ClientBase, name: string, message: string): Promise<void> {
  await client.query(LEDGER_ERROR_SQL, [name, message.slice(0, 2000)]);
}
