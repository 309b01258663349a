import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserRepository } from '../../src/repositories/users.repository.ts';
import { expectError, registerUser, startTestApp, type AuthBody, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';
import { replicasCaughtUp } from '../helpers/write-position.ts';

/**
 * Reports and moderation (issue 20) on the real stack: who may report what, the case
 * counts under concurrent reports, the moderators' queue order, and each resolution:
 * hidden content disappears from feeds, comments, histories, inbox, search and profiles
 * (cached views included); a suspended account's sessions end at once and it cannot
 * log in; every action is recorded with who and when.
 */
let t: TestApp;
let mod: TestUser;

interface ReportBody { target_type: string; target_id: string; reason: string; created: boolean }
interface CaseBody { id: string; target: { type: string; id: string; preview: string | null }; user: { id: string }; report_count: number; status: string }
interface CaseDetailBody extends CaseBody {
  reports: Array<{ reporter_id: string; reason: string }>;
  actions: Array<{ action: string; moderator_id: string; note: string | null; created_at: string }>;
}
interface ResolutionBody { status: string; hidden: boolean; suspended: boolean; sessions_revoked: number; moderator_id: string; acted_at: string }
interface PostBody { id: string; content: string }

const report = (u: TestUser, body: Record<string, unknown>) => t.call<ReportBody>('POST', '/api/moderation/reports', { token: u.token, body });
const post = async (u: TestUser, content: string) => (await t.call<PostBody>('POST', '/api/feed', { token: u.token, body: { content } })).body;
const resolve = (caseId: string, action: string, by = mod, note?: string) =>
  t.call<ResolutionBody>('POST', `/api/moderation/cases/${caseId}/resolve`, { token: by.token, body: { action, ...(note ? { note } : {}) } });

/** The open case of a target, from the queue (the moderator reads their own writes). */
async function caseOf(targetId: string): Promise<CaseBody | undefined> {
  let cursor: string | null = null;
  for (let i = 0; i < 20; i++) {
    const res: Awaited<ReturnType<typeof t.call<PageBody<CaseBody>>>> = await t.call<PageBody<CaseBody>>('GET',
      `/api/moderation/queue?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: mod.token, headers: await lsnHeader() });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const found = res.body.items.find((c) => c.target.id === targetId);
    if (found) return found;
    cursor = res.body.next_cursor;
    if (!cursor) return undefined;
  }
  return undefined;
}

/** The primary's current WAL position: reads that send it see every write so far. */
async function lsnHeader(): Promise<Record<string, string>> {
  const admin = await t.tdb.admin();
  try {
    const r = await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return { 'x-bgc-lsn': r.rows[0]?.lsn ?? '0/0' };
  } finally {
    await admin.end();
  }
}

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const admin = await t.tdb.admin();
  try {
    return (await admin.query<T>(text, params)).rows;
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  t = await startTestApp('moderation', { BGC_CACHE_WARM_COUNT: '0' });
  const m = await registerUser(t, 'mod');
  await sql('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
  // A fresh session, so no cached session of the moderator predates the flag.
  const login = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: m.email, password: m.password } });
  expect(login.status).toBe(200);
  mod = { ...m, token: login.body.token };
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('reporting', () => {
  it('reports what you can see, once, never yourself; bad input is a 4xx with a code', async () => {
    const [author, reporter, stranger] = await Promise.all([registerUser(t, 'rp_auth'), registerUser(t, 'rp_rep'), registerUser(t, 'rp_str')]);
    const p = await post(author, 'buy cheap watches');
    const first = await report(reporter, { target_type: 'post', target_id: p.id, reason: 'spam', details: 'obvious' });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toEqual({ target_type: 'post', target_id: p.id, reason: 'spam', created: true });
    const again = await report(reporter, { target_type: 'post', target_id: p.id, reason: 'scam' });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);

    expectError(await report(author, { target_type: 'post', target_id: p.id, reason: 'spam' }), 400, 'VALIDATION_FAILED');
    expectError(await report(reporter, { target_type: 'profile', target_id: reporter.id, reason: 'spam' }), 400, 'VALIDATION_FAILED');
    expectError(await report(reporter, { target_type: 'tweet', target_id: p.id, reason: 'spam' }), 400, 'VALIDATION_FAILED');
    expectError(await report(reporter, { target_type: 'post', target_id: p.id, reason: 'boring' }), 400, 'VALIDATION_FAILED');
    expectError(await report(reporter, { target_type: 'post', target_id: p.id, reason: 'spam', details: 'x'.repeat(1001) }), 400, 'VALIDATION_FAILED');
    expectError(await report(reporter, { target_type: 'post', target_id: '01939262-4be4-767d-a1f7-4556b1b77d0f', reason: 'spam' }), 404, 'NOT_FOUND');
    expectError(await report(reporter, { target_type: 'comment', target_id: p.id, reason: 'spam' }), 404, 'NOT_FOUND');
    expectError(await t.call('POST', '/api/moderation/reports', { body: { target_type: 'post', target_id: p.id, reason: 'spam' } }), 401, 'UNAUTHENTICATED');

    // A direct message is reportable by the two people in the conversation only.
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: author.token, body: { recipient_id: reporter.id } });
    const msg = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: author.token, body: { content: 'rude words' } });
    expect(msg.status).toBe(201);
    expectError(await report(stranger, { target_type: 'message', target_id: msg.body.id, reason: 'harassment' }), 404, 'NOT_FOUND');
    expect((await report(reporter, { target_type: 'message', target_id: msg.body.id, reason: 'harassment' })).status).toBe(201);

    // A group post by the group's members only.
    const g = await t.call<{ id: string }>('POST', '/api/groups', { token: author.token, body: { name: 'closed', visibility: 'private' } });
    const gp = await t.call<{ id: string }>('POST', `/api/groups/${g.body.id}/feed`, { token: author.token, body: { content: 'members only' } });
    expect(gp.status).toBe(201);
    expectError(await report(reporter, { target_type: 'post', target_id: gp.body.id, reason: 'spam' }), 404, 'NOT_FOUND');
  });

  it('counts concurrent reports of one target exactly, one case per target', async () => {
    const author = await registerUser(t, 'rp_auth');
    const p = await post(author, 'contested');
    const reporters = await Promise.all(Array.from({ length: 16 }, (_, i) => registerUser(t, `rp_c${i}`)));
    const started = performance.now();
    const res = await Promise.all(reporters.flatMap((r) => [
      report(r, { target_type: 'post', target_id: p.id, reason: 'spam' }),
      report(r, { target_type: 'post', target_id: p.id, reason: 'hate' }),
    ]));
    console.log(`[moderation] ${res.length} concurrent reports in ${(performance.now() - started).toFixed(0)} ms`);
    expect(res.map((r) => r.status).sort()).toEqual([...Array(16).fill(200), ...Array(16).fill(201)]);
    const rows = await sql<{ report_count: number; reports: number }>(
      `SELECT mc.report_count, (SELECT count(*)::int FROM content_reports r WHERE r.target_kind = 'post' AND r.target_id = mc.target_id) AS reports
       FROM moderation_cases mc WHERE mc.target_kind = 'post' AND mc.target_id = $1`, [p.id]);
    expect(rows).toEqual([{ report_count: 16, reports: 16 }]);
  });
});

describe('the moderation queue', () => {
  it('is for moderators, most reported first, then oldest, in keyset pages', async () => {
    const [author, r1, r2, r3] = await Promise.all([registerUser(t, 'mq_a'), registerUser(t, 'mq_1'), registerUser(t, 'mq_2'), registerUser(t, 'mq_3')]);
    const older = await post(author, 'older, one report');
    const newer = await post(author, 'newer, one report');
    const hot = await post(author, 'three reports');
    expect((await report(r1, { target_type: 'post', target_id: older.id, reason: 'spam' })).status).toBe(201);
    expect((await report(r1, { target_type: 'post', target_id: newer.id, reason: 'spam' })).status).toBe(201);
    for (const r of [r1, r2, r3]) expect((await report(r, { target_type: 'post', target_id: hot.id, reason: 'hate' })).status).toBe(201);

    expectError(await t.call('GET', '/api/moderation/queue', { token: r1.token }), 403, 'FORBIDDEN');
    const ids: string[] = [];
    const counts: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const headers = await lsnHeader();
    do {
      const res: Awaited<ReturnType<typeof t.call<PageBody<CaseBody>>>> = await t.call<PageBody<CaseBody>>('GET',
        `/api/moderation/queue?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: mod.token, headers });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      ids.push(...res.body.items.map((c) => c.target.id));
      counts.push(...res.body.items.map((c) => c.report_count));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    const mine = ids.filter((id) => [older.id, newer.id, hot.id].includes(id));
    expect(mine).toEqual([hot.id, older.id, newer.id]);
    const hotCase = await caseOf(hot.id);
    expect(hotCase).toMatchObject({ report_count: 3, status: 'open', target: { type: 'post', preview: 'three reports' }, user: { id: author.id } });
  });
});

describe('resolving cases', () => {
  it('hide: a post disappears from every feed and its comments with it; the action is recorded', async () => {
    const [author, reader, reporter] = await Promise.all([registerUser(t, 'mh_a'), registerUser(t, 'mh_r'), registerUser(t, 'mh_p')]);
    const p = await post(author, 'hide me please');
    const comment = await t.call<{ id: string }>('POST', `/api/feed/${p.id}/comments`, { token: reader.token, body: { content: 'first!' } });
    expect(comment.status).toBe(201);
    expect((await t.call('POST', `/api/social/favorite/${author.id}`, { token: reader.token })).status).toBe(200);
    await report(reporter, { target_type: 'post', target_id: p.id, reason: 'spam' });
    const c = await caseOf(p.id);
    expect(c).toBeDefined();

    expectError(await resolve(c?.id ?? '', 'hide', reader), 403, 'FORBIDDEN');
    const res = await resolve(c?.id ?? '', 'hide', mod, 'spam wave');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'hidden', hidden: true, suspended: false, sessions_revoked: 0, moderator_id: mod.id });

    const headers = await lsnHeader();
    for (const viewer of [reader, author]) {
      const global = await t.call<PageBody<PostBody>>('GET', '/api/feed?type=global&limit=100', { token: viewer.token, headers });
      expect(global.body.items.map((x) => x.id)).not.toContain(p.id);
      const following = await t.call<PageBody<PostBody>>('GET', '/api/feed?type=following&limit=100', { token: viewer.token, headers });
      expect(following.body.items.map((x) => x.id)).not.toContain(p.id);
      expectError(await t.call('GET', `/api/feed/${p.id}/comments`, { token: viewer.token, headers }), 404, 'NOT_FOUND');
    }
    expectError(await t.call('POST', `/api/feed/${p.id}/comments`, { token: reader.token, body: { content: 'still here?' } }), 404, 'NOT_FOUND');
    expect(await caseOf(p.id)).toBeUndefined();

    const detail = await t.call<CaseDetailBody>('GET', `/api/moderation/cases/${c?.id}`, { token: mod.token, headers });
    expect(detail.body.status).toBe('hidden');
    expect(detail.body.reports.map((r) => [r.reporter_id, r.reason])).toEqual([[reporter.id, 'spam']]);
    expect(detail.body.actions.map((a) => [a.action, a.moderator_id, a.note])).toEqual([['hide', mod.id, 'spam wave']]);
    expect(Date.parse(detail.body.actions[0]?.created_at ?? '')).toBe(Date.parse(res.body.acted_at));
    expectError(await t.call('GET', `/api/moderation/cases/${c?.id}`, { token: reader.token }), 403, 'FORBIDDEN');
    expectError(await t.call('GET', '/api/moderation/cases/01939262-4be4-767d-a1f7-4556b1b77d0f', { token: mod.token }), 404, 'NOT_FOUND');
  });

  it('hide: a message leaves both histories and the inbox; a comment leaves its post', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'mm_a'), registerUser(t, 'mm_b')]);
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: a.token, body: { content: 'hello' } });
    const bad = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: a.token, body: { content: 'something nasty' } });
    type InboxItem = { id: string; last_message: { id: string; sender_id: string; content: string; created_at: string } | null };
    const lastMessage = async (u: { token: string }, headers: Record<string, string>) =>
      (await t.call<PageBody<InboxItem>>('GET', '/api/chat/conversations', { token: u.token, headers })).body.items.find((i) => i.id === conv.body.id)?.last_message;
    // Read (and maybe cache) the inbox first pages before the hide: the later reads carry the LSN.
    const before = await lsnHeader();
    for (const u of [a, b]) expect(await lastMessage(u, before)).toEqual({ id: bad.body.id, sender_id: a.id, content: 'something nasty', created_at: expect.any(String) });
    await report(b, { target_type: 'message', target_id: bad.body.id, reason: 'harassment' });
    const mc = await caseOf(bad.body.id);
    expect(mc?.target.preview).toBe('something nasty');
    expect((await resolve(mc?.id ?? '', 'hide')).body.hidden).toBe(true);
    const headers = await lsnHeader();
    for (const u of [a, b]) {
      const h = await t.call<PageBody<{ content: string }>>('GET', `/api/chat/conversations/${conv.body.id}/history`, { token: u.token, headers });
      expect(h.body.items.map((m) => m.content)).toEqual(['hello']);
      expect(await lastMessage(u, headers)).toBeNull();
    }
    // The inbox reads no messages (migration 0018): the hide cleared the conversation's copy.
    expect(await sql('SELECT last_message_id, last_message_sender_id, last_message_content FROM conversations WHERE id = $1', [conv.body.id]))
      .toEqual([{ last_message_id: bad.body.id, last_message_sender_id: null, last_message_content: null }]);
    // The next message is the last one again.
    const next = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: b.token, body: { content: 'please stop' } });
    const after = await lsnHeader();
    for (const u of [a, b]) expect(await lastMessage(u, after)).toMatchObject({ id: next.body.id, sender_id: b.id, content: 'please stop' });

    const p = await post(a, 'a fine post');
    const keep = await t.call<{ id: string }>('POST', `/api/feed/${p.id}/comments`, { token: b.token, body: { content: 'kind words' } });
    const nasty = await t.call<{ id: string }>('POST', `/api/feed/${p.id}/comments`, { token: b.token, body: { content: 'nasty words' } });
    expect([keep.status, nasty.status]).toEqual([201, 201]);
    await report(a, { target_type: 'comment', target_id: nasty.body.id, reason: 'harassment' });
    const cc = await caseOf(nasty.body.id);
    expect((await resolve(cc?.id ?? '', 'hide')).body.hidden).toBe(true);
    const comments = await t.call<PageBody<{ content: string }>>('GET', `/api/feed/${p.id}/comments`, { token: a.token, headers: await lsnHeader() });
    expect(comments.body.items.map((x) => x.content)).toEqual(['kind words']);
    // The post's count follows: one visible comment.
    expect(await sql('SELECT comment_count FROM status_updates WHERE id = $1', [p.id])).toEqual([{ comment_count: 1 }]);
  });

  it('hide: a profile is gone for others (its cached view too) and from search; its owner still sees it', async () => {
    const word = `zmod${process.pid}${Date.now() % 100000}`;
    const [owner, viewer] = await Promise.all([registerUser(t, 'mp_o'), registerUser(t, 'mp_v')]);
    const put = await t.call('PUT', '/api/profiles/me', { token: owner.token, body: { display_name: word, bio: 'hello there' } });
    expect(put.status).toBe(200);
    // Cache the view, and check search finds it.
    expect((await t.call('GET', `/api/profiles/${owner.id}`, { token: viewer.token, headers: await lsnHeader() })).status).toBe(200);
    // The read that caches the view cannot carry a position (that read goes around the
    // cache), and the viewer may have registered before the owner: wait for the replicas.
    await replicasCaughtUp(t.tdb, 'the view the viewer caches includes the owner');
    expect((await t.call('GET', `/api/profiles/${owner.id}`, { token: viewer.token })).status).toBe(200);
    const found = await t.call<PageBody<{ id: string }>>('GET', `/api/search?q=${word}`, { token: viewer.token, headers: await lsnHeader() });
    expect(found.body.items.map((x) => x.id)).toEqual([owner.id]);

    await report(viewer, { target_type: 'profile', target_id: owner.id, reason: 'scam' });
    const pc = await caseOf(owner.id);
    expect((await resolve(pc?.id ?? '', 'hide')).body.hidden).toBe(true);
    // The viewer wrote nothing and sends no LSN: the cached view must already be gone.
    expectError(await t.call('GET', `/api/profiles/${owner.id}`, { token: viewer.token }), 404, 'NOT_FOUND');
    expect((await t.call('GET', `/api/profiles/${owner.id}`, { token: owner.token })).status).toBe(200);
    const gone = await t.call<PageBody<{ id: string }>>('GET', `/api/search?q=${word}`, { token: viewer.token, headers: await lsnHeader() });
    expect(gone.body.items).toEqual([]);
  });

  it('hide: a profile\'s display name no longer shows beside its content (posts, comments, inbox, members); the username does', async () => {
    const name = `Hidden Name ${process.pid}`;
    const [owner, viewer] = await Promise.all([registerUser(t, 'mn_o'), registerUser(t, 'mn_v')]);
    expect((await t.call('PUT', '/api/profiles/me', { token: owner.token, body: { display_name: name } })).status).toBe(200);
    const p = await post(owner, 'a post by a profile about to be hidden');
    expect((await t.call('POST', `/api/feed/${p.id}/comments`, { token: owner.token, body: { content: 'my own comment' } })).status).toBe(201);
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: owner.token, body: { recipient_id: viewer.id } });
    expect((await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: owner.token, body: { content: 'hi' } })).status).toBe(201);
    const group = await t.call<{ id: string }>('POST', '/api/groups', { token: owner.token, body: { name: `hidden owner ${process.pid}` } });
    expect(group.status, JSON.stringify(group.body)).toBe(201);

    type Who = { id: string; username: string; display_name: string | null };
    const shown = async (headers: Record<string, string>): Promise<Array<Who | undefined>> => {
      const get = async <T>(url: string) => (await t.call<PageBody<T>>('GET', url, { token: viewer.token, headers })).body.items;
      return [
        (await get<{ id: string; author: Who }>('/api/feed?type=global&limit=100')).find((x) => x.id === p.id)?.author,
        (await get<{ author: Who }>(`/api/feed/${p.id}/comments`))[0]?.author,
        (await get<{ id: string; other_user: Who }>('/api/chat/conversations')).find((c) => c.id === conv.body.id)?.other_user,
        (await get<{ user: Who }>(`/api/groups/${group.body.id}/members`))[0]?.user,
      ];
    };
    expect(await shown(await lsnHeader())).toEqual(Array(4).fill({ id: owner.id, username: owner.username, display_name: name }));

    await report(viewer, { target_type: 'profile', target_id: owner.id, reason: 'scam' });
    const pc = await caseOf(owner.id);
    expect((await resolve(pc?.id ?? '', 'hide')).body.hidden).toBe(true);
    // Before: the name the hide took off the profile page and search still showed in all four.
    expect(await shown(await lsnHeader())).toEqual(Array(4).fill({ id: owner.id, username: owner.username, display_name: null }));
  });

  it('counts agree with the lists: a post\'s comment_count and a group\'s member_count leave out what the lists leave out', async () => {
    const [author, bad, other, blocked, viewer] = await Promise.all([
      registerUser(t, 'mc_a'), registerUser(t, 'mc_bad'), registerUser(t, 'mc_o'), registerUser(t, 'mc_blk'), registerUser(t, 'mc_v')]);
    const p = await post(author, 'count my comments');
    const comment = async (u: TestUser, content: string) => {
      const res = await t.call<{ id: string }>('POST', `/api/feed/${p.id}/comments`, { token: u.token, body: { content } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    };
    await comment(other, 'fine');
    await comment(bad, 'bad one');
    const reportedLater = await comment(bad, 'bad two');
    const group = await t.call<{ id: string }>('POST', '/api/groups', { token: author.token, body: { name: `counted ${process.pid}` } });
    for (const u of [bad, other, blocked]) expect((await t.call('POST', `/api/groups/${group.body.id}/join`, { token: u.token })).status).toBe(200);
    expect((await t.call('POST', `/api/social/block/${blocked.id}`, { token: viewer.token })).status).toBe(200);
    // A report of the second comment, resolved after the suspension below.
    await report(other, { target_type: 'comment', target_id: reportedLater, reason: 'spam' });
    const commentCase = await caseOf(reportedLater);
    // Suspend the commenter through a case about one of their posts.
    const badPost = await post(bad, 'scam');
    await report(author, { target_type: 'post', target_id: badPost.id, reason: 'scam' });
    const suspendCase = await caseOf(badPost.id);
    expect((await resolve(suspendCase?.id ?? '', 'suspend')).body.suspended).toBe(true);

    const seen = async () => {
      const headers = await lsnHeader();
      const get = async <T>(url: string) => (await t.call<PageBody<T>>('GET', url, { token: viewer.token, headers })).body.items;
      const feed = await get<{ id: string; comment_count: number }>('/api/feed?type=global&limit=100');
      const groupBody = (await t.call<{ member_count: number }>('GET', `/api/groups/${group.body.id}`, { token: viewer.token, headers })).body;
      return {
        comment_count: feed.find((x) => x.id === p.id)?.comment_count,
        comments: (await get<{ content: string }>(`/api/feed/${p.id}/comments`)).length,
        member_count: groupBody.member_count,
        members: (await get<{ user: { id: string } }>(`/api/groups/${group.body.id}/members`)).length,
      };
    };
    // Before: 3 comments counted beside the 1 listed, 4 members beside the 2 listed (the
    // suspended member and the one the viewer blocked).
    expect(await seen()).toEqual({ comment_count: 1, comments: 1, member_count: 2, members: 2 });
    // Hiding a suspended account's comment takes nothing more off the count.
    expect((await resolve(commentCase?.id ?? '', 'hide')).body.hidden).toBe(true);
    expect(await seen()).toEqual({ comment_count: 1, comments: 1, member_count: 2, members: 2 });
  });

  it('counts agree with the lists: the inbox\'s unread_count leaves out hidden messages and a suspended sender\'s', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'mu_a'), registerUser(t, 'mu_b')]);
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    const send = async (content: string) => {
      const res = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: a.token, body: { content } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    };
    await send('one');
    const nasty = await send('two, nasty');
    const later = await send('three, nasty too');
    // What b sees: the inbox's unread count and a's messages in the history (b has read none).
    const seen = async () => {
      const headers = await lsnHeader();
      const inbox = await t.call<PageBody<{ id: string; unread_count: number }>>('GET', '/api/chat/conversations', { token: b.token, headers });
      const history = await t.call<PageBody<{ sender_id: string }>>('GET', `/api/chat/conversations/${conv.body.id}/history`, { token: b.token, headers });
      return {
        unread_count: inbox.body.items.find((i) => i.id === conv.body.id)?.unread_count,
        shown: history.body.items.filter((m) => m.sender_id === a.id).length,
      };
    };
    expect(await seen()).toEqual({ unread_count: 3, shown: 3 });
    for (const id of [nasty, later]) await report(b, { target_type: 'message', target_id: id, reason: 'harassment' });
    const [nastyCase, laterCase] = [await caseOf(nasty), await caseOf(later)];
    // A hidden message is no longer counted (before: 3 beside the 2 shown).
    expect((await resolve(nastyCase?.id ?? '', 'hide')).body.hidden).toBe(true);
    expect(await seen()).toEqual({ unread_count: 2, shown: 2 });
    // A suspended sender's messages are not counted (before: 2 beside none shown).
    const p = await post(a, 'more of the same');
    await report(b, { target_type: 'post', target_id: p.id, reason: 'harassment' });
    expect((await resolve((await caseOf(p.id))?.id ?? '', 'suspend')).body.suspended).toBe(true);
    expect(await seen()).toEqual({ unread_count: 0, shown: 0 });
    // A hide while the sender is suspended still takes its message off the count, so an
    // account reinstated by an operator (there is no route for it) is counted as shown.
    expect((await resolve(laterCase?.id ?? '', 'hide')).body.hidden).toBe(true);
    await sql('UPDATE users SET is_active = true WHERE id = $1', [a.id]);
    expect(await seen()).toEqual({ unread_count: 1, shown: 1 });
  });

  it('counts agree with the lists: the most-active report counts neither hidden messages nor hidden posts', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'ma_a'), registerUser(t, 'ma_b')]);
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    const sent = [];
    for (const content of ['fine', 'nasty']) {
      const res = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: a.token, body: { content } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      sent.push(res.body.id);
    }
    const posts = [await post(a, 'a fine post'), await post(a, 'a nasty post')];
    const activity = async () => {
      const res = await t.call<PageBody<{ user_id: string; messages: number; posts: number; total: number }>>('GET',
        '/api/reports/most-active?days=1&limit=100', { token: b.token, headers: await lsnHeader() });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const row = res.body.items.find((u) => u.user_id === a.id);
      return row && { messages: row.messages, posts: row.posts, total: row.total };
    };
    expect(await activity()).toEqual({ messages: 2, posts: 2, total: 4 });
    for (const [type, id] of [['message', sent[1]], ['post', posts[1]?.id]] as const) {
      await report(b, { target_type: type, target_id: id, reason: 'harassment' });
      expect((await resolve((await caseOf(id ?? ''))?.id ?? '', 'hide')).body.hidden).toBe(true);
    }
    // Before: the hidden message still counted ({ messages: 2, posts: 1, total: 3 }).
    expect(await activity()).toEqual({ messages: 1, posts: 1, total: 2 });
  });

  it('counts agree with the lists: a profile\'s rating leaves out suspended raters, its cached view too, until they are reinstated', async () => {
    const [owner, fan, troll, viewer] = await Promise.all([
      registerUser(t, 'mr_o'), registerUser(t, 'mr_f'), registerUser(t, 'mr_t'), registerUser(t, 'mr_v')]);
    type Rating = { average: number | null; count: number };
    const rate = async (u: TestUser, score: number) => {
      const res = await t.call<{ rating: Rating }>('PUT', `/api/profiles/${owner.id}/rating`, { token: u.token, body: { score } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.rating;
    };
    await rate(fan, 5);
    expect(await rate(troll, 1)).toEqual({ average: 3, count: 2 });
    const rating = async (headers: Record<string, string> = {}) =>
      (await t.call<{ rating: Rating }>('GET', `/api/profiles/${owner.id}`, { token: viewer.token, headers })).body.rating;
    /** The view as the cache answers it (no position): the invalidation arrives after commit. */
    const cached = async (want: Rating) => {
      for (let i = 0; i < 50 && JSON.stringify(await rating()) !== JSON.stringify(want); i++) await new Promise((r) => setTimeout(r, 100));
      return rating();
    };
    await replicasCaughtUp(t.tdb, 'the view the viewer caches has both ratings');
    expect(await cached({ average: 3, count: 2 })).toEqual({ average: 3, count: 2 });

    const p = await post(troll, 'rate them down');
    await report(viewer, { target_type: 'post', target_id: p.id, reason: 'harassment' });
    expect((await resolve((await caseOf(p.id))?.id ?? '', 'suspend')).body.suspended).toBe(true);
    // Before: { average: 3, count: 2 }, the suspended troll's rating kept.
    expect(await rating(await lsnHeader())).toEqual({ average: 5, count: 1 });
    expect(await cached({ average: 5, count: 1 })).toEqual({ average: 5, count: 1 });
    // A rating write's answer counts as the profile does.
    expect(await rate(fan, 4)).toEqual({ average: 4, count: 1 });
    // Reinstated by an operator (there is no route for it): the rating counts again.
    await sql('UPDATE users SET is_active = true WHERE id = $1', [troll.id]);
    expect(await rating(await lsnHeader())).toEqual({ average: 2.5, count: 2 });
    expect(await cached({ average: 2.5, count: 2 })).toEqual({ average: 2.5, count: 2 });
  });

  it('suspend: the sessions end at once, login is refused, the profile is gone, the content hidden', async () => {
    const [bad, reporter] = await Promise.all([registerUser(t, 'ms_bad'), registerUser(t, 'ms_rep')]);
    const second = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: bad.email, password: bad.password } });
    expect(second.status).toBe(200);
    // Both sessions are cached by using them.
    for (const token of [bad.token, second.body.token]) expect((await t.call('GET', '/api/auth/session', { token })).status).toBe(200);
    const p = await post(bad, 'scam link');
    // The account's other content: a second post, a comment on the reporter's post, a message to the reporter.
    const other = await post(bad, 'more scam');
    const reporterPost = await post(reporter, 'an honest post');
    expect((await t.call('POST', `/api/feed/${reporterPost.id}/comments`, { token: bad.token, body: { content: 'scam comment' } })).status).toBe(201);
    const conv = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: bad.token, body: { recipient_id: reporter.id } });
    expect((await t.call('POST', `/api/chat/conversations/${conv.body.id}/messages`, { token: bad.token, body: { content: 'scam message' } })).status).toBe(201);
    // The other post ranks in the top posts (three comments) until the suspension.
    for (let i = 0; i < 3; i++) expect((await t.call('POST', `/api/feed/${other.id}/comments`, { token: reporter.token, body: { content: `reply ${i}` } })).status).toBe(201);
    const topPosts = async (lsn: string | undefined) =>
      (await t.call<PageBody<{ id: string; author_id: string }>>('GET', '/api/reports/top-posts?days=1&limit=100', { token: reporter.token, lsn })).body.items;
    expect((await topPosts((await lsnHeader())['x-bgc-lsn'])).map((x) => x.id)).toContain(other.id);
    await report(reporter, { target_type: 'post', target_id: p.id, reason: 'scam' });
    const c = await caseOf(p.id);

    const res = await resolve(c?.id ?? '', 'suspend', mod, 'repeat offender');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'suspended', hidden: true, suspended: true, sessions_revoked: 2 });
    for (const token of [bad.token, second.body.token]) {
      expectError(await t.call('GET', '/api/auth/session', { token }), 401, 'UNAUTHENTICATED');
      expectError(await t.call('POST', '/api/feed', { token, body: { content: 'still me' } }), 401, 'UNAUTHENTICATED');
    }
    expectError(await t.call('POST', '/api/auth/login', { body: { email: bad.email, password: bad.password } }), 401, 'INVALID_CREDENTIALS');
    // The reporter's last write (the report) is older than the suspension: read at its position.
    expectError(await t.call('GET', `/api/profiles/${bad.id}`, { token: reporter.token, lsn: res.lsn }), 404, 'NOT_FOUND');
    const rows = await sql<{ live: number }>('SELECT count(*)::int AS live FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [bad.id]);
    expect(rows).toEqual([{ live: 0 }]);
    // None of the account's other content shows either (before: the second post, the comment and the message did).
    const read = async <T>(url: string) => (await t.call<PageBody<T>>('GET', url, { token: reporter.token, lsn: res.lsn })).body.items;
    expect((await read<{ id: string }>('/api/feed?type=global&limit=100')).map((x) => x.id)).not.toContain(other.id);
    expect((await read<{ content: string }>(`/api/feed/${reporterPost.id}/comments`)).map((x) => x.content)).not.toContain('scam comment');
    expect((await read<{ content: string }>(`/api/chat/conversations/${conv.body.id}/history`)).map((x) => x.content)).not.toContain('scam message');
    // Nor the inbox's last message (before: the reporter's inbox kept showing it).
    const inbox = await read<{ id: string; last_message: { content: string } | null }>('/api/chat/conversations');
    expect(inbox.find((c) => c.id === conv.body.id)?.last_message ?? null).toBeNull();
    // Nor the top posts, nor the post's thread by id (before: the report listed the post with
    // its author's name and content, and its comments could be read and added to).
    expect((await topPosts(res.lsn)).map((x) => x.author_id)).not.toContain(bad.id);
    expectError(await t.call('GET', `/api/feed/${other.id}/comments`, { token: reporter.token, lsn: res.lsn }), 404, 'NOT_FOUND');
    expectError(await t.call('POST', `/api/feed/${other.id}/comments`, { token: reporter.token, body: { content: 'anyone?' } }), 404, 'NOT_FOUND');

    // A case is resolved once: a second resolve (another moderator's, or a retry) is 409 and
    // changes neither its status nor its actions (before: the second overwrote the status).
    const again = await resolve(c?.id ?? '', 'dismiss', mod, 'second look');
    expectError(again, 409, 'CONFLICT');
    const detail = await t.call<CaseDetailBody>('GET', `/api/moderation/cases/${c?.id}`, { token: mod.token, headers: await lsnHeader() });
    expect(detail.body.status).toBe('suspended');
    expect(detail.body.actions.map((a) => a.action)).toEqual(['suspend']);

    // A moderator cannot suspend themselves.
    const self = await post(mod, 'moderator post');
    await report(reporter, { target_type: 'post', target_id: self.id, reason: 'other' });
    const sc = await caseOf(self.id);
    expectError(await resolve(sc?.id ?? '', 'suspend'), 400, 'VALIDATION_FAILED');
  });

  it('a login racing a suspension opens no session', async () => {
    const u = await registerUser(t, 'ms_race');
    const proto = UserRepository.prototype;
    const original = proto.findByEmail;
    // The suspension commits while the login checks the password (after it read the user).
    proto.findByEmail = async function (this: UserRepository, email: string) {
      const row = await original.call(this, email);
      if (row?.id === u.id) await sql('UPDATE users SET is_active = false WHERE id = $1', [u.id]);
      return row;
    };
    try {
      // Before: 200 and a token the suspension never revoked.
      expectError(await t.call('POST', '/api/auth/login', { body: { email: u.email, password: u.password } }), 401, 'INVALID_CREDENTIALS');
    } finally {
      proto.findByEmail = original;
    }
    const rows = await sql<{ n: number }>('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [u.id]);
    // Registration's own session is still there (a suspension through the API revokes it; this one was a bare UPDATE).
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('dismiss: the content stays; a new reporter reopens the case', async () => {
    const [author, r1, r2] = await Promise.all([registerUser(t, 'md_a'), registerUser(t, 'md_1'), registerUser(t, 'md_2')]);
    const p = await post(author, 'harmless');
    await report(r1, { target_type: 'post', target_id: p.id, reason: 'other' });
    const c = await caseOf(p.id);
    const res = await resolve(c?.id ?? '', 'dismiss');
    expect(res.body).toMatchObject({ status: 'dismissed', hidden: false, suspended: false });
    expect(await caseOf(p.id)).toBeUndefined();
    const comments = await t.call('GET', `/api/feed/${p.id}/comments`, { token: r1.token, headers: await lsnHeader() });
    expect(comments.status).toBe(200);
    // The same reporter again changes nothing; someone new reopens it with both reports.
    expect((await report(r1, { target_type: 'post', target_id: p.id, reason: 'spam' })).body.created).toBe(false);
    expect(await caseOf(p.id)).toBeUndefined();
    expect((await report(r2, { target_type: 'post', target_id: p.id, reason: 'spam' })).body.created).toBe(true);
    expect(await caseOf(p.id)).toMatchObject({ status: 'open', report_count: 2 });
  });
});

describe('who may still moderate', () => {
  /** A second moderator with a fresh session (no cached session predates the flag). */
  async function newModerator(prefix: string): Promise<TestUser> {
    const m = await registerUser(t, prefix);
    await sql('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
    const login = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: m.email, password: m.password } });
    expect(login.status).toBe(200);
    return { ...m, token: login.body.token };
  }

  async function openCaseAgainst(target: TestUser, reporter: TestUser): Promise<string> {
    const p = await post(target, `reported ${Date.now()}`);
    expect((await report(reporter, { target_type: 'post', target_id: p.id, reason: 'spam' })).status).toBe(201);
    const c = await caseOf(p.id);
    if (!c) throw new Error('no case');
    return c.id;
  }

  it('a moderator suspended while their resolve\'s body was still arriving is refused: nothing is hidden', async () => {
    const [rogue, victim, reporter] = [await newModerator('mw_rogue'), await registerUser(t, 'mw_victim'), await registerUser(t, 'mw_rep')];
    const victimCase = await openCaseAgainst(victim, reporter);
    const rogueCase = await openCaseAgainst(rogue, reporter);
    // The rogue's request: headers sent (its session is checked now), the body held back.
    const body = JSON.stringify({ action: 'suspend' });
    const stream = new PassThrough();
    // Cached first, so the held request's session check is an L1 hit that completes at once.
    expect((await t.call('GET', '/api/auth/session', { token: rogue.token })).status).toBe(200);
    const pending = t.app.inject({
      method: 'POST', url: `/api/moderation/cases/${victimCase}/resolve`, payload: stream,
      headers: { authorization: `Bearer ${rogue.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    });
    // Its session is checked on arrival (onRequest), before the body is read: by the time a
    // whole request of the same session has been answered, it has been.
    expect((await t.call('GET', '/api/auth/session', { token: rogue.token })).status).toBe(200);
    // Meanwhile another moderator suspends the rogue.
    const suspended = await resolve(rogueCase, 'suspend');
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    stream.end(body);
    const answer = await pending;
    // Before: 200, and the victim was suspended by an account that no longer moderates.
    expect(answer.statusCode, answer.body).toBe(403);
    const [row] = await sql<{ is_active: boolean }>('SELECT is_active FROM users WHERE id = $1', [victim.id]);
    expect(row?.is_active).toBe(true);
    const [still] = await sql<{ status: string }>('SELECT status FROM moderation_cases WHERE id = $1', [victimCase]);
    expect(still?.status).toBe('open');
  });

  it('two moderators suspending each other at once: exactly one succeeds', async () => {
    const [a, b, reporter] = [await newModerator('mw_a'), await newModerator('mw_b'), await registerUser(t, 'mw_rep2')];
    const [caseA, caseB] = [await openCaseAgainst(a, reporter), await openCaseAgainst(b, reporter)];
    const [byB, byA] = await Promise.all([resolve(caseA, 'suspend', b), resolve(caseB, 'suspend', a)]);
    const statuses = [byA.status, byB.status].sort();
    // Before: 200 and 200, both accounts suspended by each other.
    expect(statuses, JSON.stringify([byA.body, byB.body])).toEqual([200, 403]);
    const active = await sql<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE id IN ($1, $2) AND is_active', [a.id, b.id]);
    expect(active[0]?.n).toBe(1);
  });
});

