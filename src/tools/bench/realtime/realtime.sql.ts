/**
 * The realtime benchmark's fixture SQL (harness SQL, not app queries): N users with a
 * live session each, in a ring of direct conversations (user i with user i+1), so every
 * user is a member of two conversations and every conversation has two members online.
 * Parameters are arrays of equal length, inserted with unnest in one statement per chunk
 * (names are numbered from the chunk's offset, `$2`, so they stay unique).
 */
export const REALTIME_BENCH_SQL = {
  users: `
INSERT INTO users (id, email, username, password_hash)
SELECT id, 'rtb' || ($2::int + n) || '@bench.test', 'rtb_' || ($2::int + n), 'not-a-password-hash'
FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
  profiles: `INSERT INTO profiles (user_id, display_name) SELECT id, 'Realtime bench ' || ($2::int + n) FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
  sessions: `
INSERT INTO sessions (id, user_id, token_hash, expires_at)
SELECT s, u, decode(h, 'hex'), now() + interval '1 day'
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(s, u, h)`,
  conversations: `
INSERT INTO conversations (id, user_low, user_high)
SELECT c, LEAST(a, b), GREATEST(a, b) FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(c, a, b)`,
  members: `
INSERT INTO conversation_members (conversation_id, user_id)
SELECT c, u FROM unnest($1::uuid[], $2::uuid[]) AS t(c, u)`,
  /** Every message of the run (the database holds nothing else), for the exactness check. */
  messages: `SELECT id::text, conversation_id::text FROM messages WHERE conversation_id IS NOT NULL`,
} as const;
