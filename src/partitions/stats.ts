import type pg from 'pg';
import { statsStatement } from './archive.sql.ts';

/** What a table holds, in a form any copy of the same rows reproduces exactly. */
export interface TableStats {
  readonly rows: number;
  readonly minCreatedAt: string | null;
  readonly maxCreatedAt: string | null;
  readonly checksum: string;
}

/**
 * Timestamps and row text depend on session settings, so every maintenance session pins
 * them: stats taken before export and after reading back must use the same text forms.
 */
export const SESSION_SETTINGS_SQL = `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET statement_timeout = 0`;

/** With `columns`, the checksum covers only those (the columns an archive file was written with). */
export async function tableStats(client: pg.ClientBase, qualified: string, columns?: readonly string[]): Promise<TableStats> {
  const { rows } = await client.query<{ rows: string; min_created_at: string | null; max_created_at: string | null; checksum: string }>(
    statsStatement(qualified, columns).sql);
  const r = rows[0];
  if (!r) throw new Error(`no stats row for ${qualified}`);
  return { rows: Number(r.rows), minCreatedAt: r.min_created_at, maxCreatedAt: r.max_created_at, checksum: r.checksum };
}

/** Differences between two stats, as readable strings (empty when they match). */
export function statsDiff(expected: TableStats, actual: TableStats, what: string): string[] {
  const out: string[] = [];
  if (expected.rows !== actual.rows) out.push(`${what}: ${actual.rows} rows, expected ${expected.rows}`);
  if (expected.minCreatedAt !== actual.minCreatedAt) out.push(`${what}: min created_at ${actual.minCreatedAt}, expected ${expected.minCreatedAt}`);
  if (expected.maxCreatedAt !== actual.maxCreatedAt) out.push(`${what}: max created_at ${actual.maxCreatedAt}, expected ${expected.maxCreatedAt}`);
  if (expected.checksum !== actual.checksum) out.push(`${what}: content checksum ${actual.checksum}, expected ${expected.checksum}`);
  return out;
}
