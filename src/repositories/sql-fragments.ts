/**
 * Column expressions shared by several repositories. They are spliced into catalog SQL
 * once, at module load, so every catalog entry is still one fixed string.
 */

/**
 * A timestamptz as an ISO-8601 UTC string with microseconds. Keyset cursors carry
 * these values back as parameters, and a JS Date would cut microseconds off (seeded rows
 * have them), so pages would repeat or skip rows; text round-trips exactly.
 * `-infinity` (the schema's "never read" default) comes back as NULL.
 */
export function iso(column: string): string {
  return `CASE WHEN isfinite(${column}) THEN to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END`;
}

/** The smallest and largest UUIDs: keyset bounds that exclude / include every id at a timestamp. */
export const MIN_UUID = '00000000-0000-0000-0000-000000000000';
export const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
