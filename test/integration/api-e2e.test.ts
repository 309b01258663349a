import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, startTestApp, type AuthBody, type PageBody, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * DESIGN §2 / issue 4 acceptance, over HTTP on the real stack (primary + two streaming
 * replicas). Reads by another user than the writer pass the writer's X-BGC-LSN, the way a
 * client that just saw the write would; reads by the writer rely on the router's
 * read-your-writes alone.
 */
let t: TestApp;
let alice: TestUser;
let bob: TestUser;

interface SearchHit { id: string; username: string; display_name: string | null; interests: string[]; age: number | null }
interface InboxItem { id: string; unread_count: number; other_user: { id: string }; last_message: { content: string; sender_id: string } | null }
interface Post { id: string; author: { id: string; username: string }; content: string; comment_count: number }

beforeAll(async () => {
  t = await startTestApp('api_e2e');
  alice = await registerUser(t, 'alice');
  bob = await registerUser(t, 'bob');
});
afterAll(async () => {
  await t?.close();
});

describe('HTTP API end to end', () => {
  it('walks the whole product: auth, profile, search, chat, feed, social, logout', async () => {
    // Log in: a second session for alice; the session endpoint names her.
    const login = await t.call<AuthBody>('POST', '/api/auth/login', { body: { email: alice.email.toUpperCase(), password: alice.password } });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(alice.id);
    expect(login.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const token = login.body.token;
    const session = await t.call<{ user: { id: string; username: string } }>('GET', '/api/auth/session', { token });
    expect(session.status).toBe(200);
    expect(session.body.user).toMatchObject({ id: alice.id, username: alice.username });

    // Update the profile; her own read right after sees it (read-your-writes, no header).
    const update = await t.call<{ bio: string; interests: string[]; metadata: Record<string, unknown>; age: number }>('PUT', '/api/profiles/me', {
      token,
      body: {
        display_name: 'Alice Wonderland', bio: 'I love running marathons along the river.', city: 'Austin', state: 'TX',
        birthdate: '1990-04-01', interests: ['Hiking', 'jazz'], roles: ['mentor'],
        metadata: { smoker: false, languages: ['en', 'es'], pets: { dogs: 2 } },
      },
    });
    expect(update.status, JSON.stringify(update.body)).toBe(200);
    expect(update.body.interests).toEqual(['hiking', 'jazz']);
    expect(update.body.age).toBeGreaterThanOrEqual(35);
    const own = await t.call<{ bio: string; city: string; relationship: { is_self: boolean } }>('GET', `/api/profiles/${alice.id}`, { token });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ bio: 'I love running marathons along the river.', city: 'Austin', relationship: { is_self: true } });
    const profileLsn = update.lsn;

    // Bob finds her by JSONB attributes and by free text (name words and stemmed bio words).
    const searches = [
      'interests=hiking', 'roles=mentor&interests=jazz,hiking', `metadata=${encodeURIComponent('{"smoker":false,"pets":{"dogs":2}}')}`,
      'q=running', 'q=wonderland', 'q=alice%20marathon', 'city=Austin&state=TX&min_age=30&max_age=60',
    ];
    for (const query of searches) {
      const res = await t.call<PageBody<SearchHit>>('GET', `/api/search?${query}`, { token: bob.token, lsn: profileLsn });
      expect(res.status, query).toBe(200);
      expect(res.body.items.map((i) => i.id), query).toContain(alice.id);
    }
    const miss = await t.call<PageBody<SearchHit>>('GET', '/api/search?interests=hiking,knitting', { token: bob.token, lsn: profileLsn });
    expect(miss.body.items.map((i) => i.id)).not.toContain(alice.id);

    // Bob opens a conversation (the same one on a second call) and sends a message.
    const open = await t.call<{ id: string; created: boolean }>('POST', '/api/chat/conversations', { token: bob.token, body: { recipient_id: alice.id } });
    expect(open.status).toBe(201);
    const again = await t.call<{ id: string; created: boolean }>('POST', '/api/chat/conversations', { token: bob.token, body: { recipient_id: alice.id } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(expect.objectContaining({ id: open.body.id, created: false }));
    const sent = await t.call<{ id: string; content: string }>('POST', `/api/chat/conversations/${open.body.id}/messages`, {
      token: bob.token, body: { content: 'Hi Alice! Fancy a run?' },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.id).toBeTruthy();

    // Alice's inbox: unread 1 with the last message; she reads it; unread 0.
    const inbox = await t.call<PageBody<InboxItem>>('GET', '/api/chat/conversations', { token, lsn: sent.lsn });
    expect(inbox.status).toBe(200);
    const item = inbox.body.items.find((i) => i.id === open.body.id);
    expect(item).toMatchObject({ unread_count: 1, other_user: { id: bob.id }, last_message: { content: 'Hi Alice! Fancy a run?', sender_id: bob.id } });
    const read = await t.call<{ unread_count: number }>('POST', `/api/chat/conversations/${open.body.id}/read`, { token });
    expect(read.status).toBe(200);
    const after = await t.call<PageBody<InboxItem>>('GET', '/api/chat/conversations', { token });
    expect(after.body.items.find((i) => i.id === open.body.id)?.unread_count).toBe(0);
    const history = await t.call<PageBody<{ id: string; content: string }>>('GET', `/api/chat/conversations/${open.body.id}/history`, { token });
    expect(history.status).toBe(200);
    expect(history.body.items.map((m) => m.id)).toEqual([sent.body.id]);

    // Alice posts; Bob befriends her, she accepts; Bob's following feed shows the post.
    const post = await t.call<Post>('POST', '/api/feed', { token, body: { content: 'Ran 20 km by the river today.' } });
    expect(post.status).toBe(201);
    const request = await t.call<{ status: string }>('POST', `/api/social/friend-request/${alice.id}`, { token: bob.token });
    expect(request.status).toBe(200);
    expect(request.body.status).toBe('pending');
    const accept = await t.call<{ status: string }>('POST', `/api/social/friend-request/${bob.id}/accept`, { token, lsn: request.lsn });
    expect(accept.status).toBe(200);
    expect(accept.body.status).toBe('accepted');
    const feed = await t.call<PageBody<Post>>('GET', '/api/feed?type=following', { token: bob.token, lsn: accept.lsn });
    expect(feed.status).toBe(200);
    expect(feed.body.items.find((p) => p.id === post.body.id)).toMatchObject({ author: { id: alice.id }, content: 'Ran 20 km by the river today.' });

    // Bob comments; the comment list and the post's count show it.
    const comment = await t.call<{ id: string; comment_count: number }>('POST', `/api/feed/${post.body.id}/comments`, { token: bob.token, body: { content: 'Impressive!' } });
    expect(comment.status).toBe(201);
    expect(comment.body.comment_count).toBe(1);
    const comments = await t.call<PageBody<{ id: string; author: { id: string } }>>('GET', `/api/feed/${post.body.id}/comments`, { token, lsn: comment.lsn });
    expect(comments.body.items).toEqual([expect.objectContaining({ id: comment.body.id, author: expect.objectContaining({ id: bob.id }) })]);
    const global = await t.call<PageBody<Post>>('GET', '/api/feed?type=global', { token, lsn: comment.lsn });
    expect(global.body.items.find((p) => p.id === post.body.id)?.comment_count).toBe(1);

    // Log out: this token stops working at once; the other session of hers still works.
    const logout = await t.call<{ revoked: boolean }>('POST', '/api/auth/logout', { token });
    expect(logout.status).toBe(200);
    expect(logout.body.revoked).toBe(true);
    const dead = await t.call<{ error: { code: string } }>('GET', '/api/auth/session', { token });
    expect(dead.status).toBe(401);
    expect(dead.body.error.code).toBe('UNAUTHENTICATED');
    expect((await t.call('GET', '/api/chat/conversations', { token })).status).toBe(401);
    expect((await t.call('GET', '/api/auth/session', { token: alice.token })).status).toBe(200);
  });

  it('reports the period\'s most active users and top posts (window functions)', async () => {
    const lsn = (await t.call('POST', '/api/feed', { token: bob.token, body: { content: 'second post, no comments' } })).lsn;
    interface Active { rank: number; user_id: string; messages: number; posts: number; total: number; share_pct: number; cumulative_share_pct: number }
    const active = await t.call<PageBody<Active>>('GET', '/api/reports/most-active?days=1', { token: alice.token, lsn });
    expect(active.status).toBe(200);
    // Bob: 1 message + 1 post; Alice: 1 post.
    expect(active.body.items.map((i) => [i.user_id, i.rank, i.messages, i.posts])).toEqual([[bob.id, 1, 1, 1], [alice.id, 2, 0, 1]]);
    expect(active.body.items.map((i) => i.cumulative_share_pct)).toEqual([66.667, 100]);
    interface Top { rank: number; author_id: string; comment_count: number; top_pct: number }
    const top = await t.call<PageBody<Top>>('GET', '/api/reports/top-posts?days=1', { token: alice.token, lsn });
    expect(top.body.items.map((i) => [i.author_id, i.rank, i.comment_count, i.top_pct])).toEqual([[alice.id, 1, 1, 0], [bob.id, 2, 0, 50]]);
  });
});
