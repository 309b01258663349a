import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser, startTestApp, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';
import { newestLsn } from '../helpers/write-position.ts';

/**
 * Groups (issue 20) on the real stack: creation and ownership, listing and search,
 * join/leave of public groups, requests and approval for private ones, member lists, and
 * group feeds visible to members only (and never in the public feeds).
 */
let t: TestApp;

interface GroupBody { id: string; name: string; visibility: string; owner_id: string | null; member_count: number; membership: string }
interface MembershipBody { group_id: string; user_id: string; status: string; changed: boolean }
interface PostBody { id: string; author: { id: string }; content: string; comment_count: number }
interface CommentBody { id: string; post_id: string; content: string; comment_count?: number | null }

const create = (u: TestUser, body: Record<string, unknown>) => t.call<GroupBody>('POST', '/api/groups', { token: u.token, body });
const join = (u: TestUser, g: string) => t.call<MembershipBody>('POST', `/api/groups/${g}/join`, { token: u.token });
const leave = (u: TestUser, g: string) => t.call<MembershipBody>('POST', `/api/groups/${g}/leave`, { token: u.token });
const get = (u: TestUser, g: string, lsn?: string) => t.call<GroupBody>('GET', `/api/groups/${g}`, { token: u.token, lsn });
/** `lsn`: another user's write this read must see (their own writes are followed by the app's per-user mark). */
const feed = (u: TestUser, g: string, q = '', lsn?: string) => t.call<PageBody<PostBody>>('GET', `/api/groups/${g}/feed${q}`, { token: u.token, lsn });
const post = (u: TestUser, g: string, content: string) => t.call<PostBody>('POST', `/api/groups/${g}/feed`, { token: u.token, body: { content } });

let seq = 0;
/** A word no other group of this file has, so searches see only this test's groups. */
function uniqueWord(): string {
  seq += 1;
  return `zq${process.pid}x${seq}`;
}

beforeAll(async () => {
  t = await startTestApp('groups', { BGC_CACHE_WARM_COUNT: '0' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('groups', () => {
  it('creates a group owned by its creator, and refuses bad input with a code', async () => {
    const owner = await registerUser(t, 'gr_own');
    const res = await create(owner, { name: '  Chess lovers  ', description: 'Openings and endgames' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ name: 'Chess lovers', visibility: 'public', owner_id: owner.id, member_count: 1, membership: 'owner' });
    expect((await get(owner, res.body.id, res.lsn)).body.membership).toBe('owner');

    expectError(await create(owner, { name: '   ' }), 400, 'VALIDATION_FAILED');
    expectError(await create(owner, { name: 'x'.repeat(101) }), 400, 'VALIDATION_FAILED');
    expectError(await create(owner, { name: 'ok', visibility: 'secret' }), 400, 'VALIDATION_FAILED');
    expectError(await create(owner, { name: 'ok', owner_id: owner.id }), 400, 'VALIDATION_FAILED');
    expectError(await t.call('POST', '/api/groups', { body: { name: 'ok' } }), 401, 'UNAUTHENTICATED');
    expectError(await get(owner, '01939262-4be4-767d-a1f7-4556b1b77d0f'), 404, 'NOT_FOUND');
    expectError(await t.call('GET', '/api/groups?cursor=nonsense', { token: owner.token }), 400, 'INVALID_CURSOR');
  });

  it('lists groups by name with search, "mine" and keyset pages', async () => {
    const [owner, other] = await Promise.all([registerUser(t, 'gr_own'), registerUser(t, 'gr_oth')]);
    const word = uniqueWord();
    const made: string[] = [];
    for (const name of [`${word} alpha`, `${word} beta`, `${word} gamma`]) {
      const r = await create(owner, { name, description: 'search me' });
      expect(r.status).toBe(201);
      made.push(r.body.id);
    }
    const lsn = (await create(other, { name: `${word} delta` })).lsn;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Awaited<ReturnType<typeof t.call<PageBody<GroupBody>>>> = await t.call<PageBody<GroupBody>>('GET',
        `/api/groups?q=${word}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: owner.token, lsn });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.items.map((g) => g.name));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([`${word} alpha`, `${word} beta`, `${word} delta`, `${word} gamma`]);
    const mine = await t.call<PageBody<GroupBody>>('GET', `/api/groups?q=${word}&mine=true`, { token: other.token, lsn });
    expect(mine.body.items.map((g) => g.name)).toEqual([`${word} delta`]);
  });

  it('joins and leaves a public group at once; the owner cannot leave', async () => {
    const [owner, a] = await Promise.all([registerUser(t, 'gr_own'), registerUser(t, 'gr_a')]);
    const g = (await create(owner, { name: 'Open house' })).body.id;
    const j = await join(a, g);
    expect(j.body).toEqual({ group_id: g, user_id: a.id, status: 'member', changed: true });
    expect((await join(a, g)).body.changed).toBe(false);
    expect((await get(a, g, j.lsn)).body).toMatchObject({ member_count: 2, membership: 'member' });
    const members = await t.call<PageBody<{ user: { id: string }; role: string }>>('GET', `/api/groups/${g}/members`, { token: a.token, lsn: j.lsn });
    expect(members.body.items.map((m) => [m.user.id, m.role]).sort()).toEqual([[a.id, 'member'], [owner.id, 'owner']].sort());
    const l = await leave(a, g);
    expect(l.body).toEqual({ group_id: g, user_id: a.id, status: 'none', changed: true });
    expect((await leave(a, g)).body.changed).toBe(false);
    expectError(await leave(owner, g), 409, 'CONFLICT');
    expectError(await join(a, '01939262-4be4-767d-a1f7-4556b1b77d0f'), 404, 'NOT_FOUND');
  });

  it('keeps the member count exact under concurrent joins', async () => {
    const owner = await registerUser(t, 'gr_own');
    const g = (await create(owner, { name: 'Busy' })).body.id;
    const users = await Promise.all(Array.from({ length: 12 }, (_, i) => registerUser(t, `gr_j${i}`)));
    const started = performance.now();
    const res = await Promise.all(users.flatMap((u) => [join(u, g), join(u, g)]));
    console.log(`[groups] ${res.length} concurrent joins in ${(performance.now() - started).toFixed(0)} ms`);
    // Each user's two joins race: one inserts, the other finds the row; both answer "member".
    expect(res.map((r) => [r.status, r.body.status])).toEqual(res.map(() => [200, 'member']));
    expect(res.filter((r) => r.body.changed).length).toBe(users.length);
    const admin = await t.tdb.admin();
    try {
      const n = await admin.query('SELECT count(*)::int AS n FROM group_memberships WHERE group_id = $1', [g]);
      expect(n.rows[0].n).toBe(users.length + 1);
    } finally {
      await admin.end();
    }
    // The owner reads the others' joins: at the newest of their positions (they raced, so the
    // last in the array need not be the last to commit).
    expect((await get(owner, g, newestLsn(res))).body.member_count).toBe(users.length + 1);

    // The same race on a private group: both answers say "pending", one request is stored.
    const p = (await create(owner, { name: 'Busy and private', visibility: 'private' })).body.id;
    const pending = await Promise.all(users.slice(0, 4).flatMap((u) => [join(u, p), join(u, p)]));
    expect(pending.map((r) => [r.status, r.body.status])).toEqual(pending.map(() => [200, 'pending']));
    expect(pending.filter((r) => r.body.changed).length).toBe(4);
  });

  it('private groups: join by request, approved or rejected by the owner or a moderator only', async () => {
    const [owner, a, b, outsider] = await Promise.all([registerUser(t, 'gr_own'), registerUser(t, 'gr_a'), registerUser(t, 'gr_b'), registerUser(t, 'gr_out')]);
    const g = (await create(owner, { name: 'Inner circle', visibility: 'private' })).body.id;
    const ja = await join(a, g);
    expect(ja.body).toEqual({ group_id: g, user_id: a.id, status: 'pending', changed: true });
    expect((await join(a, g)).body).toMatchObject({ status: 'pending', changed: false });
    expect((await get(a, g, ja.lsn)).body.membership).toBe('pending');
    const jb = await join(b, g);
    expect(jb.body.status).toBe('pending');

    // Not yet a member: no feed, no member list, no say over requests.
    expectError(await feed(a, g), 403, 'FORBIDDEN');
    expectError(await post(a, g, 'hello?'), 403, 'FORBIDDEN');
    expectError(await t.call('GET', `/api/groups/${g}/members`, { token: a.token }), 403, 'FORBIDDEN');
    expectError(await t.call('GET', `/api/groups/${g}/requests`, { token: a.token }), 403, 'FORBIDDEN');
    expectError(await t.call('POST', `/api/groups/${g}/requests/${b.id}/approve`, { token: a.token }), 403, 'FORBIDDEN');

    const reqs = await t.call<PageBody<{ user: { id: string } }>>('GET', `/api/groups/${g}/requests`, { token: owner.token, lsn: jb.lsn });
    expect(reqs.body.items.map((r) => r.user.id).sort()).toEqual([a.id, b.id].sort());
    const ok = await t.call<MembershipBody>('POST', `/api/groups/${g}/requests/${a.id}/approve`, { token: owner.token });
    expect(ok.body).toEqual({ group_id: g, user_id: a.id, status: 'member', changed: true });
    const no = await t.call<MembershipBody>('DELETE', `/api/groups/${g}/requests/${b.id}`, { token: owner.token });
    expect(no.body).toEqual({ group_id: g, user_id: b.id, status: 'none', changed: true });
    expectError(await t.call('POST', `/api/groups/${g}/requests/${outsider.id}/approve`, { token: owner.token }), 404, 'NOT_FOUND');

    // The approved member reads the feed at once (read-your-writes follows the approval).
    expect((await feed(a, g)).status).toBe(200);
    expectError(await feed(b, g), 403, 'FORBIDDEN');
    expect((await get(a, g)).body).toMatchObject({ membership: 'member', member_count: 2 });

    // A moderator may decide requests too.
    const admin = await t.tdb.admin();
    try {
      await admin.query(`UPDATE group_memberships SET role = 'moderator' WHERE group_id = $1 AND user_id = $2`, [g, a.id]);
    } finally {
      await admin.end();
    }
    await t.tdb.syncReplicas();
    const again = await join(b, g);
    expect(again.body.status).toBe('pending');
    const byMod = await t.call<MembershipBody>('POST', `/api/groups/${g}/requests/${b.id}/approve`, { token: a.token });
    expect(byMod.body).toMatchObject({ status: 'member', changed: true });
  });
});

describe('groups: blocks, deactivation and races', () => {
  it("blocks reach groups: the member list leaves out users blocked either way, a private group's owner gets no request across a block", async () => {
    const [owner, a, b] = await Promise.all([registerUser(t, 'gr_bo'), registerUser(t, 'gr_ba'), registerUser(t, 'gr_bb')]);
    const g = (await create(owner, { name: 'Blocked apart' })).body.id;
    await join(a, g);
    const jb = await join(b, g);
    expect((await t.call('POST', `/api/social/block/${b.id}`, { token: a.token })).status).toBe(200);
    const seenByB = await t.call<PageBody<{ user: { id: string } }>>('GET', `/api/groups/${g}/members`, { token: b.token, lsn: jb.lsn });
    expect(seenByB.status).toBe(200);
    expect(seenByB.body.items.map((m) => m.user.id).sort(), 'a blocked b: b does not see a').toEqual([owner.id, b.id].sort());
    const seenByA = await t.call<PageBody<{ user: { id: string } }>>('GET', `/api/groups/${g}/members`, { token: a.token });
    expect(seenByA.body.items.map((m) => m.user.id).sort(), 'a does not see b either').toEqual([owner.id, a.id].sort());

    const priv = (await create(owner, { name: 'Private, blocked', visibility: 'private' })).body.id;
    expect((await t.call('POST', `/api/social/block/${owner.id}`, { token: b.token })).status).toBe(200);
    expectError(await join(b, priv), 403, 'BLOCKED');
    expect((await t.call('POST', `/api/social/block/${a.id}`, { token: owner.token })).status).toBe(200);
    expectError(await join(a, priv), 403, 'BLOCKED');
    const reqs = await t.call<PageBody<{ user: { id: string } }>>('GET', `/api/groups/${priv}/requests`, { token: owner.token });
    expect(reqs.body.items).toEqual([]);
  });

  it("a block takes the requests already made to each other's groups with it, and no approval crosses one", async () => {
    const [owner, mod, c, d] = await Promise.all([registerUser(t, 'gr_ro'), registerUser(t, 'gr_rm'), registerUser(t, 'gr_rc'), registerUser(t, 'gr_rd')]);
    const g = (await create(owner, { name: 'Private, moderated', visibility: 'private' })).body.id;
    await join(mod, g);
    expect((await t.call('POST', `/api/groups/${g}/requests/${mod.id}/approve`, { token: owner.token })).status).toBe(200);
    const admin = await t.tdb.admin();
    try {
      await admin.query(`UPDATE group_memberships SET role = 'moderator' WHERE group_id = $1 AND user_id = $2`, [g, mod.id]);
    } finally {
      await admin.end();
    }
    expect((await join(c, g)).body.status).toBe('pending');
    expect((await join(d, g)).body.status).toBe('pending');

    // The owner blocks c: c's request goes (before: the moderator still saw it and could approve it).
    const block = await t.call('POST', `/api/social/block/${c.id}`, { token: owner.token });
    expect(block.status).toBe(200);
    const requests = await t.call<PageBody<{ user: { id: string } }>>('GET', `/api/groups/${g}/requests`, { token: mod.token, lsn: block.lsn });
    expect(requests.body.items.map((r) => r.user.id)).toEqual([d.id]);
    expectError(await t.call('POST', `/api/groups/${g}/requests/${c.id}/approve`, { token: mod.token }), 403, 'BLOCKED');

    // A request that raced the block (the block row written around the API here): an approval
    // is refused, a rejection still goes through.
    const raw = await t.tdb.admin();
    try {
      await raw.query(`INSERT INTO relationships (user_id, target_id, kind, status) VALUES ($1, $2, 'block', 'accepted')`, [d.id, owner.id]);
    } finally {
      await raw.end();
    }
    expectError(await t.call('POST', `/api/groups/${g}/requests/${d.id}/approve`, { token: mod.token }), 403, 'BLOCKED');
    const rejected = await t.call<MembershipBody>('DELETE', `/api/groups/${g}/requests/${d.id}`, { token: mod.token });
    expect(rejected.body).toMatchObject({ status: 'none', changed: true });
  });

  it('a deactivated group answers 404 to leave and to a decision, and changes nothing', async () => {
    const [owner, a, b] = await Promise.all([registerUser(t, 'gr_do'), registerUser(t, 'gr_da'), registerUser(t, 'gr_db')]);
    const g = (await create(owner, { name: 'Soon gone', visibility: 'private' })).body.id;
    await join(a, g);
    await t.call('POST', `/api/groups/${g}/requests/${a.id}/approve`, { token: owner.token });
    await join(b, g);
    const admin = await t.tdb.admin();
    try {
      await admin.query('UPDATE community_groups SET is_active = false WHERE id = $1', [g]);
      expectError(await leave(a, g), 404, 'NOT_FOUND');
      expectError(await t.call('POST', `/api/groups/${g}/requests/${b.id}/approve`, { token: owner.token }), 404, 'NOT_FOUND');
      const { rows } = await admin.query<{ members: number; requests: number }>(
        `SELECT (SELECT count(*)::int FROM group_memberships WHERE group_id = $1) AS members, (SELECT count(*)::int FROM group_join_requests WHERE group_id = $1) AS requests`, [g]);
      // Before: the leave deleted a's membership and the approval made b a member, both answered 404.
      expect(rows[0]).toEqual({ members: 2, requests: 1 });
    } finally {
      await admin.end();
    }
  });

  it('a leave racing the approval of its request waits for it and ends the membership', async () => {
    const [owner, a] = await Promise.all([registerUser(t, 'gr_ro'), registerUser(t, 'gr_ra')]);
    const g = (await create(owner, { name: 'Race', visibility: 'private' })).body.id;
    await join(a, g);
    const { groupQueries } = await import('../../src/repositories/groups.repository.ts');
    // The owner's approval, run (after its lock, as the app runs it) but not committed.
    const approver = await t.tdb.admin();
    const probe = await t.tdb.admin();
    let left: Awaited<ReturnType<typeof leave>>;
    try {
      await approver.query('BEGIN');
      await approver.query(groupQueries.memberLock.text, [g, a.id]);
      await approver.query(groupQueries.decide.text, [g, a.id, owner.id, true]);
      const leaving = leave(a, g);
      const started = Date.now();
      let waited = -1;
      while (Date.now() - started < 5_000) {
        const { rows } = await probe.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if ((rows[0]?.n ?? 0) > 0) { waited = Date.now() - started; break; }
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(`[groups] the leave waited on a lock: ${waited >= 0 ? `seen after ${waited} ms` : 'no (finished or not seen within 5 s)'}`);
      await approver.query('COMMIT');
      left = await leaving;
    } finally {
      await approver.end();
    }
    try {
      expect(left.status).toBe(200);
      const { rows } = await probe.query<{ n: number }>('SELECT count(*)::int AS n FROM group_memberships WHERE group_id = $1 AND user_id = $2', [g, a.id]);
      // Before: the leave's snapshot had no membership to delete; it answered "none" and a stayed a member.
      expect(rows[0]?.n, JSON.stringify(left.body)).toBe(0);
      expect(left.body).toMatchObject({ status: 'none', changed: true });
    } finally {
      await probe.end();
    }
  });
});

describe('group feeds', () => {
  it('are for members only and never appear in the public feeds', async () => {
    const [owner, member, outsider] = await Promise.all([registerUser(t, 'gf_own'), registerUser(t, 'gf_mem'), registerUser(t, 'gf_out')]);
    const g = (await create(owner, { name: 'Readers' })).body.id;
    expect((await join(member, g)).status).toBe(200);
    const p = await post(owner, g, 'group only news');
    expect(p.status, JSON.stringify(p.body)).toBe(201);

    // The member's own last write (the join) is older than the owner's post: read at the post's position.
    const mine = await feed(member, g, '', p.lsn);
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((x) => x.content)).toEqual(['group only news']);
    // The outsider has written nothing here: the owner's post's position makes the replica
    // that answers one that has the group (without it a lagging replica says "No such group").
    expectError(await feed(outsider, g, '', p.lsn), 403, 'FORBIDDEN');
    expectError(await post(outsider, g, 'let me in'), 403, 'FORBIDDEN');
    expectError(await feed(outsider, '01939262-4be4-767d-a1f7-4556b1b77d0f'), 404, 'NOT_FOUND');

    // Not in the global or following feed, nor reachable through the public comment routes.
    const global = await t.call<PageBody<PostBody>>('GET', '/api/feed?type=global&limit=100', { token: owner.token });
    expect(global.body.items.map((x) => x.id)).not.toContain(p.body.id);
    const following = await t.call<PageBody<PostBody>>('GET', '/api/feed?type=following&limit=100', { token: owner.token });
    expect(following.body.items.map((x) => x.id)).not.toContain(p.body.id);
    expectError(await t.call('GET', `/api/feed/${p.body.id}/comments`, { token: member.token }), 404, 'NOT_FOUND');
    expectError(await t.call('POST', `/api/feed/${p.body.id}/comments`, { token: member.token, body: { content: 'x' } }), 404, 'NOT_FOUND');

    // Comments through the group.
    const c = await t.call<CommentBody>('POST', `/api/groups/${g}/feed/${p.body.id}/comments`, { token: member.token, body: { content: 'nice' } });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body).toMatchObject({ post_id: p.body.id, content: 'nice', comment_count: 1 });
    const list = await t.call<PageBody<CommentBody>>('GET', `/api/groups/${g}/feed/${p.body.id}/comments`, { token: owner.token, lsn: c.lsn });
    expect(list.body.items.map((x) => x.content)).toEqual(['nice']);
    // The outsider still has written nothing: at the comment's position, as above.
    expectError(await t.call('GET', `/api/groups/${g}/feed/${p.body.id}/comments`, { token: outsider.token, lsn: c.lsn }), 403, 'FORBIDDEN');
    expectError(await t.call('POST', `/api/groups/${g}/feed/${p.body.id}/comments`, { token: outsider.token, body: { content: 'x' } }), 403, 'FORBIDDEN');
    // A post of another group is no post of this one.
    const other = (await create(owner, { name: 'Elsewhere' })).body.id;
    expectError(await t.call('GET', `/api/groups/${other}/feed/${p.body.id}/comments`, { token: owner.token }), 404, 'NOT_FOUND');

    // The most-active report counts no group post (before: an outsider saw the owner's group
    // posts counted, a private group's activity).
    const active = await t.call<PageBody<{ user_id: string; posts: number }>>('GET', '/api/reports/most-active?days=1&limit=100', { token: outsider.token, lsn: c.lsn });
    expect(active.status).toBe(200);
    expect(active.body.items.find((u) => u.user_id === owner.id)?.posts ?? 0).toBe(0);

    // After leaving, the feed is closed again.
    expect((await leave(member, g)).status).toBe(200);
    expectError(await feed(member, g), 403, 'FORBIDDEN');
  });

  it('hides posts across a block and refuses comments across one', async () => {
    const [owner, a, b] = await Promise.all([registerUser(t, 'gf_own'), registerUser(t, 'gf_a'), registerUser(t, 'gf_b')]);
    const g = (await create(owner, { name: 'Blocky' })).body.id;
    await join(a, g);
    await join(b, g);
    const pa = await post(a, g, 'from a');
    expect(pa.status).toBe(201);
    const blocked = await t.call('POST', `/api/social/block/${b.id}`, { token: a.token });
    expect(blocked.status).toBe(200);
    // a's post and block are other users' writes for b and the owner: read at the block's position.
    const bs = await feed(b, g, '', blocked.lsn);
    expect(bs.body.items.map((x) => x.content)).not.toContain('from a');
    expect((await feed(owner, g, '', blocked.lsn)).body.items.map((x) => x.content)).toContain('from a');
    expectError(await t.call('POST', `/api/groups/${g}/feed/${pa.body.id}/comments`, { token: b.token, body: { content: 'hey' } }), 403, 'BLOCKED');
    // Nor its comments: 404 for b. On the owner's post, b does not see a's comment; the owner sees both.
    expectError(await t.call('GET', `/api/groups/${g}/feed/${pa.body.id}/comments`, { token: b.token, lsn: blocked.lsn }), 404, 'NOT_FOUND');
    const po = await post(owner, g, 'from the owner');
    for (const who of [a, b]) expect((await t.call('POST', `/api/groups/${g}/feed/${po.body.id}/comments`, { token: who.token, body: { content: `by ${who === a ? 'a' : 'b'}` } })).status).toBe(201);
    const comments = async (who: typeof owner) => (await t.call<{ items: Array<{ content: string }> }>('GET', `/api/groups/${g}/feed/${po.body.id}/comments`, { token: who.token })).body.items.map((x) => x.content);
    expect(await comments(b)).toEqual(['by b']);
    expect(await comments(owner)).toEqual(['by a', 'by b']);
  });

  it('pages through a group feed newest first', async () => {
    const owner = await registerUser(t, 'gf_own');
    const g = (await create(owner, { name: 'Pager' })).body.id;
    for (let i = 0; i < 5; i++) expect((await post(owner, g, `p${i}`)).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Awaited<ReturnType<typeof feed>> = await feed(owner, g, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.items.map((x) => x.content));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 50);
    expect(seen).toEqual(['p4', 'p3', 'p2', 'p1', 'p0']);
    const other = (await create(owner, { name: 'Other' })).body.id;
    const first = await feed(owner, g, '?limit=1');
    expectError(await feed(owner, other, `?cursor=${first.body.next_cursor}`), 400, 'INVALID_CURSOR');
  });
});
