import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Issue 15: the first pages of the inbox, a conversation's history and both feeds come
 * from the cache (src/cache/page-cache.ts) on real PostgreSQL (a primary and two streaming
 * replicas) and Redis, and read-your-writes still holds. The page TTL is one minute here,
 * so a fresh answer right after a write can only come from the position check, never from
 * an entry that happened to expire.
 */
let tdb: TestDatabase;
let rt: Runtime;

interface Res<T> { status: number; body: T; lsn: string | undefined }
async function call<T>(method: 'GET' | 'POST', url: string, token?: string, body?: unknown, lsn?: string): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (lsn) headers['x-bgc-lsn'] = lsn;
  const res = await rt.app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  const got = res.headers['x-bgc-lsn'];
  return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T, lsn: typeof got === 'string' ? got : undefined };
}

/** Statements the runtime sent while `fn` ran, by catalog name. */
async function statements(fn: () => Promise<unknown>): Promise<{ total: number; names: Record<string, number> }> {
  const read = async () => {
    const byName: Record<string, number> = {};
    for (const v of (await rt.deps.metrics.dbQueryDuration.get()).values) {
      if (v.metricName === 'bgc_db_query_duration_seconds_count') byName[String(v.labels.query)] = (byName[String(v.labels.query)] ?? 0) + v.value;
    }
    return byName;
  };
  const before = await read();
  await fn();
  const after = await read();
  const names: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) names[k] = v - (before[k] ?? 0);
  return { total: Object.values(names).reduce((s, v) => s + v, 0), names };
}

let seq = 0;
async function register(prefix: string): Promise<{ id: string; token: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const res = await call<{ token: string; user: { id: string } }>('POST', '/api/auth/register', undefined, { email: `${username}@example.test`, username, password: 'correct Horse 42' });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token };
}

interface Page<T> { items: T[]; next_cursor: string | null }
interface InboxItem { id: string; last_message: { id: string } | null; unread_count: number }
interface Message { id: string }
interface Post { id: string; author: { id: string } }

beforeAll(async () => {
  tdb = await createTestDatabase('first_pages');
  rt = await startRuntime(tdb.config({ BGC_CACHE_PAGE_TTL_MS: '60000', BGC_CACHE_WARM_COUNT: '0' }), { listen: false });
});

afterAll(async () => {
  await rt?.close();
  await tdb?.drop();
});

describe('first pages from the cache (issue 15)', () => {
  it('inbox and history: a warm read sends no statement; the sender sees their message at once, the recipient with X-BGC-LSN too', async () => {
    const a = await register('fp_a');
    const b = await register('fp_b');
    const opened = await call<{ id: string }>('POST', '/api/chat/conversations', a.token, { recipient_id: b.id });
    expect(opened.status).toBeLessThan(300);
    const conv = opened.body.id;
    const first = await call<Message>('POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'first' });
    expect(first.status).toBe(201);

    // Loaded once, then answered from the entry: no statement at all (the session is cached too).
    const inboxOf = (who: { token: string }, lsn?: string) => call<Page<InboxItem>>('GET', '/api/chat/conversations', who.token, undefined, lsn);
    const historyOf = (who: { token: string }, lsn?: string) => call<Page<Message>>('GET', `/api/chat/conversations/${conv}/history`, who.token, undefined, lsn);
    expect((await inboxOf(a)).body.items[0]?.last_message?.id).toBe(first.body.id);
    expect((await historyOf(a)).body.items.map((m) => m.id)).toEqual([first.body.id]);
    const warm = await statements(async () => {
      for (let i = 0; i < 5; i++) {
        expect((await inboxOf(a)).status).toBe(200);
        expect((await historyOf(a)).status).toBe(200);
      }
    });
    console.log(`10 warm first-page reads (inbox, history): ${warm.total} statements ${JSON.stringify(warm.names)}`);
    expect(warm.total).toBe(0);

    // B's pages are cached before A writes again.
    expect((await inboxOf(b)).body.items[0]?.last_message?.id).toBe(first.body.id);
    expect((await historyOf(b)).body.items[0]?.id).toBe(first.body.id);

    const second = await call<Message>('POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'second' });
    expect(second.status).toBe(201);
    // The writer: entries older than their write are never served to them.
    expect((await inboxOf(a)).body.items[0]?.last_message?.id).toBe(second.body.id);
    expect((await historyOf(a)).body.items[0]?.id).toBe(second.body.id);
    // The recipient told of the message (real time carries its LSN): never an older page.
    expect((await inboxOf(b, second.lsn)).body.items[0]?.last_message?.id).toBe(second.body.id);
    expect((await historyOf(b, second.lsn)).body.items[0]?.id).toBe(second.body.id);
  });

  it('global feed: one shared head for every viewer, each viewer\'s blocks applied, the poster sees their post at once', async () => {
    const author = await register('fp_author');
    const blocker = await register('fp_blocker');
    expect((await call('POST', `/api/social/block/${author.id}`, blocker.token)).status).toBeLessThan(300);
    const post = await call<Post>('POST', '/api/feed', author.token, { content: 'hello everyone' });
    expect(post.status).toBe(201);
    // The poster at once, whatever was cached before.
    expect((await call<Page<Post>>('GET', '/api/feed?type=global', author.token)).body.items[0]?.id).toBe(post.body.id);

    // A later user (their registration is the newest write) loads the shared head...
    const reader = await register('fp_reader');
    const global = (who: { token: string }) => call<Page<Post>>('GET', '/api/feed?type=global', who.token);
    const forReader = await global(reader);
    expect(forReader.body.items.map((p) => p.id)).toContain(post.body.id);
    const warm = await statements(async () => { for (let i = 0; i < 5; i++) expect((await global(reader)).status).toBe(200); });
    console.log(`5 warm global-feed reads: ${warm.total} statements ${JSON.stringify(warm.names)}`);
    expect(warm.total).toBe(0);

    // ...and the blocker, whose own last write is older than the head, is served from it
    // without the blocked author's post.
    const forBlocker = await statements(async () => {
      const res = await global(blocker);
      expect(res.status).toBe(200);
      expect(res.body.items.map((p) => p.author.id)).not.toContain(author.id);
    });
    console.log(`the blocker's global feed: ${forBlocker.total} statements ${JSON.stringify(forBlocker.names)}`);
    expect(forBlocker.names['feed.global_head'] ?? 0).toBe(0);
    expect(forBlocker.names['feed.global'] ?? 0).toBe(0);
  });

  it('following feed: the follower with X-BGC-LSN sees a new post at once; a warm read sends no statement', async () => {
    const author = await register('fp_followed');
    const follower = await register('fp_follower');
    expect((await call('POST', `/api/social/favorite/${author.id}`, follower.token)).status).toBeLessThan(300);
    const following = (lsn?: string) => call<Page<Post>>('GET', '/api/feed?type=following', follower.token, undefined, lsn);
    expect((await following()).body.items).toEqual([]);
    const warm = await statements(async () => { for (let i = 0; i < 5; i++) expect((await following()).status).toBe(200); });
    expect(warm.total).toBe(0);

    const post = await call<Post>('POST', '/api/feed', author.token, { content: 'for my followers' });
    expect(post.status).toBe(201);
    // Without a position the follower may see the cached page (as from a lagging replica);
    // with the post's position, never.
    expect((await following(post.lsn)).body.items.map((p) => p.id)).toEqual([post.body.id]);
    // The author's own following feed includes their post at once.
    expect((await call<Page<Post>>('GET', '/api/feed?type=following', author.token)).body.items[0]?.id).toBe(post.body.id);
  });
});
