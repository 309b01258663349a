import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from 'uuidv7';
import { collectPages, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * Keyset pagination end to end: every item exactly once, in order, then next_cursor null.
 * History and feeds page through time windows that widen when a window is sparse (a page
 * may be short or empty while next_cursor is set), and the following feed has two
 * strategies (few vs many followed authors); both are checked against the expected list.
 */
let t: TestApp;
const MAX_PAGES = 40;

/** Follows next_cursor (bounded) and returns every item plus the page sizes seen. */
const collect = <T>(url: string, token: string, limit: number): Promise<{ items: T[]; sizes: number[] }> => collectPages<T>(t, url, token, limit, MAX_PAGES);

function monthPartition(table: string, d: Date): string {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const from = new Date(Date.UTC(y, m, 1)).toISOString();
  const to = new Date(Date.UTC(y, m + 1, 1)).toISOString();
  const name = `${table}_y${y}m${String(m + 1).padStart(2, '0')}`;
  return `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${table} FOR VALUES FROM ('${from}') TO ('${to}')`;
}

beforeAll(async () => {
  t = await startTestApp('api_pages');
});
afterAll(async () => {
  await t?.close();
});

describe('conversation history across months', () => {
  it('returns every message once, newest first, widening the window over a quiet stretch', async () => {
    const [a, b] = [await registerUser(t, 'hista'), await registerUser(t, 'histb')];
    const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
    const conv = open.body.id;
    const now = Date.now();
    // Three recent messages through the API, three ~75 days old written directly (with ids
    // carrying their time, as the app's would).
    const recent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await t.call<{ id: string }>('POST', `/api/chat/conversations/${conv}/messages`, { token: i % 2 ? b.token : a.token, body: { content: `recent ${i}` } });
      recent.push(r.body.id);
    }
    const old = new Date(now - 75 * 86_400_000);
    const admin = await t.tdb.admin();
    const oldIds: string[] = [];
    try {
      await admin.query(monthPartition('messages', old));
      await admin.query(`UPDATE conversations SET created_at = now() - interval '100 days' WHERE id = $1`, [conv]);
      for (let i = 0; i < 3; i++) {
        const at = new Date(old.getTime() + i * 60_000);
        const id = uuidAt(at);
        oldIds.push(id);
        await admin.query(`INSERT INTO messages (id, conversation_id, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5)`, [id, conv, a.id, `old ${i}`, at]);
      }
    } finally {
      await admin.end();
    }
    await t.tdb.syncReplicas();
    const { items, sizes } = await collect<{ id: string; created_at: string }>(`/api/chat/conversations/${conv}/history`, a.token, 2);
    expect(items.map((m) => m.id)).toEqual([...recent.reverse(), ...oldIds.reverse()]);
    // The 31-day first window holds only the recent three; older ones came after at least one short page.
    expect(sizes.some((n) => n < 2)).toBe(true);
    const times = items.map((m) => Date.parse(m.created_at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });
});

describe('lists paged with small limits', () => {
  let owner: TestUser;
  let peers: TestUser[];

  beforeAll(async () => {
    owner = await registerUser(t, 'owner');
    peers = [];
    for (let i = 0; i < 5; i++) peers.push(await registerUser(t, `peer${i}`));
  });

  it('inbox: one item per conversation, newest activity first', async () => {
    for (const p of peers) {
      const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: p.token, body: { recipient_id: owner.id } });
      await t.call('POST', `/api/chat/conversations/${open.body.id}/messages`, { token: p.token, body: { content: `hi from ${p.username}` } });
    }
    await t.tdb.syncReplicas();
    const { items } = await collect<{ other_user: { id: string }; unread_count: number; last_message_at: string }>('/api/chat/conversations', owner.token, 2);
    expect(items.map((i) => i.other_user.id)).toEqual(peers.map((p) => p.id).reverse());
    expect(items.every((i) => i.unread_count === 1)).toBe(true);
  });

  it('search: every match once across pages', async () => {
    for (const p of peers) {
      await t.call('PUT', '/api/profiles/me', { token: p.token, body: { interests: ['zither'], bio: 'I play the zither badly' } });
    }
    await t.tdb.syncReplicas();
    const byTag = await collect<{ id: string }>('/api/search?interests=zither', owner.token, 2);
    expect(byTag.items.map((i) => i.id).sort()).toEqual(peers.map((p) => p.id).sort());
    const byText = await collect<{ id: string }>('/api/search?q=zithers', owner.token, 3);
    expect(byText.items.map((i) => i.id).sort()).toEqual(peers.map((p) => p.id).sort());
  });

  it('search: a word that is an English stop word is searched too (a name such as Will)', async () => {
    const tag = `zq${process.pid}`;
    const [will, jane] = [await registerUser(t, 'stopw'), await registerUser(t, 'stopj')];
    await t.call('PUT', '/api/profiles/me', { token: will.token, body: { display_name: `Will ${tag}` } });
    await t.call('PUT', '/api/profiles/me', { token: jane.token, body: { display_name: `Jane ${tag}` } });
    await t.tdb.syncReplicas();
    // Before: `will` was dropped, so `will <tag>` found Jane too, and `will` alone found nobody.
    expect((await collect<{ id: string }>(`/api/search?q=will%20${tag}`, owner.token, 5)).items.map((i) => i.id)).toEqual([will.id]);
    expect((await collect<{ id: string }>(`/api/search?q=${tag}`, owner.token, 5)).items.map((i) => i.id).sort()).toEqual([will.id, jane.id].sort());
    expect((await collect<{ id: string }>('/api/search?q=will', owner.token, 50)).items.map((i) => i.id)).toContain(will.id);
  });

  it('search near a point: nearest first, every match once, none outside the radius', async () => {
    // Peer i lives (i + 1) × 0.01° north of the point, on the search's 0.01° grid: about 1.11 km apart.
    for (const [i, p] of peers.entries()) {
      await t.call('PUT', '/api/profiles/me', { token: p.token, body: { lat: 10 + (i + 1) * 0.01, lng: 20 } });
    }
    await t.tdb.syncReplicas();
    const near = await collect<{ id: string; distance_km: number }>('/api/search?lat=10&lng=20&radius_km=4.5', owner.token, 2);
    expect(near.items.map((i) => i.id)).toEqual(peers.slice(0, 4).map((p) => p.id));
    expect(near.items.map((i) => Math.round(i.distance_km))).toEqual([1, 2, 3, 4]);
  });

  it('relationships, comments and rooms', async () => {
    for (const p of peers.slice(0, 3)) await t.call('POST', `/api/social/favorite/${p.id}`, { token: owner.token });
    await t.call('POST', `/api/social/friend-request/${owner.id}`, { token: peers[4]?.token });
    const post = await t.call<{ id: string }>('POST', '/api/feed', { token: owner.token, body: { content: 'comment here' } });
    const commentIds: string[] = [];
    for (const p of peers) {
      const c = await t.call<{ id: string }>('POST', `/api/feed/${post.body.id}/comments`, { token: p.token, body: { content: `from ${p.username}` } });
      commentIds.push(c.body.id);
    }
    const admin = await t.tdb.admin();
    try {
      for (let i = 0; i < 5; i++) await admin.query(`INSERT INTO chat_rooms (id, name) VALUES ($1, $2)`, [uuidv7(), `room ${String.fromCharCode(101 - i)}`]);
    } finally {
      await admin.end();
    }
    await t.tdb.syncReplicas();

    const rel = await collect<{ user: { id: string }; kind: string; direction: string; status: string }>('/api/social/relationships', owner.token, 2);
    expect(rel.items.map((r) => `${r.direction}:${r.kind}:${r.status}`).sort()).toEqual(
      ['incoming:friend:pending', 'outgoing:favorite:accepted', 'outgoing:favorite:accepted', 'outgoing:favorite:accepted'].sort());
    const comments = await collect<{ id: string }>(`/api/feed/${post.body.id}/comments`, owner.token, 2);
    expect(comments.items.map((c) => c.id)).toEqual(commentIds);
    const rooms = await collect<{ name: string }>('/api/chat/rooms', owner.token, 2);
    expect(rooms.items.map((r) => r.name)).toEqual(['room a', 'room b', 'room c', 'room d', 'room e']);
  });
});

describe('following feed, both strategies', () => {
  it('few and many followed authors give the same answer as the definition', async () => {
    const authors: TestUser[] = [];
    for (let i = 0; i < 14; i++) authors.push(await registerUser(t, `author${i}`));
    const posts: Array<{ id: string; author: string }> = [];
    for (const a of authors) {
      for (let k = 0; k < 2; k++) {
        const p = await t.call<{ id: string }>('POST', '/api/feed', { token: a.token, body: { content: `${a.username} #${k}` } });
        posts.push({ id: p.body.id, author: a.id });
      }
    }
    const narrow = await registerUser(t, 'narrow');
    const wide = await registerUser(t, 'wide');
    await t.call('POST', `/api/social/favorite/${authors[0]?.id}`, { token: narrow.token });
    for (const a of authors.slice(0, 12)) await t.call('POST', `/api/social/favorite/${a.id}`, { token: wide.token });
    const admin = await t.tdb.admin();
    try {
      // The switch point is 2·√(estimated users); with ~40 users it is ~13 followed authors.
      await admin.query('ANALYZE users');
      const { rows } = await admin.query<{ n: number }>(`SELECT reltuples::int AS n FROM pg_class WHERE oid = 'users'::regclass`);
      const threshold = 2 * Math.sqrt(Math.max(rows[0]?.n ?? 1, 1));
      expect(2).toBeLessThanOrEqual(threshold);
      expect(13).toBeGreaterThan(threshold);
    } finally {
      await admin.end();
    }
    await t.tdb.syncReplicas();
    const expected = (followed: string[]) => posts.filter((p) => followed.includes(p.author)).map((p) => p.id).reverse();
    const n = await collect<{ id: string }>('/api/feed?type=following', narrow.token, 3);
    expect(n.items.map((p) => p.id)).toEqual(expected([authors[0]?.id ?? '']));
    const w = await collect<{ id: string }>('/api/feed?type=following', wide.token, 5);
    expect(w.items.map((p) => p.id)).toEqual(expected(authors.slice(0, 12).map((a) => a.id)));
  });
});

/** A UUIDv7 for a given moment (the app makes them at "now"; this test needs the past). */
function uuidAt(at: Date): string {
  const hex = at.getTime().toString(16).padStart(12, '0') + '7' + uuidv7().replace(/-/g, '').slice(13);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
