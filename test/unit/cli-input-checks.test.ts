import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMigrations, MigrationError } from '../../src/db/migrator.ts';
import { parseOptions } from '../../src/tools/cli/commands/seed.ts';

/**
 * CLI input that used to be misread silently: a migration file named a little wrong was
 * skipped ("database is up to date"), two with one number looked like an edited migration
 * later; an --anchor without a time zone was read in the machine's zone.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-migrations-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function dirWith(files: readonly string[]): string {
  const dir = fs.mkdtempSync(path.join(root, 'm-'));
  for (const f of files) fs.writeFileSync(path.join(dir, f), 'SELECT 1;\n');
  return dir;
}

describe('migration files', () => {
  it('loads well-named files in order and ignores what is not SQL', () => {
    const loaded = loadMigrations(dirWith(['0002_b.sql', '0001_a.sql', 'README.md', '.#0002_b.sql', '._0001_a.sql']));
    expect(loaded.map((m) => m.name)).toEqual(['0001_a', '0002_b']);
  });

  it('refuses a misnamed .sql file and two files with one number, naming them', () => {
    for (const bad of ['0038-add-index.sql', '0038_Add_index.sql', '38_x.sql']) {
      expect(() => loadMigrations(dirWith(['0001_a.sql', bad])), bad).toThrow(MigrationError);
      expect(() => loadMigrations(dirWith(['0001_a.sql', bad])), bad).toThrow(bad);
    }
    expect(() => loadMigrations(dirWith(['0001_a.sql', '0002_b.sql', '0002_c.sql']))).toThrow(/0002_b\.sql and 0002_c\.sql/);
  });
});

describe('bgc seed --anchor', () => {
  it('takes a time with a zone, or a date alone (UTC), and refuses a time without one', () => {
    expect(parseOptions({ preset: 'small', seed: '42', anchor: '2026-01-01T00:00:00Z' }).anchorMs).toBe(Date.UTC(2026, 0, 1));
    expect(parseOptions({ preset: 'small', seed: '42', anchor: '2026-01-01T02:00:00+02:00' }).anchorMs).toBe(Date.UTC(2026, 0, 1));
    expect(parseOptions({ preset: 'small', seed: '42', anchor: '2026-01-01' }).anchorMs).toBe(Date.UTC(2026, 0, 1));
    expect(() => parseOptions({ preset: 'small', seed: '42', anchor: '2026-01-01T00:00:00' })).toThrow(/no time zone/);
  });
});
