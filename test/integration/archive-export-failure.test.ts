import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTableToFile } from '../../src/partitions/archive-file.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * An archive export whose file side fails (disk full, an I/O error; here the temporary file's
 * name is taken by a directory, so the write fails as soon as the COPY starts). The export
 * must fail, and the maintenance session must not hang: before the fix, pg-copy-streams'
 * COPY TO stream was destroyed without its connection being handed back, and every later
 * query on the session (the ledger's error, the advisory lock's release) waited forever.
 */
let tdb: TestDatabase;
let session: pg.Client;
let dir: string;

beforeAll(async () => {
  tdb = await createTestDatabase('archive_export_failure');
  session = await tdb.admin();
  await session.query(`CREATE TABLE export_probe AS SELECT g AS id, repeat('x', 200) AS body FROM generate_series(1, 50000) g`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-export-failure-'));
});

afterAll(async () => {
  await session?.end().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await tdb?.drop();
});

describe('an archive export whose file write fails', () => {
  it('fails, writes no archive file, and leaves no session waiting forever', async () => {
    const file = path.join(dir, 'export_probe.csv.gz');
    fs.mkdirSync(`${file}.tmp`); // the write stream cannot open its file: EISDIR
    const started = Date.now();
    await expect(exportTableToFile(session, 'public.export_probe', file)).rejects.toThrow();
    // The next statement on the session must settle (an error is fine: the session was dropped).
    const next = await Promise.race([
      session.query('SELECT 1 AS ok').then(() => 'answered', (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`),
      new Promise<string>((r) => setTimeout(() => r('hung'), 5_000)),
    ]);
    console.log(`[archive-export-failure] the export failed after ${Date.now() - started} ms; the next statement on its session: ${next}`);
    expect(next).not.toBe('hung');
    expect(fs.existsSync(file)).toBe(false);
  });
});
