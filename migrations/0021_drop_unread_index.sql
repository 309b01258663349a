-- Two index entries fewer per message (issue 16, the send path). conversation_members_unread_idx
-- (user_id WHERE unread_count > 0) was made in 0001 for a total-unread badge that no route
-- reads: no catalog entry uses it (docs/QUERIES.md) and pg_stat_user_indexes showed 0 scans
-- on the bench data. Every send updates both members' rows (unread_count, last_message_at),
-- and those updates cannot be HOT (last_message_at is in the inbox index), so each one wrote
-- an entry into this index too: two per conversation per group commit, and the WAL, the
-- replicas' replay and vacuum paid for them. The inbox (conversation_members_inbox_idx) and
-- mark-read (the primary key) are unchanged. A badge, if one is built, can sum unread_count
-- over the inbox index's rows for the user.
DROP INDEX IF EXISTS conversation_members_unread_idx;
