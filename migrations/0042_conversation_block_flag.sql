-- Whether a block stands between a conversation's two members, on the conversation's row.
-- A send checks blocks in its statement's snapshot; a send waiting for the conversation's row
-- lock (another group's statement holds it) kept that snapshot, so a block committed and
-- answered meanwhile did not stop it: the message was stored and delivered after the blocker
-- had been told the block stood. Now every block and unblock also updates this flag on the
-- pair's conversation (a trigger, inside the block's transaction and under its pair lock), so
-- the block waits for the row a send holds, and a send that waited re-reads the row after the
-- wait (READ COMMITTED re-checks a locked row's newest version) and sees it. The send keeps
-- its check of relationships too: the seed's bulk load fires no triggers and sets the flag
-- itself, once, after loading.
--
-- Relationships are locked against writes first: a block or unblock committing between the
-- backfill and the triggers would otherwise leave the flag wrong for good. The backfill is
-- driven by the blocks (the pair's unique index), not a scan of every conversation, so
-- conversations stays locked (by the ALTER) only briefly.
LOCK TABLE relationships IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE conversations ADD COLUMN blocked boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN conversations.blocked IS 'a block stands between user_low and user_high (either way); kept by conversations_follow_blocks on relationships; chat.send_messages refuses on it';

-- Each statement of a volatile function takes a new snapshot: the EXISTS sees this
-- transaction's own change and every block committed before it (the pair lock orders them).
CREATE FUNCTION conversations_follow_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  a uuid;
  b uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN a := OLD.user_id; b := OLD.target_id; ELSE a := NEW.user_id; b := NEW.target_id; END IF;
  UPDATE conversations c
     SET blocked = EXISTS (SELECT 1 FROM relationships r
                           WHERE r.kind = 'block' AND ((r.user_id = a AND r.target_id = b) OR (r.user_id = b AND r.target_id = a)))
   WHERE c.user_low = least(a, b) AND c.user_high = greatest(a, b);
  RETURN NULL;
END $$;

CREATE TRIGGER conversations_follow_blocks_ins AFTER INSERT ON relationships
  FOR EACH ROW WHEN (NEW.kind = 'block') EXECUTE FUNCTION conversations_follow_blocks();
CREATE TRIGGER conversations_follow_blocks_del AFTER DELETE ON relationships
  FOR EACH ROW WHEN (OLD.kind = 'block') EXECUTE FUNCTION conversations_follow_blocks();

UPDATE conversations c SET blocked = true
FROM (SELECT DISTINCT least(r.user_id, r.target_id) AS lo, greatest(r.user_id, r.target_id) AS hi
        FROM relationships r WHERE r.kind = 'block') p
WHERE c.user_low = p.lo AND c.user_high = p.hi;
