import crypto from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommentBatchRepository, type CommentToWrite } from '../../src/repositories/comment-batch.repository.ts';
import type { FeedService } from '../../src/services/feed/feed.service.ts';
import type { IdempotencyKey } from '../../src/services/idempotency.ts';
import { newTimedId } from '../../src/services/ids.ts';
import { codeOf, inGroups } from '../helpers/group-commit.ts';
import { expectError, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';
import { newestLsn } from '../helpers/write-position.ts';

/**
 * App-level group commit of comments on the public feed (issue 16; feed.add_comments,
 * src/repositories/comment-batch.repository.ts), on the real stack. Comments started in one
 * event-loop turn leave as ONE group (checked through the service's group counters); every
 * member keeps its own outcome: written once, BLOCKED, NOT_FOUND, replayed from its
 * Idempotency-Key record. comment_count is bumped once per post by the group's comments on
 * it, and concurrent groups lock posts in one order (no deadlock). Row counts are read from
 * PostgreSQL on a connection of the test's own.
 */
let t: TestApp;
let feed: FeedService;
let probe: pg.Client;
let author: TestUser;
let blocker: TestUser;
let commenters: TestUser[];

interface CreatedComment {
  readonly id: string;
  readonly post_id: string;
  readonly author: { readonly id: string; readonly username: string; readonly display_name: string | null };
  readonly content: string;
  readonly created_at: string;
  readonly comment_count: number | null;
}

/** Probe queries run one at a time on the probe connection (answers arrive concurrently). */
let probeQueue: Promise<unknown> = Promise.resolve();

async function one<R>(text: string, params: unknown[] = []): Promise<R> {
  const run = probeQueue.then(() => probe.query(text, params));
  probeQueue = run.catch(() => undefined);
  const row = (await run).rows[0] as R | undefined;
  if (row === undefined) throw new Error(`no row: ${text}`);
  return row;
}

async function newPost(by: TestUser, content: string): Promise<string> {
  const res = await t.call<{ id: string }>('POST', '/api/feed', { token: by.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

const commentCount = async (postId: string): Promise<number> =>
  (await one<{ n: number }>('SELECT comment_count AS n FROM status_updates WHERE id = $1', [postId])).n;

/** Comments whose text is `content`. */
const commentsWith = async (content: string): Promise<number> =>
  (await one<{ n: number }>('SELECT count(*)::int AS n FROM post_comments WHERE content = $1', [content])).n;

const rowsOn = async (postId: string): Promise<number> =>
  (await one<{ n: number }>('SELECT count(*)::int AS n FROM post_comments WHERE post_id = $1', [postId])).n;

function keyOf(user: TestUser, key: string, content: string): IdempotencyKey {
  return { scope: user.id, key, fingerprint: crypto.createHash('sha256').update(content).digest() };
}



/** A UUIDv7 of now that names no post. */
const missingPostId = (): string => newTimedId().id;

const inGroupsOf = <T>(groups: number, members: number, fn: () => Promise<T>): Promise<T> => inGroups(() => feed.commentGroups, groups, members, fn);

beforeAll(async () => {
  t = await startTestApp('comment_groups');
  feed = t.rt.deps.services.feed;
  probe = await t.tdb.admin();
  author = await registerUser(t, 'cg_author');
  blocker = await registerUser(t, 'cg_blocker');
  commenters = [];
  for (let i = 0; i < 12; i++) commenters.push(await registerUser(t, `cg_c${i}`));
  // The author blocks `blocker`: its comments on the author's posts are refused.
  const block = await t.call('POST', `/api/social/block/${blocker.id}`, { token: author.token });
  expect(block.status, JSON.stringify(block.body)).toBeLessThan(300);
}, 60_000);
afterAll(async () => {
  await probe?.end();
  await t?.close();
});

describe('group commit of comments (real PostgreSQL)', () => {
  it('many users commenting on one post at once: one group, each comment once, comment_count bumped by all of them, counts as if one by one', async () => {
    const postId = await newPost(author, `hot post ${crypto.randomUUID()}`);
    const stamp = crypto.randomUUID();
    const started = Date.now();
    const results = await inGroupsOf(1, commenters.length, () => Promise.all(commenters.map((u, i) => feed.addComment(postId, u.id, `hot ${i} ${stamp}`))));
    console.log(`${commenters.length} comments on one post in one group answered in ${Date.now() - started} ms`);
    expect(results.map((w) => w.replayed)).toEqual(commenters.map(() => false));
    expect(new Set(results.map((w) => w.value.id)).size).toBe(commenters.length);
    // Each answer carries the post's count as if the group's comments had run in order.
    expect(results.map((w) => w.value.comment_count)).toEqual(commenters.map((_, i) => i + 1));
    results.forEach((w, i) => expect(w.value).toMatchObject({ post_id: postId, content: `hot ${i} ${stamp}`, author: { id: commenters[i]?.id, username: commenters[i]?.username } }));
    expect(results.every((w) => w.lsn !== undefined)).toBe(true);
    for (let i = 0; i < commenters.length; i++) expect(await commentsWith(`hot ${i} ${stamp}`)).toBe(1);
    expect(await commentCount(postId)).toBe(commenters.length);
    expect(await rowsOn(postId)).toBe(commenters.length);

    // Over HTTP, all at once: every request 201 with the shape of a single comment; the count adds up.
    const http = await Promise.all(commenters.map((u, i) =>
      t.call<CreatedComment>('POST', `/api/feed/${postId}/comments`, { token: u.token, body: { content: `http ${i} ${stamp}` } })));
    expect(http.map((r) => r.status)).toEqual(commenters.map(() => 201));
    for (const [i, r] of http.entries()) {
      expect(Object.keys(r.body).sort()).toEqual(['author', 'comment_count', 'content', 'created_at', 'id', 'post_id']);
      expect(r.body).toMatchObject({ post_id: postId, content: `http ${i} ${stamp}`, author: { id: commenters[i]?.id } });
      expect(r.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(new Set(http.map((r) => r.body.comment_count)).size).toBe(commenters.length);
    expect(await commentCount(postId)).toBe(2 * commenters.length);
    // The requests raced (several groups may have committed): the newest position, not the last in the array.
    const page = await t.call<{ items: Array<{ id: string }> }>('GET', `/api/feed/${postId}/comments?limit=100`, { token: author.token, lsn: newestLsn(http) });
    expect(page.status).toBe(200);
    expect(new Set(page.body.items.map((c) => c.id))).toEqual(new Set([...results.map((w) => w.value.id), ...http.map((r) => r.body.id)]));
  });

  it('in one group: a blocked commenter gets BLOCKED, a missing post NOT_FOUND, a text the table refuses fails alone; the others are written and counted per post', async () => {
    const p1 = await newPost(author, `post one ${crypto.randomUUID()}`);
    const p2 = await newPost(commenters[0] as TestUser, `post two ${crypto.randomUUID()}`);
    const stamp = crypto.randomUUID();
    const [c1, c2, c3] = commenters as [TestUser, TestUser, TestUser];
    const cases: ReadonlyArray<{ post: string; by: TestUser; content: string; expect: string }> = [
      { post: p1, by: c1, content: `ok 1 ${stamp}`, expect: 'ok' },
      { post: p1, by: blocker, content: `blocked ${stamp}`, expect: 'BLOCKED' },
      { post: p2, by: c2, content: `ok 2 ${stamp}`, expect: 'ok' },
      { post: missingPostId(), by: c3, content: `missing ${stamp}`, expect: 'NOT_FOUND' },
      // Over post_comments' CHECK length: the statement fails in PostgreSQL (routes cap the length,
      // and the service refuses U+0000 before grouping, so only a service caller can send it).
      { post: p1, by: c2, content: `${'x'.repeat(2_000)} ${stamp}`, expect: '23514' },
      { post: p2, by: blocker, content: `not blocked here ${stamp}`, expect: 'ok' },
      { post: p1, by: c3, content: `ok 3 ${stamp}`, expect: 'ok' },
    ];
    const results = await inGroupsOf(1, cases.length, () => Promise.allSettled(cases.map((x) => feed.addComment(x.post, x.by.id, x.content))));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(cases.map((x) => x.expect));
    for (const x of cases) expect(await commentsWith(x.content)).toBe(x.expect === 'ok' ? 1 : 0);
    expect([await commentCount(p1), await commentCount(p2)]).toEqual([2, 2]);
    expect([await rowsOn(p1), await rowsOn(p2)]).toEqual([2, 2]);

    // The same refusals over HTTP: status and error code as a single comment answered them.
    expectError(await t.call('POST', `/api/feed/${p1}/comments`, { token: blocker.token, body: { content: 'nope' } }), 403, 'BLOCKED');
    expectError(await t.call('POST', `/api/feed/${missingPostId()}/comments`, { token: c1.token, body: { content: 'nope' } }), 404, 'NOT_FOUND');
    expectError(await t.call('POST', `/api/feed/${crypto.randomUUID()}/comments`, { token: c1.token, body: { content: 'nope' } }), 404, 'NOT_FOUND');
    expect(await commentCount(p1)).toBe(2);
  });

  it('concurrent duplicates with one Idempotency-Key create one comment, bump the count once and all answer its body; another body with the key is 422', async () => {
    const postId = await newPost(author, `keyed post ${crypto.randomUUID()}`);
    const stamp = crypto.randomUUID();
    const [c1, c2, c3] = commenters as [TestUser, TestUser, TestUser];
    const k = keyOf(c1, `dup-${stamp}`, `dup ${stamp}`);
    const DUPS = 5;
    // One group for the first duplicate and the two others, then one per further duplicate.
    const results = await inGroupsOf(DUPS, DUPS + 2, () => Promise.all([
      ...Array.from({ length: DUPS }, () => feed.addComment(postId, c1.id, `dup ${stamp}`, k)),
      feed.addComment(postId, c2.id, `beside 1 ${stamp}`),
      feed.addComment(postId, c3.id, `beside 2 ${stamp}`),
    ]));
    const dups = results.slice(0, DUPS);
    for (const w of dups) expect(w.value).toEqual(dups[0]?.value);
    expect(dups.map((w) => w.replayed)).toEqual([false, ...Array.from({ length: DUPS - 1 }, () => true)]);
    expect(await commentsWith(`dup ${stamp}`)).toBe(1);
    expect(await commentCount(postId)).toBe(3);

    // Over HTTP: racing requests with one key, one comment, identical bodies, the rest replayed.
    const hk = `http-dup-${stamp}`;
    const race = await Promise.all(Array.from({ length: 6 }, () => t.call<CreatedComment>('POST', `/api/feed/${postId}/comments`,
      { token: c2.token, body: { content: `http dup ${stamp}` }, headers: { 'idempotency-key': hk } })));
    expect(race.map((r) => r.status)).toEqual(race.map(() => 201));
    expect(new Set(race.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(race.filter((r) => r.headers['idempotent-replayed'] === 'true').length).toBe(race.length - 1);
    expect(await commentsWith(`http dup ${stamp}`)).toBe(1);
    expect(await commentCount(postId)).toBe(4);
    // A later retry replays the same body; another body with the key is 422 and writes nothing.
    const retry = await t.call<CreatedComment>('POST', `/api/feed/${postId}/comments`, { token: c2.token, body: { content: `http dup ${stamp}` }, headers: { 'idempotency-key': hk } });
    expect({ status: retry.status, body: retry.body, replayed: retry.headers['idempotent-replayed'] }).toEqual({ status: 201, body: race[0]?.body, replayed: 'true' });
    expectError(await t.call('POST', `/api/feed/${postId}/comments`, { token: c2.token, body: { content: `other ${stamp}` }, headers: { 'idempotency-key': hk } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await commentsWith(`other ${stamp}`)).toBe(0);
    expect(await commentCount(postId)).toBe(4);
  });

  it('replays a recorded key inside a group without touching the other members', async () => {
    const postId = await newPost(author, `replay post ${crypto.randomUUID()}`);
    const stamp = crypto.randomUUID();
    const [c1, c2] = commenters as [TestUser, TestUser];
    const k = keyOf(c1, `replay-${stamp}`, `first ${stamp}`);
    const first = await feed.addComment(postId, c1.id, `first ${stamp}`, k);
    const group = await inGroupsOf(1, 3, () => Promise.all([
      feed.addComment(postId, c2.id, `other 1 ${stamp}`),
      feed.addComment(postId, c1.id, `first ${stamp}`, k),
      feed.addComment(postId, c2.id, `other 2 ${stamp}`),
    ]));
    expect(group[1]).toMatchObject({ value: first.value, replayed: true });
    expect([group[0]?.replayed, group[2]?.replayed]).toEqual([false, false]);
    expect(await commentsWith(`first ${stamp}`)).toBe(1);
    expect(await commentCount(postId)).toBe(3);
  });

  it('concurrent groups over the same posts in opposite orders never deadlock (post rows are locked in id order)', async () => {
    const posts = [await newPost(author, `lock a ${crypto.randomUUID()}`), await newPost(author, `lock b ${crypto.randomUUID()}`), await newPost(author, `lock c ${crypto.randomUUID()}`)];
    const repo = new CommentBatchRepository(t.rt.deps.db);
    const created = await probe.query<{ id: string; lo: string; hi: string }>(
      `SELECT id, to_char((created_at - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lo,
              to_char((created_at + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS hi
       FROM status_updates WHERE id = ANY($1::uuid[])`, [posts]);
    const boundsOf = new Map(created.rows.map((r) => [r.id, { lowerTs: r.lo, upperTs: r.hi }]));
    const comment = (postId: string, by: TestUser, i: number): CommentToWrite => {
      const { id, createdAt } = newTimedId();
      const b = boundsOf.get(postId);
      if (!b) throw new Error('post not found');
      return { postId, postBounds: b, id, authorId: by.id, content: `lock ${i}`, createdAt };
    };
    const ROUNDS = 15;
    const forward = [...posts];
    const backward = [...posts].reverse();
    for (let round = 0; round < ROUNDS; round++) {
      const users = commenters.slice(0, 6);
      const [x, y] = await Promise.all([
        repo.addMany(users.map((u, i) => comment(forward[i % forward.length] ?? '', u, i)), 24),
        repo.addMany(users.map((u, i) => comment(backward[i % backward.length] ?? '', u, i)), 24),
      ]);
      expect([...x, ...y].every((r) => r.inserted)).toBe(true);
    }
    // Each round wrote 6 + 6 comments spread evenly over the three posts.
    for (const p of posts) {
      expect(await commentCount(p)).toBe(ROUNDS * 4);
      expect(await rowsOn(p)).toBe(ROUNDS * 4);
    }
  });
});
