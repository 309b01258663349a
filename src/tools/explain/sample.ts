import type { QueryDef } from '../../catalog/types.ts';
import type { Database } from '../../db/database.ts';
import { firstRowAsText } from '../../db/explain-runner.ts';

export class SampleError extends Error {
  readonly code = 'EXPLAIN_NO_SAMPLE';
}

/**
 * The parameters an entry is audited with: its fixed sample, or the one row its sample
 * query returns (columns in order = $1, $2, …), read on the primary as text.
 */
export async function resolveSample(db: Database, def: QueryDef): Promise<unknown[]> {
  const sample = def.sample;
  if (isSampleQuery(sample)) {
    const row = await firstRowAsText(db, sample.sql);
    if (!row) throw new SampleError(`the sample query of ${def.name} returned no row (is the database seeded?)`);
    return row;
  }
  return [...sample];
}

function isSampleQuery(sample: QueryDef['sample']): sample is { readonly sql: string } {
  return !Array.isArray(sample) && typeof sample === 'object' && sample !== null && 'sql' in sample;
}

/** A parameter as the docs and the text report show it: short, one line. */
export function displayParam(value: unknown): string {
  const text = value === null || value === undefined ? 'NULL'
    : value instanceof Date ? value.toISOString()
    : typeof value === 'object' ? JSON.stringify(value)
    : String(value);
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}…` : oneLine;
}
