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

/**
 * A user's display name beside their content (posts, comments, messages, member and friend
 * lists, reports), from the profiles row aliased `p`: NULL while a moderator hides the profile
 * (migration 0014). A hidden profile is gone from its page and from search for everyone but its
 * owner; its name beside the content it still shows would name it anyway. The username stays:
 * it names the account, which a hide leaves active (a suspension removes the content too).
 */
export const shownName = (p: string): string => `CASE WHEN ${p}.hidden_at IS NULL THEN ${p}.display_name END`;

/** The send window's bounds in milliseconds (src/services/chat/send-window.ts). */
export interface SendWindow {
  readonly maxAgeMs: number;
  readonly maxLeadMs: number;
}

/**
 * True when the timestamptz `createdAt` lies outside the send window on the database's clock:
 * more than `maxAgeMs` milliseconds before clock_timestamp() or more than `maxLeadMs` after it
 * (both int parameters). clock_timestamp(), not now(): it is read when the row is checked, after
 * any lock wait before it, and statement_timeout then bounds only the rest of the statement.
 */
export const outsideSendWindow = (createdAt: string, maxAgeMs: string, maxLeadMs: string): string =>
  `(${createdAt} < clock_timestamp() - ${maxAgeMs}::int * interval '1 millisecond' OR ${createdAt} > clock_timestamp() + ${maxLeadMs}::int * interval '1 millisecond')`;

/**
 * The advisory lock of one pair of users, either direction (social.pair_lock): every
 * relationship write of the pair takes it first, and so does anything whose check must see a
 * block between them committed meanwhile (a join request to the other's private group).
 */
export const PAIR_LOCK_CLASS = 0x736f63;
export const pairLockSql = (a: string, b: string): string =>
  `pg_advisory_xact_lock(${PAIR_LOCK_CLASS}, hashtext(least(${a}::uuid, ${b}::uuid)::text || greatest(${a}::uuid, ${b}::uuid)::text))`;
