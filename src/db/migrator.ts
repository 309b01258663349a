import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type pg from 'pg';
import { inLockTimedTransaction, LockRetryExhausted, type LockRetryOptions } from './lock-retry.ts';

export interface MigrationFile { readonly version: number; readonly name: string; readonly sql: string; readonly checksum: string; readonly transactional: boolean }
export interface MigrationStatus { readonly version: number; readonly name: string; readonly applied: boolean; readonly appliedAt: string | null; readonly checksumMatches: boolean | null }

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = 'MigrationError'; }
}

/**
 * Lock waits of a transactional migration: 0.2 s growing to 3 s per attempt, for up to 5 minutes
 * in all; a table busy for longer than that fails the start with a message naming the migration.
 */
const MIGRATION_LOCK_RETRY: LockRetryOptions = { attempts: 200, firstTimeoutMs: 200, maxTimeoutMs: 3_000, budgetMs: 300_000 };

// Any constant works; it only has to be the same for every process that migrates.
const MIGRATION_LOCK_KEY = 727_160_001;

const MIGRATION_NAME = /^\d{4}_[a-z0-9_]+\.sql$/;

/**
 * Reads migrations/NNNN_name.sql in order. A first line `-- bgc:no-transaction` runs outside
 * BEGIN (for CONCURRENTLY). A `.sql` file named otherwise, or two files with one number, is
 * refused: before, `0038-add-index.sql` was skipped without a word ("database is up to
 * date"), and a second 0038 later looked like an edited migration.
 */
export function loadMigrations(dir: string): MigrationFile[] {
  // Not dotfiles: an editor's lock link (`.#0039_x.sql`) or macOS's `._0039_x.sql` is no migration.
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sql') && !f.startsWith('.'));
  const misnamed = files.filter((f) => !MIGRATION_NAME.test(f));
  if (misnamed.length > 0) {
    throw new MigrationError(`${misnamed.join(', ')} in ${dir}: a migration is named NNNN_lower_case_words.sql (migrations/README.md); rename it`);
  }
  const byVersion = new Map<string, string[]>();
  for (const f of files) byVersion.set(f.slice(0, 4), [...(byVersion.get(f.slice(0, 4)) ?? []), f]);
  const twins = [...byVersion.values()].filter((names) => names.length > 1);
  if (twins.length > 0) throw new MigrationError(`two migrations share a number: ${twins.map((n) => n.join(' and ')).join('; ')}; give the newer one the next free number`);
  return files
    .sort()
    .map((f) => {
      const sql = fs.readFileSync(path.join(dir, f), 'utf8');
      return {
        version: Number(f.slice(0, 4)),
        name: f.replace(/\.sql$/, ''),
        sql,
        checksum: crypto.createHash('sha256').update(sql).digest('hex'),
        transactional: !sql.startsWith('-- bgc:no-transaction'),
      };
    });
}

async function ensureTable(client: pg.ClientBase): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
}

export async function migrationStatus(client: pg.ClientBase, dir: string): Promise<MigrationStatus[]> {
  await ensureTable(client);
  const applied = new Map((await client.query<{ version: number; checksum: string; applied_at: Date }>(
    'SELECT version, checksum, applied_at FROM schema_migrations')).rows.map((r) => [r.version, r]));
  return loadMigrations(dir).map((m) => {
    const row = applied.get(m.version);
    return { version: m.version, name: m.name, applied: !!row, appliedAt: row ? row.applied_at.toISOString() : null, checksumMatches: row ? row.checksum === m.checksum : null };
  });
}

/**
 * Applies pending migrations in order under a session advisory lock, so two processes
 * starting together migrate once. `client` must be a session of its own (the tools build their
 * Database with `session: true`): through transaction pooling the lock, the unlock and each
 * migration could run on different server connections. An applied file whose checksum changed is an error:
 * migrations are forward-only, fix forward with a new file.
 */
export async function migrate(
  client: pg.ClientBase, dir: string, onApply: (m: MigrationFile) => void = () => undefined,
  onLockWait: (m: MigrationFile, attempt: number, elapsedMs: number) => void = () => undefined,
): Promise<MigrationFile[]> {
  // No statement timeout while migrating: the app's (5 s, set at connect) cancelled a CREATE
  // INDEX on real data, and a no-transaction CREATE INDEX CONCURRENTLY cancelled that way leaves
  // an invalid index behind; waiting for another process's migration lock is no error either.
  // RESET afterwards returns the session to the value it connected with.
  await client.query('SET statement_timeout = 0');
  try {
    return await migrateUnderLock(client, dir, onApply, onLockWait);
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
  }
}

async function migrateUnderLock(
  client: pg.ClientBase, dir: string, onApply: (m: MigrationFile) => void, onLockWait: (m: MigrationFile, attempt: number, elapsedMs: number) => void,
): Promise<MigrationFile[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    const status = await migrationStatus(client, dir);
    const changed = status.filter((s) => s.checksumMatches === false);
    if (changed.length > 0) throw new MigrationError(`applied migrations were edited: ${changed.map((c) => c.name).join(', ')}; add a new migration instead`);
    const pending = loadMigrations(dir).filter((m) => !status.find((s) => s.version === m.version)?.applied);
    for (const m of pending) {
      onApply(m);
      try {
        if (m.transactional) await applyInLockTimedTransaction(client, m, (attempt, elapsedMs) => onLockWait(m, attempt, elapsedMs));
        else await applyAlone(client, m);
      } catch (err) {
        if (err instanceof LockRetryExhausted) {
          throw new MigrationError(`migration ${m.name} failed: ${err.message} (other sessions held locks it needs; nothing of it was applied)`, { cause: err.cause });
        }
        throw new MigrationError(`migration ${m.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    return pending;
  } finally {
    // On a dead connection this throws, and the lock went with the session anyway: keep the
    // migration's own error.
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}

/**
 * A transactional migration waits for its locks only briefly, then rolls back and tries again
 * (db/lock-retry.ts). Without a lock_timeout, an ALTER TABLE queued behind a long transaction (an
 * archive COPY, a report) held every later statement on that table behind it for as long as
 * that transaction ran: an outage in the middle of a rolling deploy.
 */
async function applyInLockTimedTransaction(client: pg.ClientBase, m: MigrationFile, onLockWait: (attempt: number, elapsedMs: number) => void): Promise<void> {
  await inLockTimedTransaction(client, async () => {
    await client.query(m.sql);
    await recordApplied(client, m);
  }, { ...MIGRATION_LOCK_RETRY, onLockTimeout: (attempt, _timeoutMs, elapsedMs) => onLockWait(attempt, elapsedMs) });
}

/** A no-transaction migration (CREATE INDEX CONCURRENTLY): not retried, a cancelled one leaves an invalid index. */
async function applyAlone(client: pg.ClientBase, m: MigrationFile): Promise<void> {
  await client.query(m.sql);
  await recordApplied(client, m);
}

async function recordApplied(client: pg.ClientBase, m: MigrationFile): Promise<void> {
  await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
}
