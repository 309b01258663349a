import type pg from 'pg';
import { ARCHIVE_SCHEMA, commentsTableOf, copyFromSql, copyToStatement, createScratchTableSql, dropTableStatement, qname, setSchemaStatement, statsStatement } from './archive.sql.ts';
import { archiveFiles, exportTableToFile, loadFileIntoTable, manifestOf, readBackFile, readFileHeader } from './archive-file.ts';
import { monthBounds, relationState } from './create.ts';
import { PartitionError } from './errors.ts';
import { DbUnavailableError, isConnectionError } from '../db/errors.ts';
import { recordLedgerError, transition, type LedgerRow } from './ledger.ts';
import { withLockedTransaction } from './lock-retry.ts';
import { manifestFile, readManifest, writeManifest, type ArchiveManifest } from './manifest.ts';
import { parsePartitionName } from './naming.ts';
import { statsDiff, tableStats, type TableStats } from './stats.ts';
import type { PlannedStatement, StepContext } from './types.ts';

/** The numbers the ledger took from the detached table (detach step). */
function ledgerStats(row: LedgerRow): TableStats {
  if (row.row_count === null || row.content_checksum === null) throw new PartitionError('PARTITION_STATE', `${row.partition_name}: ledger has no row counts`);
  return { rows: Number(row.row_count), minCreatedAt: row.min_created_at, maxCreatedAt: row.max_created_at, checksum: row.content_checksum };
}

export function ledgerCommentStats(row: LedgerRow): TableStats | null {
  if (row.comment_count === null || row.comment_checksum === null) return null;
  return { rows: Number(row.comment_count), minCreatedAt: null, maxCreatedAt: null, checksum: row.comment_checksum };
}

/** Comments' min/max are not recorded; compare only what the ledger has. */
export function withoutTimes(s: TableStats): TableStats {
  return { ...s, minCreatedAt: null, maxCreatedAt: null };
}

/**
 * Export and drop act on a standalone table only. If someone re-attached it by hand, the
 * ledger is stale and acting on it (DROP above all) would destroy live rows.
 */
async function requireStandalone(ctx: StepContext, name: string): Promise<void> {
  const state = await relationState(ctx.client, name);
  if (state !== 'detached') throw new PartitionError('PARTITION_STATE', `${name} is ${state.replace('_', ' ')}, not detached; refusing to archive or drop it`);
}

// ---------------------------------------------------------------------------------------
// detached → exported

export async function exportStep(ctx: StepContext, row: LedgerRow): Promise<LedgerRow> {
  const { client } = ctx;
  const name = row.partition_name;
  const expected = ledgerStats(row);
  const expectedComments = ledgerCommentStats(row);
  await requireStandalone(ctx, name);
  if (row.archive_mode === 'schema') {
    return withLockedTransaction(client, `move ${name} to ${ARCHIVE_SCHEMA}`, async () => {
      await client.query(setSchemaStatement('public', name, ARCHIVE_SCHEMA).sql);
      if (expectedComments) await client.query(setSchemaStatement('public', commentsTableOf(name), ARCHIVE_SCHEMA).sql);
      return transition(client, name, ['detached'], 'exported', { archive_schema: ARCHIVE_SCHEMA });
    });
  }
  const files = archiveFiles(ctx.config.dataDir, name, await currentDatabase(client));
  const data = await exportTableToFile(client, qname('public', name), files.data);
  if (data.rows !== expected.rows) throw new PartitionError('PARTITION_VERIFY_FAILED', `${name}: COPY wrote ${data.rows} rows, ledger has ${expected.rows}`);
  const comments = expectedComments ? await exportTableToFile(client, qname('public', commentsTableOf(name)), files.comments) : null;
  if (comments && expectedComments && comments.rows !== expectedComments.rows) {
    throw new PartitionError('PARTITION_VERIFY_FAILED', `${name}: COPY wrote ${comments.rows} comments, ledger has ${expectedComments.rows}`);
  }
  const parsed = parsePartitionName(name);
  if (!parsed) throw new PartitionError('PARTITION_STATE', `${name} is not a managed partition name`);
  const manifest: ArchiveManifest = {
    format: 'bgc-partition-archive/1',
    partition: name,
    parent: row.parent,
    month: row.month,
    bounds: monthBounds(parsed.month),
    csv: { format: 'csv', header: true, timeZone: 'UTC', dateStyle: 'ISO, YMD' },
    createdAt: new Date().toISOString(),
    rows: manifestFile(data, expected),
    comments: comments && expectedComments ? manifestFile(comments, expectedComments) : null,
  };
  await writeManifest(files.manifest, manifest);
  return transition(client, name, ['detached'], 'exported', {
    file_sha256: data.sha256,
    archive_path: files.data,
    comment_sha256: comments?.sha256 ?? null,
    comment_path: comments ? files.comments : null,
  });
}

// ---------------------------------------------------------------------------------------
// exported → verified (or back to detached when the archive does not match)

/** Reads a file archive back and loads it into a temp table: the checks of a real restore. */
async function verifyFile(ctx: StepContext, row: LedgerRow): Promise<string[]> {
  const { client } = ctx;
  const name = row.partition_name;
  const expected = ledgerStats(row);
  const expectedComments = ledgerCommentStats(row);
  const problems: string[] = [];
  if (!row.archive_path) return [`${name}: ledger has no archive path`];
  // Beside the file the ledger names, wherever this process's data folder is.
  const manifest = await readManifest(manifestOf(row.archive_path));
  if (manifest.rows.rows !== expected.rows || manifest.rows.sha256 !== row.file_sha256 || manifest.rows.contentChecksum !== expected.checksum) {
    problems.push(`${name}: manifest does not match the ledger`);
  }
  const back = await readBackFile(row.archive_path);
  if (back.sha256 !== row.file_sha256) problems.push(`${name}: file sha256 ${back.sha256}, ledger ${row.file_sha256}`);
  problems.push(...statsDiff({ ...expected, checksum: '' }, { rows: back.records, minCreatedAt: back.minCreatedAt, maxCreatedAt: back.maxCreatedAt, checksum: '' }, `${name} file`));
  if (expectedComments && row.comment_path) {
    const cback = await readBackFile(row.comment_path);
    if (cback.sha256 !== row.comment_sha256) problems.push(`${name}: comments file sha256 ${cback.sha256}, ledger ${row.comment_sha256}`);
    if (cback.records !== expectedComments.rows) problems.push(`${name}: comments file has ${cback.records} rows, ledger ${expectedComments.rows}`);
  }
  if (problems.length > 0) return problems;
  // Deep check: COPY the archive into a temp table and recompute the content checksum.
  await client.query('BEGIN');
  try {
    // By the file's own columns, as a restore loads it: the parent may have gained a column
    // since the export (a deploy while a cycle was between steps), which a COPY without a
    // column list refused as "missing data", sending a good archive back to be exported again
    // on every run. The ledger's checksum is over the columns of its time, the file's.
    const header = await readFileHeader(row.archive_path);
    await client.query(createScratchTableSql('bgc_verify_rows', qname('public', row.parent)));
    await loadFileIntoTable(client, row.archive_path, 'bgc_verify_rows', header);
    problems.push(...statsDiff(expected, await tableStats(client, 'bgc_verify_rows', header), `${name} reloaded`));
    if (expectedComments && row.comment_path) {
      const commentHeader = await readFileHeader(row.comment_path);
      await client.query(createScratchTableSql('bgc_verify_comments', 'post_comments'));
      await loadFileIntoTable(client, row.comment_path, 'bgc_verify_comments', commentHeader);
      problems.push(...statsDiff(expectedComments, withoutTimes(await tableStats(client, 'bgc_verify_comments', commentHeader)), `${name} comments reloaded`));
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
  return problems;
}

/**
 * verifyFile, with a file that cannot be read back (missing manifest, truncated gzip, a row
 * COPY cannot parse) reported as a problem: the month then goes back to 'detached' and is
 * exported again, instead of staying 'exported' and failing the same way on every run. A
 * lost session is not the file's fault: that still throws.
 */
async function verifyFileOrProblem(ctx: StepContext, row: LedgerRow): Promise<string[]> {
  try {
    return await verifyFile(ctx, row);
  } catch (err) {
    if (err instanceof DbUnavailableError || isConnectionError(err)) throw err;
    return [`${row.partition_name}: the archive could not be read back: ${err instanceof Error ? err.message : String(err)}`];
  }
}

async function verifySchema(ctx: StepContext, row: LedgerRow): Promise<string[]> {
  const schema = row.archive_schema ?? ARCHIVE_SCHEMA;
  const name = row.partition_name;
  const problems = statsDiff(ledgerStats(row), await tableStats(ctx.client, qname(schema, name)), `${schema}.${name}`);
  const expectedComments = ledgerCommentStats(row);
  if (expectedComments) {
    const actual = withoutTimes(await tableStats(ctx.client, qname(schema, commentsTableOf(name))));
    problems.push(...statsDiff(expectedComments, actual, `${schema}.${commentsTableOf(name)}`));
  }
  return problems;
}

export async function verifyStep(ctx: StepContext, row: LedgerRow): Promise<LedgerRow> {
  const problems = row.archive_mode === 'schema' ? await verifySchema(ctx, row) : await verifyFileOrProblem(ctx, row);
  if (problems.length > 0) {
    const message = problems.join('; ');
    // The source table still exists: go back one step so the next run exports again
    // (schema mode stays: its "export" is the table itself, so an operator must look).
    if (row.archive_mode !== 'schema') await transition(ctx.client, row.partition_name, ['exported'], 'detached');
    await recordLedgerError(ctx.client, row.partition_name, `verification failed: ${message}`);
    throw new PartitionError('PARTITION_VERIFY_FAILED', `${row.partition_name}: verification failed: ${message}`);
  }
  return transition(ctx.client, row.partition_name, ['exported'], 'verified');
}

// ---------------------------------------------------------------------------------------
// verified → dropped

export async function dropStep(ctx: StepContext, row: LedgerRow): Promise<LedgerRow> {
  const { client } = ctx;
  const name = row.partition_name;
  if (row.archive_mode === 'schema') return transition(client, name, ['verified'], 'dropped');
  await requireStandalone(ctx, name);
  return withLockedTransaction(client, `drop ${name}`, async () => {
    await client.query(dropTableStatement(qname('public', name)).sql);
    await client.query(dropTableStatement(qname('public', commentsTableOf(name))).sql);
    return transition(client, name, ['verified'], 'dropped');
  });
}

/** Statements of export → verify → drop for the dry run. */
export function archiveStepStatements(row: Pick<LedgerRow, 'partition_name' | 'parent' | 'archive_mode'>, dataDir: string, database: string, from: 'detached' | 'exported' | 'verified'): PlannedStatement[] {
  const name = row.partition_name;
  const withComments = row.parent === 'status_updates';
  const tables = withComments ? [name, commentsTableOf(name)] : [name];
  const out: PlannedStatement[] = [];
  if (row.archive_mode === 'schema') {
    if (from === 'detached') out.push(...tables.map((t) => setSchemaStatement('public', t, ARCHIVE_SCHEMA)));
    if (from !== 'verified') out.push(...tables.map((t) => ({ ...statsStatement(qname(ARCHIVE_SCHEMA, t)), locks: 'ACCESS SHARE on the archived table (verify)' })));
    return out;
  }
  const files = archiveFiles(dataDir, name, database);
  if (from === 'detached') {
    out.push(copyToStatement(qname('public', name), files.data));
    if (withComments) out.push(copyToStatement(qname('public', commentsTableOf(name)), files.comments));
  }
  if (from !== 'verified') {
    out.push({ sql: `-- read back ${files.data}: gunzip, sha256, count records, min/max created_at`, locks: 'none' });
    out.push({ sql: copyFromSql('bgc_verify_rows'), locks: 'none on live tables (temp table, rolled back)' });
    out.push({ ...statsStatement('bgc_verify_rows'), locks: 'none on live tables' });
  }
  out.push(...tables.map((t) => dropTableStatement(qname('public', t))));
  return out;
}

/** The database the session is on: its archive folder's name (archiveFiles). */
export async function currentDatabase(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  const db = rows[0]?.db;
  if (!db) throw new PartitionError('PARTITION_STATE', 'could not read current_database()');
  return db;
}
