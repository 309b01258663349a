import fs from 'node:fs';
import type pg from 'pg';
import { ARCHIVE_SCHEMA, commentsTableOf, createRestoredTableSql, createScratchTableSql, dropTableStatement, qname, reinsertCommentsSql, setSchemaStatement } from './archive.sql.ts';
import { loadFileIntoTable, readBackFile, readFileHeader } from './archive-file.ts';
import { ledgerCommentStats, withoutTimes } from './archive-steps.ts';
import { attachStatements, relationState, runLockedTransaction } from './create.ts';
import { finalizeDetach } from './detach.ts';
import { PartitionError } from './errors.ts';
import { getLedger, transition, type LedgerRow, type LedgerState } from './ledger.ts';
import { RESTORE_LOCK_RETRY, withLockedTransaction, type LockRetryOptions } from './lock-retry.ts';
import { withMaintenanceLock } from './maintenance-lock.ts';
import { parsePartitionName } from './naming.ts';
import { columnsOf, fitAndAttach } from './restore-fit.ts';
import { SESSION_SETTINGS_SQL, statsDiff, tableStats, type TableStats } from './stats.ts';

export interface RestoreResult {
  readonly partition: string;
  /** Where the rows came from. */
  readonly source: 'attached' | 'detached' | 'schema' | 'file';
  readonly rows: number;
  readonly comments: number | null;
  /** Columns the parent gained since the month was archived, added with their defaults. */
  readonly addedColumns: readonly string[];
  /** Rows deleted (or keys cleared) as ON DELETE would have, their parent row deleted since the archive. */
  readonly settledOrphans: number;
  readonly retainUntil: string;
}

const RESTORABLE: readonly LedgerState[] = ['detaching', 'detached', 'exported', 'verified', 'dropped'];

function expectedStats(row: LedgerRow): TableStats | null {
  if (row.row_count === null || row.content_checksum === null) return null;
  return { rows: Number(row.row_count), minCreatedAt: row.min_created_at, maxCreatedAt: row.max_created_at, checksum: row.content_checksum };
}

/** Makes the month's rows exist as a standalone table public.<name>; returns where they came from. */
async function bringBackTable(client: pg.ClientBase, row: LedgerRow): Promise<RestoreResult['source']> {
  const name = row.partition_name;
  const state = await relationState(client, name);
  if (state === 'attached') {
    // Only a cycle that had not detached it yet leaves its own table attached. Past that, an
    // attached table of this name is another one, created since (a re-seed, a hand-made month):
    // "restoring" it loaded nothing, marked the month restored, and the next cycle's export
    // then overwrote the only archive of the old rows.
    if (row.state === 'detaching') return 'attached';
    // An earlier restore that attached it and stopped before its last step left the month's own rows.
    if (await holdsArchivedRows(client, row)) return 'attached';
    throw new PartitionError('PARTITION_STATE', `${name} is attached again although the ledger says ${row.state}: a table of that name was created after the month was archived, and its archive is not in it. `
      + `Detach and rename that table (ALTER TABLE ${row.parent} DETACH PARTITION ${name}; ALTER TABLE ${name} RENAME TO ${name}_new), restore, then insert its rows (docs/OPERATIONS.md)`);
  }
  if (state === 'pending_detach') {
    await finalizeDetach(client, row.parent, name);
    return 'detached';
  }
  if (state === 'detached') return 'detached';
  if (state === 'archived') {
    await runLockedTransaction(client, `move ${name} back`, [setSchemaStatement(ARCHIVE_SCHEMA, name, 'public')]);
    return 'schema';
  }
  if (!row.archive_path || !fs.existsSync(row.archive_path)) {
    throw new PartitionError('PARTITION_MISSING', `${name}: no table and no archive file (${row.archive_path ?? 'none recorded'})`);
  }
  // One transaction: a failed or mismatching load leaves nothing behind.
  const expected = expectedStats(row);
  const header = await readFileHeader(row.archive_path);
  await client.query('BEGIN');
  try {
    await client.query(createRestoredTableSql(name, row.parent));
    await expectColumns(client, qname('public', name), header, `${name}'s archive file`);
    await loadFileIntoTable(client, row.archive_path, qname('public', name), header);
    // Over the file's columns: the ledger's checksum was taken before any column was added since.
    const problems = expected ? statsDiff(expected, await tableStats(client, qname('public', name), header), `${name} restored`) : [];
    if (problems.length > 0) throw new PartitionError('PARTITION_VERIFY_FAILED', problems.join('; '));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return 'file';
}

/** Whether the attached table holds exactly the rows the ledger archived (count, time range, checksum). */
async function holdsArchivedRows(client: pg.ClientBase, row: LedgerRow): Promise<boolean> {
  const expected = expectedStats(row);
  if (!expected) return false;
  // Over the file's columns when there is one: the ledger's checksum predates any column added since.
  const header = row.archive_path && fs.existsSync(row.archive_path) ? await readFileHeader(row.archive_path) : undefined;
  return statsDiff(expected, await tableStats(client, qname('public', row.partition_name), header), row.partition_name).length === 0;
}

/**
 * A status_updates month whose ledger counted comments needs them somewhere: in their side
 * table or in their file. Checked before anything moves, so a missing file stops the restore
 * while nothing has changed.
 */
async function requireComments(client: pg.ClientBase, row: LedgerRow): Promise<void> {
  if (row.parent !== 'status_updates' || row.comment_count === null || Number(row.comment_count) === 0) return;
  const where = await relationState(client, commentsTableOf(row.partition_name));
  if (where === 'archived' || where === 'detached') return;
  if (row.comment_path && fs.existsSync(row.comment_path)) {
    // The file's name is the same in every cycle, and a backup may hold an older one: a file
    // that is not this archive's is refused before anything moves (its contents are checked
    // against the ledger again once loaded, restoreComments).
    const back = await readBackFile(row.comment_path);
    if (row.comment_sha256 !== null && back.sha256 !== row.comment_sha256) {
      throw new PartitionError('PARTITION_VERIFY_FAILED', `${row.partition_name}: the comments file ${row.comment_path} is not the one this month's archive wrote `
        + `(sha256 ${back.sha256}, ledger ${row.comment_sha256}, ${back.records} record(s) against ${row.comment_count}); put that one back and restore again; nothing restored`);
    }
    return;
  }
  // Restoring without them reported success with 0 comments, and the month's next export wrote
  // an empty comments file over the path the real one had to be put back to.
  throw new PartitionError('PARTITION_MISSING', `${row.partition_name}: the archive held ${row.comment_count} comment(s) but their file is missing (${row.comment_path ?? 'none recorded'}); put it back and restore again`);
}

/** Refuses a file whose columns the table lacks (the parent dropped one since the export), naming them. */
async function expectColumns(client: pg.ClientBase, qualified: string, header: readonly string[], what: string): Promise<void> {
  const have = new Set(await columnsOf(client, qualified));
  const unknown = header.filter((c) => !have.has(c));
  if (unknown.length > 0) {
    throw new PartitionError('PARTITION_STATE', `${what} has column(s) ${unknown.join(', ')} that ${qualified} no longer has; nothing restored`);
  }
}

/** Puts the month's comments back into post_comments and forgets the side table. */
async function restoreComments(client: pg.ClientBase, row: LedgerRow): Promise<number | null> {
  if (row.parent !== 'status_updates') return null;
  const side = commentsTableOf(row.partition_name);
  const where = await relationState(client, side);
  let source: string;
  if (where === 'archived' || where === 'detached') {
    source = qname(where === 'archived' ? ARCHIVE_SCHEMA : 'public', side);
  } else if (row.comment_path && fs.existsSync(row.comment_path)) {
    const header = await readFileHeader(row.comment_path);
    await client.query(createScratchTableSql('bgc_restore_comments', 'post_comments'));
    await expectColumns(client, 'bgc_restore_comments', header, `${row.partition_name}'s comments file`);
    await loadFileIntoTable(client, row.comment_path, 'bgc_restore_comments', header);
    // Count and checksum against the ledger, over the file's columns: a short file restored
    // as it was, then re-archived after --keep-days, lost the missing comments for good.
    const expected = ledgerCommentStats(row);
    const problems = expected ? statsDiff(expected, withoutTimes(await tableStats(client, 'bgc_restore_comments', header)), `${row.partition_name}'s comments file`) : [];
    if (problems.length > 0) throw new PartitionError('PARTITION_VERIFY_FAILED', `${problems.join('; ')}; put back the file this month's archive wrote and restore again`);
    source = 'bgc_restore_comments';
  } else {
    return 0; // the month had none (the re-insert, the side table's drop and the ledger's move commit together)
  }
  // ON CONFLICT: a restore interrupted after this insert but before the ledger update re-runs safely.
  const live = new Set(await columnsOf(client, qname('public', 'post_comments')));
  const columns = (await columnsOf(client, source)).filter((c) => live.has(c));
  const res = await client.query(reinsertCommentsSql(source, columns));
  if (source !== 'bgc_restore_comments') await client.query(dropTableStatement(source).sql);
  return res.rowCount ?? 0;
}

/**
 * `bgc partitions restore <partition>`: brings an archived month back as an attached
 * partition with the rows the ledger recorded, whatever step the archive cycle reached.
 * The rows are checked against the ledger before ATTACH (ADD CHECK → ATTACH → DROP CHECK,
 * no scan under the parent's lock). The month is then kept for `keepDays` before
 * retention may archive it again.
 */
export async function restorePartition(
  client: pg.ClientBase, name: string,
  /** `lockRetry`: the fit-and-attach's attempts (default RESTORE_LOCK_RETRY, up to 10 minutes). */
  opts: { keepDays?: number; lockRetry?: LockRetryOptions } = {},
): Promise<RestoreResult> {
  const parsed = parsePartitionName(name);
  if (!parsed) throw new PartitionError('PARTITION_MISSING', `${name} is not a partition name (<table>_yYYYYmMM)`);
  await client.query(SESSION_SETTINGS_SQL);
  return withMaintenanceLock(client, async () => {
    const row = await getLedger(client, name);
    if (!row) throw new PartitionError('PARTITION_MISSING', `${name} is not in the partition ledger (never archived)`);
    if (!RESTORABLE.includes(row.state)) throw new PartitionError('PARTITION_STATE', `${name} is ${row.state}; nothing to restore`);
    await requireComments(client, row);
    const source = await bringBackTable(client, row);
    let fit = { addedColumns: [] as readonly string[], settledOrphans: 0 };
    if (source !== 'attached') {
      const expected = expectedStats(row);
      if (expected && source !== 'file') {
        // Over the archive file's columns when there is one: a restore that loaded the file and
        // added the parent's new columns, then stopped before ATTACH, left a standalone table
        // with more columns than the ledger's checksum covers, and every re-run refused it.
        const header = row.archive_path && fs.existsSync(row.archive_path) ? await readFileHeader(row.archive_path) : undefined;
        const problems = statsDiff(expected, await tableStats(client, qname('public', name), header), name);
        if (problems.length > 0) throw new PartitionError('PARTITION_VERIFY_FAILED', problems.join('; '));
      }
      // Columns added since the archive, and rows whose parent row is gone (ATTACH re-creates
      // the foreign keys the archive cycle dropped and checks every row against them).
      fit = await fitAndAttach(client, parsed.table, name, attachStatements(parsed.table, parsed.month), opts.lockRetry ?? RESTORE_LOCK_RETRY);
    }
    const keepDays = opts.keepDays ?? 30;
    const retainUntil = new Date(Date.now() + keepDays * 86_400_000);
    const comments = await withLockedTransaction(client, `restore comments of ${name}`, async () => {
      const n = await restoreComments(client, row);
      await transition(client, name, RESTORABLE, 'restored', { retain_until: retainUntil });
      return n;
    });
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${qname('public', name)}`);
    return { partition: name, source, rows: Number(rows[0]?.n ?? 0), comments, ...fit, retainUntil: retainUntil.toISOString() };
  });
}
