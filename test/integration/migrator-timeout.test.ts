import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Migrations run without the session's statement timeout (the app connects with 5 s), and the
 * session gets its own back afterwards. Before, a migration longer than the timeout failed:
 * a CREATE INDEX on real data, or a CREATE INDEX CONCURRENTLY left invalid.
 */
let tdb: TestDatabase;
let dir: string;

beforeAll(async () => {
  tdb = await createTestDatabase('migrator_timeout');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-migrations-'));
  fs.writeFileSync(path.join(dir, '9001_takes_a_while.sql'), '-- Longer than the session\'s statement timeout.\nSELECT pg_sleep(0.5);\n');
}, 60_000);

afterAll(async () => {
  await tdb?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('migrate', () => {
  it('applies a migration longer than the session\'s statement timeout, and restores that timeout', async () => {
    const client = new pg.Client({ connectionString: tdb.primaryUrl, options: '-c statement_timeout=200' });
    await client.connect();
    try {
      const applied = await migrate(client, dir);
      expect(applied.map((m) => m.name)).toEqual(['9001_takes_a_while']);
      expect((await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout).toBe('200ms');
    } finally {
      await client.end();
    }
  });
});

describe('migrate behind a long transaction', () => {
  it('a migration that needs a lock someone holds waits in short attempts, so other sessions are not queued behind it', async () => {
    const lockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-migrations-lock-'));
    const holder = new pg.Client({ connectionString: tdb.primaryUrl });
    const reader = new pg.Client({ connectionString: tdb.primaryUrl, options: '-c statement_timeout=6000' });
    const migrator = new pg.Client({ connectionString: tdb.primaryUrl });
    await Promise.all([holder.connect(), reader.connect(), migrator.connect()]);
    try {
      await holder.query('CREATE TABLE lock_target (id int)');
      fs.writeFileSync(path.join(lockDir, '9101_alter_busy_table.sql'), 'ALTER TABLE lock_target ADD COLUMN note text;\n');
      // A long reader (an archive COPY, a report) holds ACCESS SHARE; the ALTER needs ACCESS EXCLUSIVE.
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM lock_target');
      const waits: number[] = [];
      const migrating = migrate(migrator, lockDir, () => undefined, (_m, attempt) => waits.push(attempt));
      migrating.catch(() => undefined);
      const started = Date.now();
      // Wait until the ALTER has queued at least once, then read the table as the app would.
      for (;;) {
        const { rows } = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'lock_target'::regclass AND NOT granted`);
        if ((rows[0]?.n ?? 0) > 0 || Date.now() - started > 10_000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const readStarted = Date.now();
      await reader.query('SELECT count(*) FROM lock_target');
      const readMs = Date.now() - readStarted;
      console.log(`a read of the table during the migration's lock wait took ${readMs} ms (each attempt waits at most 3 s)`);
      expect(readMs).toBeLessThan(5_000);
      await holder.query('COMMIT');
      const applied = await migrating;
      expect(applied.map((m) => m.name)).toEqual(['9101_alter_busy_table']);
      // Each attempt that timed out was reported (the CLI prints it).
      expect(waits.length).toBeGreaterThan(0);
      const { rows } = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'lock_target' AND column_name = 'note'`);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), reader.end(), migrator.end()]);
      fs.rmSync(lockDir, { recursive: true, force: true });
    }
  });
});

