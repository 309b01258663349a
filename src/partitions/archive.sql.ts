import { ident, type PartitionedTable } from './naming.ts';
import { REFERENCED_TABLES } from './create.ts';
import type { PlannedStatement } from './types.ts';

/**
 * The statements of a retention cycle, each with the locks it takes. The executor runs
 * exactly these texts and the dry run prints them, so the two cannot drift apart.
 */
export const ARCHIVE_SCHEMA = 'archive';

/** Comments of an archived status_updates month are moved into this side table first. */
export function commentsTableOf(name: string): string {
  return `${name}_comments`;
}

export function qname(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

export function detachStatement(parent: PartitionedTable, name: string): PlannedStatement {
  return {
    sql: `ALTER TABLE ${ident(parent)} DETACH PARTITION ${ident(name)} CONCURRENTLY`,
    locks: `SHARE UPDATE EXCLUSIVE on ${parent} in two transactions (DML continues; the second waits for older transactions); ` +
      `SHARE ROW EXCLUSIVE on ${REFERENCED_TABLES[parent].join(', ')} (FK triggers); ACCESS EXCLUSIVE on ${name}; outside any transaction`,
  };
}

export function finalizeStatement(parent: string, name: string): PlannedStatement {
  return {
    sql: `ALTER TABLE ${ident(parent)} DETACH PARTITION ${ident(name)} FINALIZE`,
    locks: `SHARE UPDATE EXCLUSIVE on ${parent}; ACCESS EXCLUSIVE on ${name} (already invisible to new queries)`,
  };
}

export function dropForeignKeyStatement(name: string, fk: string, referenced: string): PlannedStatement {
  return {
    sql: `ALTER TABLE ${qname('public', name)} DROP CONSTRAINT ${ident(fk)}`,
    locks: `ACCESS EXCLUSIVE on ${referenced} and ${name} for milliseconds (one FK per transaction, lock_timeout + jittered retries)`,
  };
}

export function createCommentsSideStatement(name: string): PlannedStatement {
  return {
    sql: `CREATE TABLE IF NOT EXISTS ${qname('public', commentsTableOf(name))} (LIKE post_comments INCLUDING DEFAULTS)`,
    locks: 'ACCESS SHARE on post_comments (reads its definition)',
  };
}

/** Comments reference posts by (post_id, post_created_at) with no FK; they move with their month. */
export function moveCommentsStatement(name: string): PlannedStatement {
  return {
    sql: `WITH moved AS (DELETE FROM post_comments c USING ${qname('public', name)} p ` +
      `WHERE c.post_id = p.id AND c.post_created_at = p.created_at RETURNING c.*) ` +
      `INSERT INTO ${qname('public', commentsTableOf(name))} SELECT * FROM moved`,
    locks: 'ROW EXCLUSIVE on post_comments (row locks on the moved comments only); same transaction as the ledger update',
  };
}

/**
 * count, min/max created_at, and an order-independent checksum: the sum of a 60-bit prefix
 * of md5(row as text) per row. Any copy of the same rows (the archive loaded back, the
 * table moved to another schema) gives the same numbers; one changed value does not.
 */
export function statsStatement(qualified: string, columns?: readonly string[]): PlannedStatement {
  // ROW(t.a, t.b)::text is t::text when those are all of t's columns, so a month restored into
  // a table that gained columns since is checked over the columns it was archived with.
  const row = columns ? `ROW(${columns.map((c) => `t.${ident(c)}`).join(', ')})::text` : 't::text';
  return {
    sql: `SELECT count(*)::text AS rows, min(t.created_at)::text AS min_created_at, max(t.created_at)::text AS max_created_at, ` +
      `COALESCE(sum(('x' || substr(md5(${row}), 1, 15))::bit(60)::bigint), 0)::text AS checksum FROM ${qualified} t`,
    locks: `ACCESS SHARE on ${qualified} (detached: no live query uses it)`,
  };
}

export function copyToStatement(qualified: string, path: string): PlannedStatement {
  return {
    sql: `COPY ${qualified} TO STDOUT WITH (FORMAT csv, HEADER true)`,
    locks: `ACCESS SHARE on ${qualified}; streamed through sha256 and gzip into ${path}`,
  };
}

/** With `columns` (the file's header), a table that gained columns since the export loads it; they take their defaults. */
export function copyFromSql(qualified: string, columns?: readonly string[]): string {
  const list = columns ? ` (${columns.map((c) => ident(c)).join(', ')})` : '';
  return `COPY ${qualified}${list} FROM STDIN WITH (FORMAT csv, HEADER true)`;
}

export function setSchemaStatement(schema: string, name: string, target: string): PlannedStatement {
  return {
    sql: `ALTER TABLE ${qname(schema, name)} SET SCHEMA ${ident(target)}`,
    locks: `ACCESS EXCLUSIVE on ${name} (detached: no live query uses it)`,
  };
}

export function dropTableStatement(qualified: string): PlannedStatement {
  return {
    sql: `DROP TABLE IF EXISTS ${qualified}`,
    locks: `ACCESS EXCLUSIVE on ${qualified} only (detached, its foreign keys already dropped)`,
  };
}

/** A month brought back from its archive file: an empty table shaped like its parent, indexes and constraints included. */
export function createRestoredTableSql(name: string, parent: string): string {
  return `CREATE TABLE ${qname('public', name)} (LIKE ${ident(parent)} INCLUDING ALL)`;
}

/** A scratch table for one transaction, shaped like `like`: an archive file is read into it to verify or restore. */
export function createScratchTableSql(scratch: string, like: string): string {
  return `CREATE TEMP TABLE ${scratch} (LIKE ${like} INCLUDING DEFAULTS) ON COMMIT DROP`;
}

/**
 * Puts an archived month's comments back; ON CONFLICT makes a re-run after an interrupted
 * restore safe. A comment whose author or post was deleted since the archive stays out, as
 * the cascade would have removed it (post_comments' one FK is its author; posts have none).
 * `columns` are the source's, so comments archived before post_comments gained a column load.
 */
export function reinsertCommentsSql(source: string, columns: readonly string[]): string {
  const list = columns.map((c) => ident(c)).join(', ');
  return `INSERT INTO post_comments (${list}) SELECT ${columns.map((c) => `s.${ident(c)}`).join(', ')} FROM ${source} s ` +
    `WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = s.author_id) ` +
    `AND EXISTS (SELECT 1 FROM status_updates p WHERE p.id = s.post_id AND p.created_at = s.post_created_at) ` +
    `ON CONFLICT (id) DO NOTHING`;
}
