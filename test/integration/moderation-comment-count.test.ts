import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commentBatchQueries } from '../../src/repositories/comment-batch.repository.ts';
import { newTimedId } from '../../src/services/ids.ts';
import { expectError, registerUser, startTestApp, type AuthBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * A post's comment_count under moderation (real PostgreSQL): it is the number of the post's
 * comments that are not hidden and whose author is active, whatever raced. Moderation used to
 * lower the count by the comments its statement's snapshot saw leave; a hide of a comment
 * racing a suspension of its author then took it off twice. It now locks the posts and
 * recounts them in a later statement (moderation.recount_comments), and migration 0036
 * recounted the posts that counts written before could have left wrong.
 */
let t: TestApp;
let probe: pg.Client;
let mod: TestUser;

interface ResolutionBody { status: string; hidden: boolean; suspended: boolean }

const post = async (u: TestUser, content: string): Promise<string> => {
  const res = await t.call<{ id: string }>('POST', '/api/feed', { token: u.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
};
const comment = async (u: TestUser, postId: string, content: string): Promise<string> => {
  const res = await t.call<{ id: string }>('POST', `/api/feed/${postId}/comments`, { token: u.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
};
const resolve = (caseId: string, action: string) =>
  t.call<ResolutionBody>('POST', `/api/moderation/cases/${caseId}/resolve`, { token: mod.token, body: { action } });

/** Reports a target and returns its case's id (read on the primary). */
async function caseAbout(reporter: TestUser, kind: 'post' | 'comment', targetId: string): Promise<string> {
  const res = await t.call('POST', '/api/moderation/reports', { token: reporter.token, body: { target_type: kind, target_id: targetId, reason: 'spam' } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const { rows } = await probe.query<{ id: string }>('SELECT id FROM moderation_cases WHERE target_kind = $1 AND target_id = $2', [kind, targetId]);
  const id = rows[0]?.id;
  if (!id) throw new Error(`no case about ${kind} ${targetId}`);
  return id;
}

/** The stored count beside the count the rule gives (not hidden, by an active account). */
async function counts(postId: string): Promise<{ stored: number; visible: number }> {
  const { rows } = await probe.query<{ stored: number; visible: number }>(
    `SELECT s.comment_count AS stored,
            (SELECT count(*)::int FROM post_comments pc JOIN users u ON u.id = pc.author_id AND u.is_active
             WHERE pc.post_id = s.id AND pc.hidden_at IS NULL) AS visible
     FROM status_updates s WHERE s.id = $1`, [postId]);
  const row = rows[0];
  if (!row) throw new Error(`no post ${postId}`);
  return row;
}

/**
 * Polls until `n` backends run a statement of `entry` and wait on a lock, at most 10 s; with
 * `unless`, also returns once that request has answered (it did not wait).
 */
async function untilWaiting(entry: string, n: number, unless?: Promise<unknown>): Promise<void> {
  const started = Date.now();
  let answered = false;
  unless?.then(() => { answered = true; }, () => { answered = true; });
  for (;;) {
    if (answered) return;
    const { rows } = await probe.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, [`/* ${entry} */%`]);
    if ((rows[0]?.n ?? 0) >= n) return;
    if (Date.now() - started > 10_000) throw new Error(`${n} ${entry} statement(s) did not wait on a lock within 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Takes the post's row lock in a transaction of its own connection, runs `start` (which starts
 * the requests to queue behind it and waits until they do), commits, and then awaits them.
 */
async function holdingPost<T>(postId: string, start: (c: pg.Client) => Promise<{ readonly done: Promise<T> }>): Promise<T> {
  const c = await t.tdb.admin();
  try {
    await c.query('BEGIN');
    await c.query('SELECT 1 FROM status_updates WHERE id = $1 FOR UPDATE', [postId]);
    const { done } = await start(c);
    await c.query('COMMIT');
    return await done;
  } finally {
    await c.end();
  }
}

/** A post's partition bounds as the app passes them (its time ±1 day). */
async function boundsOf(postId: string): Promise<{ lo: string; hi: string }> {
  const { rows } = await probe.query<{ lo: string; hi: string }>(
    `SELECT to_char((created_at - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lo,
            to_char((created_at + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS hi
     FROM status_updates WHERE id = $1`, [postId]);
  const row = rows[0];
  if (!row) throw new Error(`no post ${postId}`);
  return row;
}

/** counts() of each post, one after the other (one probe connection). */
async function countsOf(postIds: readonly string[]): Promise<Array<{ stored: number; visible: number }>> {
  const out: Array<{ stored: number; visible: number }> = [];
  for (const id of postIds) out.push(await counts(id));
  return out;
}

beforeAll(async () => {
  t = await startTestApp('moderation_counts', { BGC_CACHE_WARM_COUNT: '0' });
  probe = await t.tdb.admin();
  const m = await registerUser(t, 'mcc_mod');
  await probe.query('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
  // A fresh session, so no cached session of the moderator predates the flag.
  const login = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: m.email, password: m.password } });
  expect(login.status).toBe(200);
  mod = { ...m, token: login.body.token };
}, 60_000);

afterAll(async () => {
  await probe?.end();
  await t?.close();
});

describe('comment_count under moderation', () => {
  it('a hide of a comment and a suspension of its author, racing, take the comment off once', async () => {
    const [author, bad, other, reporter] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o'), registerUser(t, 'mcc_r')]);
    const p = await post(author, 'a post two moderators act on');
    await comment(other, p, 'fine');
    const nasty = await comment(bad, p, 'nasty');
    const hideCase = await caseAbout(reporter, 'comment', nasty);
    const suspendCase = await caseAbout(reporter, 'post', await post(bad, 'scam'));
    expect(await counts(p)).toEqual({ stored: 2, visible: 2 });

    // Both resolves take their snapshots, then queue for the post's row lock (held here), so
    // neither sees the other's change: the hide does not see the suspension, nor the
    // suspension the hide. Before: each took the comment off, and the count was 0.
    const [hidden, suspended] = await holdingPost(p, async () => {
      const done = Promise.all([resolve(hideCase, 'hide'), resolve(suspendCase, 'suspend')]);
      await untilWaiting('moderation.resolve', 2);
      return { done };
    });
    expect(hidden.status, JSON.stringify(hidden.body)).toBe(200);
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect([hidden.body.hidden, suspended.body.suspended]).toEqual([true, true]);
    expect(await counts(p)).toEqual({ stored: 1, visible: 1 });
  });

  it('a suspension recounts every post the account commented on, and corrects a count that was wrong', async () => {
    const [author, bad, other, reporter] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o'), registerUser(t, 'mcc_r')]);
    const posts = [await post(author, 'first'), await post(author, 'second'), await post(other, 'third')];
    const [p1, p2, p3] = posts as [string, string, string];
    await comment(bad, p1, 'bad on first');
    await comment(other, p1, 'other on first');
    await comment(bad, p2, 'bad on second, one');
    await comment(bad, p2, 'bad on second, two');
    const hiddenBefore = await comment(bad, p3, 'bad on third, hidden before');
    await comment(bad, p3, 'bad on third');
    await comment(author, p3, 'author on third');
    await comment(other, p3, 'other on third');
    // Hidden first: the suspension must not take it off a second time.
    expect((await resolve(await caseAbout(reporter, 'comment', hiddenBefore), 'hide')).body.hidden).toBe(true);
    // A count already wrong (as counts written before the rule were): the recount corrects it.
    await probe.query('UPDATE status_updates SET comment_count = 40 WHERE id = $1', [p1]);
    expect(await countsOf(posts)).toEqual([{ stored: 40, visible: 2 }, { stored: 2, visible: 2 }, { stored: 3, visible: 3 }]);

    const res = await resolve(await caseAbout(reporter, 'post', await post(bad, 'scam')), 'suspend');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.suspended).toBe(true);
    expect(await countsOf(posts)).toEqual([{ stored: 1, visible: 1 }, { stored: 0, visible: 0 }, { stored: 2, visible: 2 }]);
  });

  it('a suspension through the account\'s own post recounts that post too', async () => {
    const [bad, other, reporter] = await Promise.all([registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o'), registerUser(t, 'mcc_r')]);
    const own = await post(bad, 'scam, commented on by its author');
    await comment(bad, own, 'the author replying to themselves');
    await comment(other, own, 'someone else');
    // Before: the post was hidden (locked) first, and the id-ordered lock of the posts to
    // recount skipped it as a row the statement had already updated; its count kept the
    // suspended author's comment.
    const res = await resolve(await caseAbout(reporter, 'post', own), 'suspend');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect([res.body.hidden, res.body.suspended]).toEqual([true, true]);
    expect(await counts(own)).toEqual({ stored: 1, visible: 1 });
  });

  it('a suspension recounts more posts than one recount statement takes', async () => {
    const [author, bad, reporter] = await Promise.all([registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_r')]);
    // 450 posts (three chunks of 200), each with one comment of the account, written by SQL
    // with a wrong count of 7; each post's count must end at 0.
    const posts = Array.from({ length: 450 }, () => newTimedId());
    const comments = posts.map(() => newTimedId());
    await probe.query(
      `INSERT INTO status_updates (id, author_id, content, comment_count, created_at)
       SELECT id, $2, 'bulk', 7, created_at FROM unnest($1::uuid[], $3::timestamptz[]) AS x(id, created_at)`,
      [posts.map((p) => p.id), author.id, posts.map((p) => p.createdAt)]);
    await probe.query(
      `INSERT INTO post_comments (id, post_id, post_created_at, author_id, content, created_at)
       SELECT c.id, p.id, p.created_at, $5, 'bulk', c.created_at
       FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::timestamptz[]) AS x(id, created_at, pid, pts)
       JOIN LATERAL (SELECT x.pid AS id, x.pts AS created_at) p ON true
       CROSS JOIN LATERAL (SELECT x.id, x.created_at) c`,
      [comments.map((c) => c.id), comments.map((c) => c.createdAt), posts.map((p) => p.id), posts.map((p) => p.createdAt), bad.id]);
    const res = await resolve(await caseAbout(reporter, 'post', await post(bad, 'scam')), 'suspend');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { rows } = await probe.query<{ wrong: number }>(
      'SELECT count(*)::int AS wrong FROM status_updates WHERE id = ANY($1::uuid[]) AND comment_count <> 0', [posts.map((p) => p.id)]);
    expect(rows[0]?.wrong).toBe(0);
  });

  it('a comment committed while a hide waited for its post is counted; one written after the hide adds to the recount', async () => {
    const [author, bad, other, reporter] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o'), registerUser(t, 'mcc_r')]);
    const p = await post(author, 'commented during a hide');
    await comment(other, p, 'before');
    const firstCase = await caseAbout(reporter, 'comment', await comment(bad, p, 'nasty one'));
    const secondCase = await caseAbout(reporter, 'comment', await comment(bad, p, 'nasty two'));
    const { lo, hi } = await boundsOf(p);

    // A comment statement (the app's own) holds the post's lock, bumped and uncommitted; the
    // hide starts meanwhile, so its first statement's snapshot misses the comment. A recount
    // in that statement would set the count without it, and the bump would be lost.
    const hidden = await holdingPost(p, async (c) => {
      const { id, createdAt } = newTimedId();
      const written = await c.query<{ inserted: boolean }>(commentBatchQueries.addMany.text,
        [[p], [id], [other.id], ['during'], [createdAt], [lo], [hi], [null], [null], [null], lo, hi, 24]);
      expect(written.rows.map((r) => r.inserted)).toEqual([true]);
      const done = resolve(firstCase, 'hide');
      await untilWaiting('moderation.resolve', 1);
      return { done };
    });
    expect(hidden.body.hidden).toBe(true);
    expect(await counts(p)).toEqual({ stored: 3, visible: 3 });

    // The other way round: a hide holds the post (the lock taken here stands for it) and a
    // comment waits behind it; the comment bumps the count the hide's recount wrote.
    const [second, late] = await holdingPost(p, async () => {
      const pending = resolve(secondCase, 'hide');
      await untilWaiting('moderation.resolve', 1);
      const commenting = t.call('POST', `/api/feed/${p}/comments`, { token: other.token, body: { content: 'after' } });
      await untilWaiting('feed.add_comments', 1);
      return { done: Promise.all([pending, commenting]) };
    });
    expect([second.status, late.status]).toEqual([200, 201]);
    expect(await counts(p)).toEqual({ stored: 3, visible: 3 });
  });

  it('a comment by an account being suspended, past its session check, is refused and never counted', async () => {
    const [author, bad, reporter] = await Promise.all([registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_r')]);
    const owner = await registerUser(t, 'mcc_go');
    const g = await t.call<{ id: string }>('POST', '/api/groups', { token: owner.token, body: { name: 'mcc suspended commenter' } });
    expect(g.status, JSON.stringify(g.body)).toBe(201);
    const joined = await t.call('POST', `/api/groups/${g.body.id}/join`, { token: bad.token });
    expect(joined.body, JSON.stringify(joined.body)).toMatchObject({ status: 'member' });
    const p = await post(author, 'commented on while its commenter is suspended');
    const gp = await t.call<{ id: string }>('POST', `/api/groups/${g.body.id}/feed`, { token: owner.token, body: { content: 'a group post' } });
    expect(gp.status, JSON.stringify(gp.body)).toBe(201);
    await comment(bad, p, 'before');
    const groupComment = (content: string) =>
      t.call('POST', `/api/groups/${g.body.id}/feed/${gp.body.id}/comments`, { token: bad.token, body: { content } });
    expect((await groupComment('before, in the group')).status).toBe(201);
    const suspendCase = await caseAbout(reporter, 'post', await post(bad, 'scam'));

    // The suspension has written the account inactive (uncommitted) and waits for the post,
    // held here; the account's comments, whose session checks pass meanwhile, start then.
    // Before: they waited only for the post (or not at all) and committed after the
    // suspension's recount, so the post counted a suspended account's comment for good.
    const [suspended, onFeed, onGroup] = await holdingPost(p, async () => {
      const pending = resolve(suspendCase, 'suspend');
      await untilWaiting('moderation.resolve', 1);
      const feedComment = t.call('POST', `/api/feed/${p}/comments`, { token: bad.token, body: { content: 'during' } });
      const inGroup = groupComment('during, in the group');
      await untilWaiting('feed.add_comments', 1);
      // Before, the group comment did not wait at all (its post was not locked yet).
      await untilWaiting('group.add_comment', 1, inGroup);
      return { done: Promise.all([pending, feedComment, inGroup]) };
    });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect(suspended.body.suspended).toBe(true);
    expectError(onFeed, 401, 'UNAUTHENTICATED');
    expectError(onGroup, 401, 'UNAUTHENTICATED');
    expect(await countsOf([p, gp.body.id])).toEqual([{ stored: 0, visible: 0 }, { stored: 0, visible: 0 }]);
    const { rows } = await probe.query<{ n: number }>('SELECT count(*)::int AS n FROM post_comments WHERE author_id = $1', [bad.id]);
    expect(rows[0]?.n).toBe(2);
  });

  it('a comment holding the account when its suspension starts is waited for and recounted', async () => {
    const [author, bad, reporter] = await Promise.all([registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_r')]);
    const p = await post(author, 'a first comment by an account about to be suspended');
    const suspendCase = await caseAbout(reporter, 'post', await post(bad, 'scam'));
    const { lo, hi } = await boundsOf(p);
    // The comment (the app's own statement, in a transaction left open here) holds the
    // account's row and the post. The suspension starts meanwhile and must wait for it; before,
    // the resolve statement took its snapshot first, missed the comment, and never recounted
    // its post (the account had no other comment there).
    const c = await t.tdb.admin();
    let suspended: Awaited<ReturnType<typeof resolve>>;
    try {
      await c.query('BEGIN');
      const { id, createdAt } = newTimedId();
      const written = await c.query<{ inserted: boolean }>(commentBatchQueries.addMany.text,
        [[p], [id], [bad.id], ['just before'], [createdAt], [lo], [hi], [null], [null], [null], lo, hi, 24]);
      expect(written.rows.map((r) => r.inserted)).toEqual([true]);
      const pending = resolve(suspendCase, 'suspend');
      await untilWaiting('moderation.%', 1);
      await c.query('COMMIT');
      suspended = await pending;
    } finally {
      await c.end();
    }
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect(suspended.body.suspended).toBe(true);
    expect(await counts(p)).toEqual({ stored: 0, visible: 0 });
  });

  it('a comment group of two commenters and a suspension of the later one do not deadlock', async () => {
    const [author, x, y, reporter] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_x'), registerUser(t, 'mcc_y'), registerUser(t, 'mcc_r')]);
    // The group locks its commenters in id order: `first` before `later`, the one suspended.
    const [first, later] = [x, y].sort((a, b) => (a.id < b.id ? -1 : 1)) as [TestUser, TestUser];
    const held = await post(author, 'held, so the suspension stops before the shared post');
    const shared = await post(author, 'commented on by both, in one group');
    await comment(later, held, 'earlier, on the held post');
    await comment(later, shared, 'earlier, on the shared post');
    const suspendCase = await caseAbout(reporter, 'post', await post(later, 'scam'));
    const { lo, hi } = await boundsOf(shared);
    // The suspension locks the later commenter, then the posts in id order, and waits at the
    // held one. The group (one statement, both comments on the shared post) starts then.
    // Before, it locked only its first commenter before the posts: it took the shared post
    // and waited for the later commenter, while the suspension waited for the shared post.
    const g = await t.tdb.admin();
    try {
      const [suspended, group] = await holdingPost(held, async () => {
        const pending = resolve(suspendCase, 'suspend');
        await untilWaiting('moderation.resolve', 1);
        const ids = [newTimedId(), newTimedId()];
        const grouped = g.query<{ inserted: boolean; author_active: boolean }>(commentBatchQueries.addMany.text,
          [[shared, shared], ids.map((i) => i.id), [first.id, later.id], ['by the first', 'by the later'], ids.map((i) => i.createdAt),
           [lo, lo], [hi, hi], [null, null], [null, null], [null, null], lo, hi, 24]);
        await untilWaiting('feed.add_comments', 1, grouped);
        return { done: Promise.all([pending, grouped]) };
      });
      expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
      expect(group.rows.map((r) => [r.author_active, r.inserted])).toEqual([[true, true], [false, false]]);
    } finally {
      await g.end();
    }
    expect(await countsOf([held, shared])).toEqual([{ stored: 0, visible: 0 }, { stored: 1, visible: 1 }]);
  });
});

describe('comment_count after an operator changes is_active by SQL (migration 0037)', () => {
  it('a reinstatement puts the account\'s comments back into the counts', async () => {
    const [author, bad, other, reporter] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o'), registerUser(t, 'mcc_r')]);
    const [p1, p2] = [await post(author, 'two comments by a reinstated account'), await post(author, 'one')];
    await comment(bad, p1, 'one');
    await comment(bad, p1, 'two');
    await comment(other, p1, 'by someone else');
    await comment(bad, p2, 'three');
    const suspended = await resolve(await caseAbout(reporter, 'post', await post(bad, 'scam')), 'suspend');
    expect(suspended.body.suspended).toBe(true);
    expect(await countsOf([p1, p2])).toEqual([{ stored: 1, visible: 1 }, { stored: 0, visible: 0 }]);
    // There is no route for a reinstatement: an operator's UPDATE. Before, the counts stayed
    // at 1 and 0 for good.
    await probe.query('UPDATE users SET is_active = true WHERE id = $1', [bad.id]);
    expect(await countsOf([p1, p2])).toEqual([{ stored: 3, visible: 3 }, { stored: 1, visible: 1 }]);
    // Under REPEATABLE READ the recount would count with the snapshot from before its locks:
    // refused with the reason, and nothing changes.
    await probe.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const refused = await probe.query('UPDATE users SET is_active = false WHERE id = $1', [bad.id]).then(() => undefined, (err: Error) => err.message);
    await probe.query('ROLLBACK');
    expect(refused).toMatch(/needs READ COMMITTED, not repeatable read/);
    expect(await countsOf([p1, p2])).toEqual([{ stored: 3, visible: 3 }, { stored: 1, visible: 1 }]);
  });

  it('a suspension of several accounts in one UPDATE takes their comments off', async () => {
    const [author, x, y, other] = await Promise.all([
      registerUser(t, 'mcc_a'), registerUser(t, 'mcc_x'), registerUser(t, 'mcc_y'), registerUser(t, 'mcc_o')]);
    const [shared, onlyX, onlyY] = [await post(author, 'shared'), await post(author, 'x only'), await post(author, 'y only')];
    await comment(x, shared, 'x');
    await comment(y, shared, 'y');
    await comment(other, shared, 'kept');
    await comment(x, onlyX, 'x');
    await comment(y, onlyY, 'y');
    await comment(other, onlyY, 'kept');
    await probe.query('UPDATE users SET is_active = false WHERE id = ANY ($1::uuid[])', [[x.id, y.id]]);
    expect(await countsOf([shared, onlyX, onlyY])).toEqual([{ stored: 1, visible: 1 }, { stored: 0, visible: 0 }, { stored: 1, visible: 1 }]);
    // An UPDATE that leaves is_active as it was recounts nothing (a login's last_login_at).
    const before = (await probe.query<{ x: string }>('SELECT xmin::text AS x FROM status_updates WHERE id = $1', [shared])).rows[0]?.x;
    await probe.query('UPDATE users SET last_login_at = now() WHERE id = ANY ($1::uuid[])', [[x.id, other.id]]);
    expect((await probe.query<{ x: string }>('SELECT xmin::text AS x FROM status_updates WHERE id = $1', [shared])).rows[0]?.x).toBe(before);
  });

  it('a comment by someone else committed while the SQL suspension waited for its post is counted', async () => {
    const [author, bad, other] = await Promise.all([registerUser(t, 'mcc_a'), registerUser(t, 'mcc_bad'), registerUser(t, 'mcc_o')]);
    const p = await post(author, 'commented on while an operator suspends a commenter');
    await comment(bad, p, 'by the account suspended');
    const { lo, hi } = await boundsOf(p);
    // The other user's comment (the app's statement) holds the post, uncommitted; the
    // operator's UPDATE starts and its trigger waits for the post. A count taken in the
    // locking statement would miss that comment and overwrite its +1.
    const c = await t.tdb.admin();
    const op = await t.tdb.admin();
    try {
      await c.query('BEGIN');
      const { id, createdAt } = newTimedId();
      const written = await c.query<{ inserted: boolean }>(commentBatchQueries.addMany.text,
        [[p], [id], [other.id], ['while the operator waits'], [createdAt], [lo], [hi], [null], [null], [null], lo, hi, 24]);
      expect(written.rows.map((r) => r.inserted)).toEqual([true]);
      const suspending = op.query('UPDATE users SET is_active = false WHERE id = $1', [bad.id]);
      const started = Date.now();
      for (;;) {
        const { rows } = await probe.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [(op as unknown as { processID: number }).processID]);
        if ((rows[0]?.n ?? 0) > 0) break;
        if (Date.now() - started > 10_000) throw new Error('the operator\'s UPDATE did not wait for the post within 10 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(`the operator's UPDATE waited for the post after ${Date.now() - started} ms`);
      await c.query('COMMIT');
      await suspending;
    } finally {
      await c.end();
      await op.end();
    }
    expect(await counts(p)).toEqual({ stored: 1, visible: 1 });
  });
});

describe('migration 0036', () => {
  it('recounts the posts with a hidden comment or an inactive author\'s comment, and writes no other row', async () => {
    const [author, gone, other] = await Promise.all([registerUser(t, 'mcc_a'), registerUser(t, 'mcc_gone'), registerUser(t, 'mcc_o')]);
    const [withHidden, withInactive, right, untouched] = [
      await post(author, 'a hidden comment'), await post(author, 'an inactive author\'s comment'),
      await post(author, 'a candidate already right'), await post(author, 'no candidate')];
    const hide = await comment(other, withHidden, 'hidden by SQL');
    await comment(other, withHidden, 'kept');
    await comment(gone, withInactive, 'by an account deactivated by SQL');
    await comment(other, withInactive, 'kept');
    const rightHidden = await comment(other, right, 'hidden, and taken off');
    await comment(other, untouched, 'one');
    await comment(other, untouched, 'two');
    // As before moderation kept counts: hidden and deactivated without touching comment_count
    // (since 0037 a deactivation by SQL recounts, unless the transaction says it recounts itself).
    await probe.query('UPDATE post_comments SET hidden_at = now() WHERE id = ANY($1::uuid[])', [[hide, rightHidden]]);
    await probe.query('BEGIN');
    await probe.query(`SELECT set_config('bgc.skip_comment_recount', 'on', true)`);
    await probe.query('UPDATE users SET is_active = false WHERE id = $1', [gone.id]);
    await probe.query('COMMIT');
    await probe.query('UPDATE status_updates SET comment_count = 0 WHERE id = $1', [right]);
    // A wrong count on a post with no hidden or inactive comment is not the migration's to find.
    await probe.query('UPDATE status_updates SET comment_count = 5 WHERE id = $1', [untouched]);
    const xmin = async (id: string) => (await probe.query<{ x: string }>('SELECT xmin::text AS x FROM status_updates WHERE id = $1', [id])).rows[0]?.x;
    const before = { right: await xmin(right), untouched: await xmin(untouched) };
    expect(await countsOf([withHidden, withInactive])).toEqual([{ stored: 2, visible: 1 }, { stored: 2, visible: 1 }]);

    await probe.query(readFileSync(path.join(import.meta.dirname, '../../migrations/0036_comment_counts_recount_moderated.sql'), 'utf8'));
    expect(await countsOf([withHidden, withInactive, right])).toEqual([
      { stored: 1, visible: 1 }, { stored: 1, visible: 1 }, { stored: 0, visible: 0 }]);
    expect((await counts(untouched)).stored).toBe(5);
    expect({ right: await xmin(right), untouched: await xmin(untouched) }).toEqual(before);
    // Every post of this database now follows the rule, but the one set wrong on purpose.
    const { rows } = await probe.query<{ id: string }>(
      `SELECT s.id FROM status_updates s
       WHERE s.comment_count <> (SELECT count(*) FROM post_comments pc JOIN users u ON u.id = pc.author_id AND u.is_active
                                 WHERE pc.post_id = s.id AND pc.hidden_at IS NULL)`);
    expect(rows.map((r) => r.id)).toEqual([untouched]);
  });
});
