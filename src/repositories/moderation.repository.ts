import { catalog } from '../catalog/registry.ts';
import { defineQuery } from '../catalog/types.ts';
import type { Database, QueryContext } from '../db/database.ts';
import { authorActive } from './post-sql.ts';
import { iso } from './sql-fragments.ts';

/**
 * Reports and moderation (migration 0014). A report names a target (profile, message,
 * post, comment); reports of one target form one moderation case whose report_count and
 * first_reported_at order the moderators' queue. Messages and posts are found through
 * their partition: $lower/$upper are the ±1 day around the UUIDv7 time of the id.
 * Resolving a case is one statement: hide the target, suspend its author (and end every
 * session of theirs), close the case, and record the action with who and when.
 */

export type TargetKind = 'profile' | 'message' | 'post' | 'comment';
export type ResolveAction = 'dismiss' | 'hide' | 'suspend';

/**
 * The target of a report, if it exists, is not hidden yet, and reporter $5 may see it: a
 * profile of an active user; a room message, or a message of a conversation $5 is in; a
 * public post or one of a group $5 is in; a comment on such a post. Reporting across a
 * block is allowed on purpose: those are the people most likely to report each other.
 */
const TARGET = `
SELECT p.user_id, NULL::timestamptz AS created_at, true AS visible, left(concat_ws(': ', p.display_name, p.bio), 280) AS preview
FROM profiles p JOIN users u ON u.id = p.user_id AND u.is_active
WHERE $1::text = 'profile' AND p.user_id = $2::uuid AND p.hidden_at IS NULL
UNION ALL
SELECT m.sender_id, m.created_at,
       m.room_id IS NOT NULL
         OR EXISTS (SELECT 1 FROM conversation_members cm WHERE cm.conversation_id = m.conversation_id AND cm.user_id = $5::uuid),
       left(m.content, 280)
FROM messages m
WHERE $1::text = 'message' AND m.id = $2::uuid AND m.created_at >= $3::timestamptz AND m.created_at <= $4::timestamptz
  AND m.hidden_at IS NULL
UNION ALL
SELECT s.author_id, s.created_at,
       s.group_id IS NULL
         OR EXISTS (SELECT 1 FROM group_memberships gm WHERE gm.group_id = s.group_id AND gm.user_id = $5::uuid),
       left(s.content, 280)
FROM status_updates s
WHERE $1::text = 'post' AND s.id = $2::uuid AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
  AND s.hidden_at IS NULL
UNION ALL
SELECT pc.author_id, NULL::timestamptz,
       s.hidden_at IS NULL AND (s.group_id IS NULL
         OR EXISTS (SELECT 1 FROM group_memberships gm WHERE gm.group_id = s.group_id AND gm.user_id = $5::uuid)),
       left(pc.content, 280)
FROM post_comments pc
JOIN status_updates s ON s.id = pc.post_id AND s.created_at = pc.post_created_at
WHERE $1::text = 'comment' AND pc.id = $2::uuid AND pc.hidden_at IS NULL`;

const CASE_COLUMNS = `
  mc.id, mc.target_kind, mc.target_id, mc.target_user_id, u.username AS target_username, mc.report_count,
  ${iso('mc.first_reported_at')} AS first_reported_at, ${iso('mc.last_reported_at')} AS last_reported_at,
  mc.status, mc.resolved_by, ${iso('mc.resolved_at')} AS resolved_at, mc.target_preview AS preview`;

const RECENT_POST = `
  SELECT s.id, s.created_at, s.author_id FROM status_updates s
  WHERE s.created_at >= now() - interval '30 days' ORDER BY s.created_at DESC LIMIT 1`;

/**
 * Posts recounted per moderation.recount_comments statement. Its cost is the posts' comments:
 * the EXPLAIN audit's sample once took 551 posts (18,734 comments on `medium`) in 26 ms, about
 * 1.4 µs a comment, so 200 posts stay inside the 5 s statement timeout up to about 17,000
 * comments each. The sample is now one chunk, as the statement is only ever run.
 */
const RECOUNT_CHUNK = 200;

export const moderationQueries = catalog({
  report: defineQuery({
    name: 'moderation.report',
    description: 'POST /api/moderation/reports: finds the target (partition-pruned for messages and posts) and checks the reporter may see it, records one report per reporter and target, and opens or bumps the target\'s case, in one statement.',
    target: 'primary',
    timeBounded: true,
    sample: {
      sql: `SELECT 'post' AS kind, b.id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   (SELECT id FROM users WHERE id <> b.author_id ORDER BY id LIMIT 1) AS reporter_id, gen_random_uuid() AS case_id,
                   'spam' AS reason, 'explain audit' AS details
            FROM (${RECENT_POST}) b`,
    },
    sql: `
WITH target AS (${TARGET}
), ok AS (
  SELECT t.user_id, t.created_at, t.preview FROM target t WHERE t.visible AND t.user_id <> $5::uuid LIMIT 1
), r AS (
  INSERT INTO content_reports (target_kind, target_id, reporter_id, reason, details)
  SELECT $1, $2, $5, $7, $8 FROM ok
  ON CONFLICT (target_kind, target_id, reporter_id) DO NOTHING
  RETURNING 1
), c AS (
  -- Only a new report counts. A dismissed case that is reported again (by someone new) reopens.
  INSERT INTO moderation_cases AS mc (id, target_kind, target_id, target_created_at, target_user_id, target_preview, report_count)
  SELECT $6, $1, $2, ok.created_at, ok.user_id, ok.preview, 1 FROM ok WHERE EXISTS (SELECT 1 FROM r)
  ON CONFLICT (target_kind, target_id) DO UPDATE SET
    report_count = mc.report_count + 1,
    last_reported_at = now(),
    status = CASE WHEN mc.status = 'dismissed' THEN 'open' ELSE mc.status END,
    resolved_by = CASE WHEN mc.status = 'dismissed' THEN NULL ELSE mc.resolved_by END,
    resolved_at = CASE WHEN mc.status = 'dismissed' THEN NULL ELSE mc.resolved_at END
  RETURNING mc.id
)
SELECT EXISTS (SELECT 1 FROM target) AS target_exists,
       EXISTS (SELECT 1 FROM target WHERE visible) AS visible,
       EXISTS (SELECT 1 FROM ok) AS allowed,
       EXISTS (SELECT 1 FROM c) AS created`,
  }),
  queue: defineQuery({
    name: 'moderation.queue',
    description: 'GET /api/moderation/queue: open cases, most reported first, then oldest first report; keyset on (report_count DESC, first_reported_at, id) over moderation_cases_queue_idx, with the preview each case stored.',
    target: 'replica',
    sample: [2147483647, '-infinity', '00000000-0000-0000-0000-000000000000', 21],
    sql: `
SELECT ${CASE_COLUMNS}
FROM moderation_cases mc
JOIN users u ON u.id = mc.target_user_id
WHERE mc.status = 'open'
  AND mc.report_count <= $1::int
  AND (mc.report_count < $1::int OR (mc.first_reported_at, mc.id) > ($2::timestamptz, $3::uuid))
ORDER BY mc.report_count DESC, mc.first_reported_at, mc.id
LIMIT $4`,
  }),
  getCase: defineQuery({
    name: 'moderation.case',
    description: 'GET /api/moderation/cases/:id: one case with its target preview, its latest 100 reports and every action taken on it (who and when).',
    target: 'replica',
    sample: { sql: `SELECT coalesce((SELECT id FROM moderation_cases ORDER BY report_count DESC, id LIMIT 1), gen_random_uuid()) AS id` },
    sql: `
SELECT ${CASE_COLUMNS},
       coalesce((
         SELECT json_agg(x ORDER BY x.created_at DESC) FROM (
           SELECT r.reporter_id, ru.username AS reporter_username, r.reason, r.details, ${iso('r.created_at')} AS created_at
           FROM content_reports r JOIN users ru ON ru.id = r.reporter_id
           WHERE r.target_kind = mc.target_kind AND r.target_id = mc.target_id
           ORDER BY r.created_at DESC LIMIT 100) x), '[]'::json) AS reports,
       coalesce((
         SELECT json_agg(y ORDER BY y.created_at) FROM (
           SELECT a.id, a.action, a.moderator_id, mu.username AS moderator_username, a.note, ${iso('a.created_at')} AS created_at
           FROM moderation_actions a LEFT JOIN users mu ON mu.id = a.moderator_id
           WHERE a.case_id = mc.id) y), '[]'::json) AS actions
FROM moderation_cases mc
JOIN users u ON u.id = mc.target_user_id
WHERE mc.id = $1`,
  }),
  lockCase: defineQuery({
    name: 'moderation.lock_case',
    description: 'POST /api/moderation/cases/:id/resolve, first in its transaction: the case row locked and its status, so a second resolve of the same case waits for the first and then sees it closed (one primary-key hit).',
    target: 'primary',
    sample: { sql: `SELECT coalesce((SELECT id FROM moderation_cases ORDER BY id LIMIT 1), gen_random_uuid()) AS id` },
    sql: `SELECT mc.status FROM moderation_cases mc WHERE mc.id = $1 FOR UPDATE`,
  }),
  lockModerator: defineQuery({
    name: 'moderation.lock_moderator',
    description: "POST /api/moderation/cases/:id/resolve, after moderation.lock_case: the acting moderator's users row, FOR SHARE, and whether it may still moderate (active, superuser). A suspension of that moderator (moderation.lock_account) waits for this resolve, or this one waits for it and is refused. With a suspension, taken in id order with the account's lock.",
    target: 'primary',
    sample: { sql: `SELECT (SELECT id FROM users ORDER BY id LIMIT 1) AS id` },
    sql: `SELECT u.is_active AND u.is_superuser AS may_moderate FROM users u WHERE u.id = $1 FOR SHARE`,
  }),
  lockAccount: defineQuery({
    name: 'moderation.lock_account',
    description: 'POST /api/moderation/cases/:id/resolve with action suspend, after moderation.lock_case in its transaction (in id order with moderation.lock_moderator): the account\'s users row locked (one primary-key hit) before moderation.resolve starts, so its snapshot sees every comment by the account that held the row (FOR SHARE) first, and later ones wait for the commit and are refused (post-sql.ts, lockedActiveAuthors). Also tells migration 0037\'s trigger, for this transaction only, that its recount is done here (moderation.recount_comments, in chunks).',
    target: 'primary',
    sample: { sql: `SELECT (SELECT id FROM users ORDER BY id LIMIT 1) AS id` },
    // bgc.skip_comment_recount: this transaction recounts the account's posts itself, in
    // chunks (moderation.recount_comments), so migration 0037's trigger leaves them alone.
    sql: `SELECT u.is_active, set_config('bgc.skip_comment_recount', 'on', true) AS skip_recount FROM users u WHERE u.id = $1 FOR NO KEY UPDATE`,
  }),
  resolve: defineQuery({
    name: 'moderation.resolve',
    description: 'POST /api/moderation/cases/:id/resolve in one statement: hide the target (hide, suspend; partition-pruned; a hidden last message also leaves its conversation\'s inbox fields, a hidden unread one its recipient\'s unread_count), suspend its author and revoke their sessions (suspend), lock (in id order) the posts whose comment_count that changes (the hidden comment\'s, those a suspended account commented on) and the hidden post itself, which is hidden through that locked set, and return them for moderation.recount_comments, close the case and record the action; returns a hidden direct message\'s conversation and its two members (from the locked conversation row), whose chat pages the after-commit hook raises.',
    target: 'primary',
    timeBounded: true,
    justify: {
      no_pruning: 'the lock of the posts to recount (gone_posts) finds each post by the (id, created_at) that the hidden comment row, or a suspended account\'s comment rows, hold, known only while the statement runs: primary-key probes per status_updates partition, on a moderator\'s comment hide or suspension (rare); every other part is pruned by $9/$10.',
      misestimate: 'a suspension\'s comments (post_comments_author_id_idx): the planner estimates an average author\'s count, and the sample suspends a prolific one (thousands of comments against an estimate of tens); the plan is the index scan and per-post probes at either count, once per suspension.',
    },
    sample: {
      sql: `SELECT gen_random_uuid() AS case_id, (SELECT id FROM users WHERE id <> b.author_id ORDER BY is_superuser DESC, id LIMIT 1) AS moderator_id,
                   'suspend' AS action, 'suspended' AS status, gen_random_uuid() AS action_id, 'explain audit' AS note,
                   'post' AS kind, b.id AS target_id, b.created_at - interval '1 day' AS lower_ts, b.created_at + interval '1 day' AS upper_ts,
                   b.author_id AS target_user_id
            FROM (${RECENT_POST}) b`,
    },
    sql: `
WITH hm AS (
  UPDATE messages m SET hidden_at = now()
  WHERE $3::text <> 'dismiss' AND $7::text = 'message' AND m.id = $8::uuid
    AND m.created_at >= $9::timestamptz AND m.created_at <= $10::timestamptz AND m.hidden_at IS NULL
  RETURNING m.id, m.conversation_id, m.sender_id, m.created_at
), hconv AS (
  -- The hidden message's conversation row, locked before its member row is written, as a
  -- send and a mark-read lock them (message-batch.repository.ts), so the three cannot
  -- deadlock. hlast and hunread both read it: a row this statement had already updated
  -- would not be locked (nor returned) here.
  SELECT c.id, c.user_low, c.user_high FROM conversations c JOIN hm ON hm.conversation_id = c.id
  FOR NO KEY UPDATE OF c
), hlast AS (
  -- The inbox shows the last message from the conversation row (migration 0018): a hidden
  -- last message is no one's to show. If a send made another message the last one first,
  -- the re-check under the row lock finds last_message_id changed and writes nothing.
  UPDATE conversations c SET last_message_sender_id = NULL, last_message_content = NULL
  FROM hm JOIN hconv ON hconv.id = hm.conversation_id
  WHERE c.id = hm.conversation_id AND c.last_message_id = hm.id
  RETURNING c.id
), hunread AS (
  -- The recipient's unread_count counts the other member's messages after their last_read_at
  -- (chat.send_messages adds them, chat.mark_read zeroes it): a hidden one leaves the history,
  -- so it leaves the count (before, the inbox counted a message no history showed). A
  -- mark-read or a send committing meanwhile is re-read under the row lock.
  UPDATE conversation_members cm SET unread_count = cm.unread_count - 1
  FROM hm JOIN hconv ON hconv.id = hm.conversation_id
  WHERE cm.conversation_id = hm.conversation_id AND cm.user_id <> hm.sender_id
    AND cm.last_read_at < hm.created_at AND cm.unread_count > 0
  RETURNING 1
), hc AS (
  UPDATE post_comments pc SET hidden_at = now()
  WHERE $3::text <> 'dismiss' AND $7::text = 'comment' AND pc.id = $8::uuid AND pc.hidden_at IS NULL
  RETURNING pc.post_id, pc.post_created_at, pc.author_id
), hpr AS (
  UPDATE profiles p SET hidden_at = now()
  WHERE $3::text <> 'dismiss' AND $7::text = 'profile' AND p.user_id = $8::uuid AND p.hidden_at IS NULL
  RETURNING 1
), sus AS (
  UPDATE users u SET is_active = false, updated_at = now()
  WHERE $3::text = 'suspend' AND u.id = $11::uuid AND u.id <> $2::uuid AND u.is_active
  RETURNING u.id
), rev AS (
  -- Every live session ends now, not at its expiry (sessions_user_id_idx).
  UPDATE sessions s SET revoked_at = now()
  WHERE $3::text = 'suspend' AND s.user_id = $11::uuid AND $11::uuid <> $2::uuid AND s.revoked_at IS NULL
  RETURNING s.token_hash
), gone AS (
  -- A post's comment_count is of the comments its list shows (the feed shows the count, the
  -- top-posts report ranks by it): not hidden, by an active account. The posts whose count this
  -- resolve may change: the hidden comment's, and on a suspension those the account has a
  -- visible comment on. They are recounted, not lowered, by moderation.recount_comments, the
  -- next statement of this transaction: lowering by what this snapshot saw took a comment off
  -- twice when a hide of it and a suspension of its author raced (each snapshot misses the
  -- other's change), and never corrected a count that was already wrong.
  SELECT hc.post_id, hc.post_created_at FROM hc
  UNION
  SELECT pc.post_id, pc.post_created_at FROM post_comments pc
  WHERE pc.author_id IN (SELECT sus.id FROM sus) AND pc.hidden_at IS NULL
), gone_posts AS MATERIALIZED (
  -- Locked here, in id order, as the grouped comment statement locks its posts
  -- (comment-batch.repository.ts): a suspension locking many posts in any order and a comment
  -- group holding two of them could otherwise deadlock, and one side would fail. The locks
  -- are held to the commit, so the recount (a later statement, a fresh snapshot) runs on rows
  -- no comment can bump meanwhile; why that makes it exact: ModerationRepository.resolve.
  -- The hidden post (a post target) is among them, and hidden only below, through this set:
  -- hidden first (the final SELECT reads hp before gone_posts) it was locked out of order, and
  -- this scan skipped it as a row the statement had already updated, so a suspension through
  -- the account's own post never recounted it.
  SELECT s.id, s.created_at FROM status_updates s
  WHERE (s.id, s.created_at) IN (
    SELECT g.post_id, g.post_created_at FROM gone g
    UNION ALL
    SELECT t.id, t.created_at FROM status_updates t
    WHERE $3::text <> 'dismiss' AND $7::text = 'post' AND t.id = $8::uuid
      AND t.created_at >= $9::timestamptz AND t.created_at <= $10::timestamptz)
  ORDER BY s.id
  FOR NO KEY UPDATE OF s
), hp AS (
  UPDATE status_updates s SET hidden_at = now()
  FROM gone_posts gp
  WHERE $3::text <> 'dismiss' AND $7::text = 'post' AND s.id = $8::uuid AND gp.id = s.id AND gp.created_at = s.created_at
    AND s.created_at >= $9::timestamptz AND s.created_at <= $10::timestamptz AND s.hidden_at IS NULL
  RETURNING 1
), upd AS (
  UPDATE moderation_cases mc SET status = $4, resolved_by = $2, resolved_at = now()
  WHERE mc.id = $1
  RETURNING mc.id
), act AS (
  INSERT INTO moderation_actions (id, case_id, moderator_id, action, note)
  SELECT $5, upd.id, $2, $3, $6 FROM upd
  RETURNING id, created_at
)
SELECT EXISTS (SELECT 1 FROM upd) AS case_exists,
       (SELECT count(*) FROM hm) + (SELECT count(*) FROM hp) + (SELECT count(*) FROM hc) + (SELECT count(*) FROM hpr) > 0 AS hid,
       EXISTS (SELECT 1 FROM sus) AS suspended,
       coalesce((SELECT array_agg(encode(token_hash, 'hex')) FROM rev), '{}') AS revoked_token_hashes,
       (SELECT ${iso('created_at')} FROM act) AS acted_at,
       -- A hidden direct message's conversation and members: the after-commit hook raises their chat pages.
       (SELECT hconv.id FROM hconv) AS hidden_conversation_id,
       (SELECT ARRAY[hconv.user_low::text, hconv.user_high::text] FROM hconv) AS hidden_member_ids,
       -- The locked posts, for moderation.recount_comments: ids and times (exact, as text) in id order.
       coalesce((SELECT array_agg(gp.id ORDER BY gp.id) FROM gone_posts gp), '{}') AS recount_post_ids,
       coalesce((SELECT array_agg(${iso('gp.created_at')} ORDER BY gp.id) FROM gone_posts gp), '{}') AS recount_post_created_ats`,
  }),
  recountComments: defineQuery({
    name: 'moderation.recount_comments',
    description: 'POST /api/moderation/cases/:id/resolve, after moderation.resolve in its transaction: sets comment_count of the posts that statement locked to the number of their comments not hidden and by active accounts (post_comments_post_idx per post, one users probe per comment), writing only counts that differ; partitions pruned to the posts\' time range ($3, $4). Run in chunks of 200 posts, each its own statement. Its own snapshot sees this transaction\'s hide and suspension and every comment committed before it.',
    target: 'primary',
    timeBounded: true,
    justify: {
      no_pruning: 'a suspension recounts every post its account has a visible comment on: $3..$4 span the months of those posts, every partition for an account that commented in each (on the medium seed the sample\'s posts are in 13 of 16). Each post is still one primary-key probe in its own partition; a hidden comment\'s post is one partition.',
      misestimate: 'the posts\' (id, created_at) pairs from unnest joined to status_updates: the planner takes the two equalities as independent and estimates the join at 1 row, where each pair is exactly one post (200 in the sample, one chunk of a prolific commenter\'s suspension); the plan is one primary-key probe per post at any count.',
    },
    sample: {
      // The first chunk (RECOUNT_CHUNK posts) of those the resolve sample (a suspension of
      // RECENT_POST's author) locks: the statement never gets more.
      sql: `SELECT coalesce(array_agg(x.id ORDER BY x.id), '{}') AS ids, coalesce(array_agg(x.created_at ORDER BY x.id), '{}') AS created_ats,
                   coalesce(min(x.created_at), now()) AS lower_ts, coalesce(max(x.created_at), now()) AS upper_ts
            FROM (SELECT DISTINCT pc.post_id AS id, pc.post_created_at AS created_at FROM post_comments pc
                  WHERE pc.author_id = (SELECT b.author_id FROM (${RECENT_POST}) b) AND pc.hidden_at IS NULL
                  ORDER BY 1 LIMIT ${RECOUNT_CHUNK}) x`,
    },
    sql: `
WITH fixed AS (
  UPDATE status_updates s SET comment_count = c.n
  FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, created_at)
  -- An aggregate in a lateral subquery: counted once per post (a scalar subquery would be
  -- evaluated for the SET and again for the WHERE).
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS n FROM post_comments pc
    WHERE pc.post_id = t.id AND pc.hidden_at IS NULL AND ${authorActive('pc.author_id')}
  ) c
  WHERE s.id = t.id AND s.created_at = t.created_at
    AND s.created_at >= $3::timestamptz AND s.created_at <= $4::timestamptz
    AND s.comment_count <> c.n
  RETURNING 1
)
SELECT count(*)::int AS fixed FROM fixed`,
  }),
});

export interface ReportRow { readonly target_exists: boolean; readonly visible: boolean; readonly allowed: boolean; readonly created: boolean }
export interface CaseRow {
  readonly id: string;
  readonly target_kind: TargetKind;
  readonly target_id: string;
  readonly target_user_id: string;
  readonly target_username: string;
  readonly report_count: number;
  readonly first_reported_at: string;
  readonly last_reported_at: string;
  readonly status: 'open' | 'dismissed' | 'hidden' | 'suspended';
  readonly resolved_by: string | null;
  readonly resolved_at: string | null;
  readonly preview: string | null;
}
export interface CaseReport { readonly reporter_id: string; readonly reporter_username: string; readonly reason: string; readonly details: string | null; readonly created_at: string }
export interface CaseAction { readonly id: string; readonly action: ResolveAction; readonly moderator_id: string | null; readonly moderator_username: string | null; readonly note: string | null; readonly created_at: string }
export type CaseDetailRow = CaseRow & { readonly reports: CaseReport[]; readonly actions: CaseAction[] };
/** A resolve's outcome: done, or refused because the case is gone or no longer open. */
export type ResolveOutcome =
  | { readonly kind: 'resolved'; readonly row: ResolveRow }
  | { readonly kind: 'missing' }
  | { readonly kind: 'closed'; readonly status: CaseRow['status'] }
  /** The acting account is suspended or no longer a moderator (nothing was done). */
  | { readonly kind: 'not_moderator' };
export interface ResolveRow {
  readonly case_exists: boolean; readonly hid: boolean; readonly suspended: boolean; readonly revoked_token_hashes: string[]; readonly acted_at: string | null;
  /** Set when a direct message was hidden: its conversation and that conversation's two members. */
  readonly hidden_conversation_id: string | null;
  readonly hidden_member_ids: string[] | null;
}

/** moderation.resolve's row: the outcome and the locked posts moderation.recount_comments recounts. */
interface ResolveStatementRow extends ResolveRow {
  readonly recount_post_ids: string[];
  /** ISO-8601 with microseconds: a Date would cut them off and miss the row. */
  readonly recount_post_created_ats: string[];
}

export interface Bounds { readonly lowerTs: string; readonly upperTs: string }
export interface QueueAfter { readonly count: number; readonly ts: string; readonly id: string }

export class ModerationRepository {
  constructor(private readonly db: Database) {}

  async report(r: { kind: TargetKind; targetId: string; bounds: Bounds; reporterId: string; caseId: string; reason: string; details: string | null }): Promise<ReportRow> {
    const rows = await this.db.query<ReportRow>(moderationQueries.report,
      [r.kind, r.targetId, r.bounds.lowerTs, r.bounds.upperTs, r.reporterId, r.caseId, r.reason, r.details]);
    return one(rows, 'moderation.report');
  }

  async queue(after: QueueAfter, limit: number, ctx: QueryContext): Promise<CaseRow[]> {
    return this.db.query<CaseRow>(moderationQueries.queue, [after.count, after.ts, after.id, limit], ctx);
  }

  async getCase(caseId: string, ctx: QueryContext): Promise<CaseDetailRow | undefined> {
    return (await this.db.query<CaseDetailRow>(moderationQueries.getCase, [caseId], ctx))[0];
  }

  async resolve(r: {
    caseId: string; moderatorId: string; action: ResolveAction; status: CaseRow['status']; actionId: string; note: string | null;
    kind: TargetKind; targetId: string; bounds: Bounds; targetUserId: string;
  }): Promise<ResolveOutcome> {
    // The case row is locked before anything is hidden or recorded: two moderators resolving
    // one case (or a retry of a resolve whose answer was lost) used to both act, the second
    // overwriting the first's status and recording a second action.
    return this.db.transaction(async (tx): Promise<ResolveOutcome> => {
      const locked = (await tx.query<{ status: CaseRow['status'] }>(moderationQueries.lockCase, [r.caseId]))[0];
      if (!locked) return { kind: 'missing' };
      if (locked.status !== 'open') return { kind: 'closed', status: locked.status };
      // A suspension locks the account first, in a statement of its own: a comment by it that
      // holds the row (FOR SHARE) is waited for here, so the resolve statement's snapshot,
      // taken after, finds it and locks its post for the recount; a comment starting later
      // waits for our commit and is refused (lockedActiveAuthors, post-sql.ts). Inside the
      // resolve statement the wait came after its snapshot, and such a comment stayed counted.
      // The moderator's own row too (FOR SHARE): the session that passed at the request's start
      // may be of an account suspended (or stripped of the role) since, by another moderator
      // while this request's body was still arriving; and two moderators suspending each other
      // both succeeded. With a suspension the two rows are locked in id order, so two such
      // resolves queue instead of deadlocking, and the second finds its moderator suspended.
      const lockModerator = async () => (await tx.query<{ may_moderate: boolean }>(moderationQueries.lockModerator, [r.moderatorId]))[0]?.may_moderate;
      const lockAccount = async () => { await tx.query(moderationQueries.lockAccount, [r.targetUserId]); };
      let mayModerate: boolean | undefined;
      if (r.action !== 'suspend') mayModerate = await lockModerator();
      else if (r.targetUserId < r.moderatorId) { await lockAccount(); mayModerate = await lockModerator(); }
      else { mayModerate = await lockModerator(); await lockAccount(); }
      if (mayModerate !== true) return { kind: 'not_moderator' };
      const rows = await tx.query<ResolveStatementRow>(moderationQueries.resolve, [
        r.caseId, r.moderatorId, r.action, r.status, r.actionId, r.note, r.kind, r.targetId, r.bounds.lowerTs, r.bounds.upperTs, r.targetUserId,
      ]);
      const { recount_post_ids: ids, recount_post_created_ats: times, ...row } = one(rows, 'moderation.resolve');
      // The posts whose comment_count the hide or suspension changes are recounted here, in a
      // second statement, because only a statement started after the locks were granted counts
      // right. The resolve statement's snapshot is from before it waited for them: it sees
      // neither its own hide and suspension nor a comment committed while it waited (whose +1
      // a recount there would overwrite). This statement's snapshot sees this transaction's
      // writes and every commit before it. While we hold a post's row lock a comment can be:
      //  - committed before the recount started: counted (its +1 is overwritten by the count);
      //  - not committed yet: then it has not bumped the post either. A comment is inserted and
      //    its post bumped in one statement (feed.add_comments locks the post before it
      //    inserts; group.add_comment's bump waits for the lock after its insert), and a bump
      //    holds the row lock to its commit, so a bump before our lock would have made
      //    moderation.resolve wait for that commit. It bumps after our commit, from the row we
      //    wrote (READ COMMITTED re-reads the newest version of a row it waited for): count + 1.
      // A comment by the account being suspended cannot commit unseen: moderation.lock_account
      // waited for any that held the account's row, and the rest wait for our commit and find
      // the account inactive.
      // In chunks: a statement counts every comment of its posts, and an account that commented
      // on thousands of busy posts would otherwise make one statement that outlives
      // statement_timeout every time, and the account could not be suspended. Each chunk starts
      // after every lock was granted, so each counts as the one statement did.
      for (let i = 0; i < ids.length; i += RECOUNT_CHUNK) {
        const chunkTimes = times.slice(i, i + RECOUNT_CHUNK);
        const bounds = timeRange(chunkTimes);
        if (!bounds) continue;
        await tx.query(moderationQueries.recountComments, [ids.slice(i, i + RECOUNT_CHUNK), chunkTimes, bounds.lower, bounds.upper]);
      }
      return { kind: 'resolved', row };
    });
  }
}


/** The earliest and latest of iso() timestamps (fixed width, UTC: they sort as text). */
function timeRange(isoTimes: readonly string[]): { lower: string; upper: string } | undefined {
  if (isoTimes.length === 0) return undefined;
  let lower = isoTimes[0] as string;
  let upper = lower;
  for (const t of isoTimes) { if (t < lower) lower = t; if (t > upper) upper = t; }
  return { lower, upper };
}

function one<T>(rows: T[], name: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${name} returned no row`);
  return row;
}
