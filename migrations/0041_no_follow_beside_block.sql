-- A block between two users removes every friend row (request or friendship), favourite and
-- pending group join request between them, both ways (social.block, under the pair lock), and the
-- reads rely on it: the following feed walks friends and favourites without a block check. Rows
-- written before the pair lock (a favourite or an accept racing a block) and the seed's data
-- (its block branch did not look at favourites) could stand beside a block, and a blocked user
-- then saw the blocker's posts in the following feed. This removes them once; the writes keep it.
DELETE FROM relationships f
WHERE f.kind IN ('friend', 'favorite')
  AND EXISTS (
    SELECT 1 FROM relationships b
    WHERE b.kind = 'block'
      AND ((b.user_id = f.user_id AND b.target_id = f.target_id) OR (b.user_id = f.target_id AND b.target_id = f.user_id)));

DELETE FROM group_join_requests jr USING community_groups g
WHERE g.id = jr.group_id
  AND EXISTS (
    SELECT 1 FROM relationships b
    WHERE b.kind = 'block'
      AND ((b.user_id = jr.user_id AND b.target_id = g.owner_id) OR (b.user_id = g.owner_id AND b.target_id = jr.user_id)));
