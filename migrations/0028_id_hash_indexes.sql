-- Hash indexes for the primary-key probes of the inbox (issue 15, chat.inbox on `large`).
--
-- chat.inbox was already the cheapest plan its shape allows: a walk of the user's rows in
-- conversation_members_inbox_idx that stops after $4 rows, then per row one probe each into
-- conversations (last message), users (username) and profiles (display name). Flat with the
-- user's number of conversations (275-276 buffers for 42 or 4,551 of them), but each probe is a
-- B-tree descent of 3 levels plus the heap page, 4 buffers: 252 of its 275 buffers on `large`,
-- and the descents get a level deeper as the tables grow (the same 21 rows cost ~215 buffers on
-- `medium`). A hash index finds a key in its bucket page (the metapage is cached per backend):
-- 2 buffers per probe whatever the table's size. On a replica of `large`, the same statement,
-- unchanged, with the same rows in the same order (46 users' first pages compared): 275 -> 149
-- buffers a call, 0.17 -> 0.14 ms of executor time (generic plan, 2,000 calls, alternating runs).
--
-- The planner uses them for the other equality probes of these tables too: `bgc explain --warm`
-- on `large` read fewer buffers in 42 catalog entries whose plans use them (feed.global_head
-- 966 -> 488, chat.room_history 454 -> 251, moderation.case 1,282 -> 740), and 1-2 more in
-- chat.send_messages and moderation.resolve (their updates maintain one more index).
--
-- Cost: one more index entry per inserted row and per update that is not heap-only. A send's
-- update of its conversation row is heap-only (no key changes) unless its page is full; each
-- login's profiles update is not (last_active_at is indexed, 0027), so it writes one more entry
-- beside the other nine. 4-7 MB each on `large`. The B-tree primary keys stay: uniqueness, foreign
-- keys, ranges and ordered walks need them. Hash indexes are WAL-logged (PostgreSQL 10+), so the
-- replicas, where the inbox runs, have them.
CREATE INDEX conversations_id_hash_idx ON conversations USING hash (id);
COMMENT ON INDEX conversations_id_hash_idx IS 'serves: chat.inbox (the last message, one probe per row); equality probes of conversations by id';
CREATE INDEX users_id_hash_idx ON users USING hash (id);
COMMENT ON INDEX users_id_hash_idx IS 'serves: chat.inbox (the other user''s username, one probe per row); equality probes of users by id (feeds, comments, members)';
CREATE INDEX profiles_user_id_hash_idx ON profiles USING hash (user_id);
COMMENT ON INDEX profiles_user_id_hash_idx IS 'serves: chat.inbox (the other user''s display name, one probe per row); equality probes of profiles by user';
