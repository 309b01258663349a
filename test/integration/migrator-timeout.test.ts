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
