import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, registerUser, startTestApp, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Who may do what: only members read and post in a conversation; nobody edits another's
 * profile; blocks stop messages, new conversations, comments and visibility.
 */
let t: TestApp;
let ann: TestUser;
let ben: TestUser;
let eve: TestUser;
let conversationId: string;
/** Ann's message in beforeAll: Ben and Eve read after another user's write, at its position. */
let sentLsn: string | undefined;

beforeAll(async () => {
  t = await startTestApp('api_authz');
  [ann, ben, eve] = await Promise.all([registerUser(t, 'ann'), registerUser(t, 'ben'), registerUser(t, 'eve')]);
  const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: ann.token, body: { recipient_id: ben.id } });
  conversationId = open.body.id;
  const sent = await t.call('POST', `/api/chat/conversations/${conversationId}/messages`, { token: ann.token, body: { content: 'private words' } });
  expect(sent.status).toBe(201);
  sentLsn = sent.lsn;
});
afterAll(async () => {
  await t?.close();
});

describe('conversations belong to their two members', () => {
  it('a non-member can neither read, post nor mark read (403), and sees nothing in the inbox', async () => {
    // Eve and Ben wrote nothing since Ann did: without her position a lagging replica may not
    // have the conversation (404, not 403) or the message yet.
    expectError(await t.call('GET', `/api/chat/conversations/${conversationId}/history`, { token: eve.token, lsn: sentLsn }), 403, 'FORBIDDEN');
    expectError(await t.call('POST', `/api/chat/conversations/${conversationId}/messages`, { token: eve.token, body: { content: 'let me in' } }), 403, 'FORBIDDEN');
    expectError(await t.call('POST', `/api/chat/conversations/${conversationId}/read`, { token: eve.token }), 403, 'FORBIDDEN');
    const inbox = await t.call<PageBody<{ id: string }>>('GET', '/api/chat/conversations', { token: eve.token });
    expect(inbox.body.items).toEqual([]);
    // The members can.
    const history = await t.call<PageBody<{ content: string }>>('GET', `/api/chat/conversations/${conversationId}/history`, { token: ben.token, lsn: sentLsn });
    expect(history.body.items.map((m) => m.content)).toEqual(['private words']);
  });
});

describe('profiles are edited by their owner only', () => {
  it('PUT /api/profiles/me changes the caller\'s profile and no one else\'s; there is no route to edit by id', async () => {
    const before = await t.call<{ bio: string | null }>('GET', `/api/profiles/${ann.id}`, { token: ann.token });
    const eveEdit = await t.call<{ id: string; bio: string }>('PUT', '/api/profiles/me', { token: eve.token, body: { bio: 'eve was here' } });
    expect(eveEdit.status).toBe(200);
    expect(eveEdit.body.id).toBe(eve.id);
    const after = await t.call<{ bio: string | null }>('GET', `/api/profiles/${ann.id}`, { token: ann.token, lsn: eveEdit.lsn });
    expect(after.body.bio).toBe(before.body.bio);
    expect((await t.call('PUT', `/api/profiles/${ann.id}`, { token: eve.token, body: { bio: 'x' } })).status).toBe(404);
  });

  it('private and friends-only profiles are refused to others (403); exact location is shown to the owner only', async () => {
    const set = await t.call('PUT', '/api/profiles/me', { token: ben.token, body: { privacy_level: 'friends', lat: 30.27, lng: -97.74 } });
    expect(set.status).toBe(200);
    expectError(await t.call('GET', `/api/profiles/${ben.id}`, { token: eve.token, lsn: set.lsn }), 403, 'FORBIDDEN');
    const own = await t.call<{ lat: number | null }>('GET', `/api/profiles/${ben.id}`, { token: ben.token });
    expect(own.body.lat).toBe(30.27);
    // Ann becomes Ben's friend: she may see the profile, without the coordinates.
    const req = await t.call('POST', `/api/social/friend-request/${ben.id}`, { token: ann.token });
    const acc = await t.call('POST', `/api/social/friend-request/${ann.id}/accept`, { token: ben.token, lsn: req.lsn });
    expect(acc.status).toBe(200);
    const friendView = await t.call<{ lat: number | null; relationship: { friend_status: string } }>('GET', `/api/profiles/${ben.id}`, { token: ann.token, lsn: acc.lsn });
    expect(friendView.status).toBe(200);
    expect(friendView.body).toMatchObject({ lat: null, relationship: { friend_status: 'friends' } });
    const reset = await t.call('PUT', '/api/profiles/me', { token: ben.token, body: { privacy_level: 'public' } });
    expect(reset.status).toBe(200);
  });
});

describe('suspended accounts', () => {
  it('a pending friend request from an account suspended since is not accepted (404): no friendship to reopen its reach', async () => {
    const [sue, amy] = await Promise.all([registerUser(t, 'sus_req'), registerUser(t, 'sus_amy')]);
    const req = await t.call('POST', `/api/social/friend-request/${amy.id}`, { token: sue.token });
    expect(req.status).toBe(200);
    const admin = await t.tdb.admin();
    try {
      await admin.query('UPDATE users SET is_active = false WHERE id = $1', [sue.id]);
      expectError(await t.call('POST', `/api/social/friend-request/${sue.id}/accept`, { token: amy.token, lsn: req.lsn }), 404, 'NOT_FOUND');
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM relationships WHERE kind = 'friend' AND status = 'accepted' AND $1 IN (user_id, target_id)`, [sue.id]);
      expect(rows[0]?.n).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('blocks', () => {
  it('a room\'s history leaves out the messages of users blocked either way, and of suspended accounts', async () => {
    const [ria, sol, tam] = await Promise.all([registerUser(t, 'ria'), registerUser(t, 'sol'), registerUser(t, 'tam')]);
    const roomId = crypto.randomUUID();
    const admin = await t.tdb.admin();
    try {
      await admin.query(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'authz room')`, [roomId]);
    } finally {
      await admin.end();
    }
    for (const [who, text] of [[ria, 'Ria speaks'], [sol, 'Sol speaks'], [tam, 'Tam speaks']] as const) {
      expect((await t.call('POST', `/api/chat/rooms/${roomId}/messages`, { token: who.token, body: { content: text } })).status).toBe(201);
    }
    // Ria blocks Sol; Tam's account is suspended.
    const block = await t.call('POST', `/api/social/block/${sol.id}`, { token: ria.token });
    expect(block.status).toBe(200);
    const admin2 = await t.tdb.admin();
    try {
      await admin2.query('UPDATE users SET is_active = false WHERE id = $1', [tam.id]);
    } finally {
      await admin2.end();
    }
    const seenBy = async (who: TestUser) => (await t.call<PageBody<{ content: string }>>('GET', `/api/chat/rooms/${roomId}/history`, { token: who.token, lsn: block.lsn })).body.items.map((m) => m.content).sort();
    // Before: every reader saw all three.
    expect(await seenBy(ria)).toEqual(['Ria speaks']);
    expect(await seenBy(sol)).toEqual(['Sol speaks']);
    expect(await seenBy(ben)).toEqual(['Ria speaks', 'Sol speaks']);
  });

  it('a comment list leaves out the comments of users blocked either way; the top posts report their posts', async () => {
    const [kim, lee, max] = await Promise.all([registerUser(t, 'kim'), registerUser(t, 'lee'), registerUser(t, 'max')]);
    const post = await t.call<{ id: string }>('POST', '/api/feed', { token: max.token, body: { content: 'Max asks' } });
    expect(post.status).toBe(201);
    for (const [who, text] of [[kim, 'Kim answers'], [lee, 'Lee answers']] as const) {
      expect((await t.call('POST', `/api/feed/${post.body.id}/comments`, { token: who.token, body: { content: text } })).status).toBe(201);
    }
    const kimPost = await t.call<{ id: string }>('POST', '/api/feed', { token: kim.token, body: { content: 'Kim posts' } });
    expect((await t.call('POST', `/api/feed/${kimPost.body.id}/comments`, { token: max.token, body: { content: 'on Kim' } })).status).toBe(201);
    // Kim blocks Lee.
    const block = await t.call('POST', `/api/social/block/${lee.id}`, { token: kim.token });
    expect(block.status).toBe(200);
    const seenBy = async (who: TestUser) => (await t.call<PageBody<{ content: string }>>('GET', `/api/feed/${post.body.id}/comments`, { token: who.token, lsn: block.lsn })).body.items.map((c) => c.content);
    expect(await seenBy(lee)).toEqual(['Lee answers']);
    expect(await seenBy(kim)).toEqual(['Kim answers']);
    expect(await seenBy(max)).toEqual(['Kim answers', 'Lee answers']);
    const top = async (who: TestUser) => (await t.call<PageBody<{ author_id: string }>>('GET', '/api/reports/top-posts?days=1&limit=100', { token: who.token, lsn: block.lsn })).body.items.map((p) => p.author_id);
    expect(await top(lee)).not.toContain(kim.id);
    expect(await top(max)).toContain(kim.id);
    // The most-active report too (before: every reader saw everyone, blocked or not).
    const leePost = await t.call('POST', '/api/feed', { token: lee.token, body: { content: 'Lee posts' } });
    expect(leePost.status).toBe(201);
    const active = async (who: TestUser) => (await t.call<PageBody<{ user_id: string }>>('GET', '/api/reports/most-active?days=1&limit=100', { token: who.token, lsn: leePost.lsn })).body.items.map((u) => u.user_id);
    expect(await active(lee)).not.toContain(kim.id);
    expect(await active(kim)).not.toContain(lee.id);
    expect(await active(max)).toEqual(expect.arrayContaining([kim.id, lee.id]));
  });

  it('a blocked user cannot message the blocker (BLOCKED), open a conversation, comment, or see the profile', async () => {
    // Eve and Ann talk first.
    const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: eve.token, body: { recipient_id: ann.id } });
    expect(open.status).toBe(201);
    const post = await t.call<{ id: string }>('POST', '/api/feed', { token: ann.token, body: { content: 'Ann posts' } });
    // Ann blocks Eve.
    const block = await t.call<{ status: string; changed: boolean }>('POST', `/api/social/block/${eve.id}`, { token: ann.token });
    expect(block.status).toBe(200);
    expect(block.body).toMatchObject({ status: 'active', changed: true });

    expectError(await t.call('POST', `/api/chat/conversations/${open.body.id}/messages`, { token: eve.token, body: { content: 'hello?' } }), 403, 'BLOCKED');
    expectError(await t.call('POST', '/api/chat/conversations', { token: eve.token, body: { recipient_id: ann.id } }), 403, 'BLOCKED');
    expectError(await t.call('POST', `/api/feed/${post.body.id}/comments`, { token: eve.token, body: { content: 'hey' } }), 403, 'BLOCKED');
    expectError(await t.call('POST', `/api/social/friend-request/${ann.id}`, { token: eve.token }), 403, 'BLOCKED');
    expectError(await t.call('POST', `/api/social/favorite/${ann.id}`, { token: eve.token }), 403, 'BLOCKED');
    expectError(await t.call('GET', `/api/profiles/${ann.id}`, { token: eve.token, lsn: block.lsn }), 404, 'NOT_FOUND');
    const feed = await t.call<PageBody<{ id: string }>>('GET', '/api/feed?type=global', { token: eve.token, lsn: block.lsn });
    expect(feed.body.items.map((p) => p.id)).not.toContain(post.body.id);
    const search = await t.call<PageBody<{ id: string }>>('GET', `/api/search?q=${encodeURIComponent(ann.username)}`, { token: eve.token, lsn: block.lsn });
    expect(search.body.items.map((p) => p.id)).not.toContain(ann.id);
    // The blocker sees the block in her relationships, the blocked user does not.
    const annRel = await t.call<PageBody<{ user: { id: string }; kind: string }>>('GET', '/api/social/relationships', { token: ann.token });
    expect(annRel.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'block', user: expect.objectContaining({ id: eve.id }) })]));
    const eveRel = await t.call<PageBody<{ kind: string }>>('GET', '/api/social/relationships', { token: eve.token, lsn: block.lsn });
    expect(eveRel.body.items.filter((r) => r.kind === 'block')).toEqual([]);

    // Neither the post's comments nor comments Ann wrote elsewhere, nor her post in the reports.
    expectError(await t.call('GET', `/api/feed/${post.body.id}/comments`, { token: eve.token, lsn: block.lsn }), 404, 'NOT_FOUND');
    const topPosts = await t.call<PageBody<{ id: string; author_id: string }>>('GET', '/api/reports/top-posts?days=1&limit=100', { token: eve.token, lsn: block.lsn });
    expect(topPosts.status).toBe(200);
    expect(topPosts.body.items.map((p) => p.author_id)).not.toContain(ann.id);

    // Unblocking restores messaging.
    const unblock = await t.call('DELETE', `/api/social/block/${eve.id}`, { token: ann.token });
    expect(unblock.status).toBe(200);
    const again = await t.call('POST', `/api/chat/conversations/${open.body.id}/messages`, { token: eve.token, body: { content: 'hello again' }, lsn: unblock.lsn });
    expect(again.status).toBe(201);
  });
});
