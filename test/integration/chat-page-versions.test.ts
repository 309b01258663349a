import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRuntime, type Runtime } from '../../src/app/runtime.ts';
import { CacheKeys } from '../../src/cache/keys.ts';
import { PageVersions, paddedLsn } from '../../src/cache/page-versions.ts';
import { RedisHealth } from '../../src/cache/redis-connection.ts';
import type { Config } from '../../src/config/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { callRuntime as call, within } from '../helpers/runtime-calls.ts';
import { parseLsn } from '../../src/db/lsn.ts';
import { ConversationService } from '../../src/services/chat/conversations.service.ts';
import { WriteHooks } from '../../src/services/hooks.ts';
import { ConversationRepository } from '../../src/repositories/conversations.repository.ts';

/**
 * Issue 15: the inbox and history first pages live BGC_CACHE_CHAT_PAGE_TTL_MS (a minute
 * here) because a message raises its scopes' change position in Redis after it commits
 * (src/cache/page-versions.ts). Two instances on one primary, two replicas and Redis: a
 * recipient reading through the OTHER instance sees the new message on the first read with
 * the send's X-BGC-LSN and within about a second without it (printed), the writer sees
 * their own at once, and once the replicas are known to have replayed the change, warm reads
 * send no statement, even after an unrelated write of the reader's.
 */
let tdb: TestDatabase;
let config: Config;
let A: Runtime;
let B: Runtime;

/** B's router knows both replicas have replayed `lsn` (its rotation floor covers it). */
const replayedOnB = (lsn: string) => () => { const floor = B.deps.db.router.rotationFloorLsn(); return floor !== undefined && parseLsn(floor) >= parseLsn(lsn); };

/** Statements `rt` sent while `fn` ran. */
async function statements(rt: Runtime, fn: () => Promise<unknown>): Promise<number> {
  const byName = async () => {
    const m = new Map<string, number>();
    for (const v of (await rt.deps.metrics.dbQueryDuration.get()).values) {
      if (v.metricName === 'bgc_db_query_duration_seconds_count') m.set(String(v.labels.query), (m.get(String(v.labels.query)) ?? 0) + v.value);
    }
    return m;
  };
  const before = await byName();
  await fn();
  const sent = [...(await byName())].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, d]) => d > 0);
  if (sent.length > 0) console.log(`statements: ${JSON.stringify(Object.fromEntries(sent))}`);
  return sent.reduce((s, [, d]) => s + d, 0);
}

let seq = 0;
async function register(prefix: string): Promise<{ id: string; token: string; email: string }> {
  seq += 1;
  const username = `${prefix}_${process.pid}_${seq}`;
  const res = await call<{ token: string; user: { id: string } }>(A, 'POST', '/api/auth/register', undefined, { email: `${username}@example.test`, username, password: 'correct Horse 42' });
  expect(res.status).toBe(201);
  return { id: res.body.user.id, token: res.body.token, email: `${username}@example.test` };
}

interface Page<T> { items: T[] }
interface InboxItem { id: string; unread_count: number; last_message: { id: string } | null }
interface Message { id: string }

beforeAll(async () => {
  tdb = await createTestDatabase('chat_page_versions');
  config = tdb.config({ BGC_CACHE_PAGE_TTL_MS: '1000', BGC_CACHE_CHAT_PAGE_TTL_MS: '60000', BGC_CACHE_WARM_COUNT: '0' });
  A = await startRuntime(config, { listen: false });
  B = await startRuntime(config, { listen: false });
});

afterAll(async () => {
  await Promise.allSettled([A?.close(), B?.close()]);
  await tdb?.drop();
});

describe('chat first pages invalidated by change positions (issue 15)', () => {
  it('a recipient on another instance sees a new message with X-BGC-LSN at once, without it within a second; warm reads send no statement', async () => {
    const a = await register('pv_a');
    const b = await register('pv_b');
    const opened = await call<{ id: string }>(A, 'POST', '/api/chat/conversations', a.token, { recipient_id: b.id });
    expect(opened.status).toBeLessThan(300);
    const conv = opened.body.id;
    const inboxOfB = (lsn?: string) => call<Page<InboxItem>>(B, 'GET', '/api/chat/conversations', b.token, undefined, lsn);
    const historyOfB = (lsn?: string) => call<Page<Message>>(B, 'GET', `/api/chat/conversations/${conv}/history`, b.token, undefined, lsn);

    for (let round = 1; round <= 3; round++) {
      const sent = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: `message ${round}` });
      expect(sent.status).toBe(201);
      expect(sent.lsn).toBeDefined();
      const lsn = sent.lsn ?? '';
      // The first read after the answer, on the other instance, with the send's position.
      const inbox = await inboxOfB(lsn);
      expect(inbox.body.items[0]?.last_message?.id).toBe(sent.body.id);
      expect(inbox.body.items[0]?.unread_count).toBe(round);
      expect((await historyOfB(lsn)).body.items[0]?.id).toBe(sent.body.id);
      // Without a position: as fresh as a replica, within about a second (the short TTL).
      const seenMs = await within('the recipient sees the message without X-BGC-LSN', 10_000, async () => (await historyOfB()).body.items[0]?.id === sent.body.id
        && (await inboxOfB()).body.items[0]?.last_message?.id === sent.body.id);
      const replayMs = await within('B knows the replicas replayed the send', 10_000, replayedOnB(lsn));
      // The scoped entries load once the change is replayed, then serve with no statement.
      await inboxOfB();
      await historyOfB();
      const warm = await statements(B, async () => {
        for (let i = 0; i < 3; i++) {
          expect((await inboxOfB()).body.items[0]?.last_message?.id).toBe(sent.body.id);
          expect((await historyOfB()).body.items[0]?.id).toBe(sent.body.id);
        }
      });
      console.log(`round ${round}: seen without X-BGC-LSN after ${seenMs} ms, replayed as B knows it after ${replayMs} ms; 6 warm chat first-page reads: ${warm} statements`);
      expect(warm).toBe(0);
    }

    // The writer reading on the other instance: their own message at once (their read-your-writes mark).
    const own = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'own' });
    expect(own.status).toBe(201);
    const historyOfA = () => call<Page<Message>>(B, 'GET', `/api/chat/conversations/${conv}/history`, a.token);
    expect((await historyOfA()).body.items[0]?.id).toBe(own.body.id);
    // A write of theirs that changes neither page (a status update) leaves the entries in use.
    await within('B knows the replicas replayed the writer\'s message', 10_000, replayedOnB(own.lsn ?? ''));
    await within('the recipient sees the writer\'s message', 10_000, async () => (await inboxOfB()).body.items[0]?.last_message?.id === own.body.id);
    expect((await inboxOfB()).body.items[0]?.last_message?.id).toBe(own.body.id);
    expect((await historyOfB()).body.items[0]?.id).toBe(own.body.id);
    expect((await call(A, 'POST', '/api/feed', b.token, { content: 'unrelated' })).status).toBe(201);
    const afterPost = await statements(B, async () => {
      expect((await inboxOfB()).body.items[0]?.last_message?.id).toBe(own.body.id);
      expect((await historyOfB()).body.items[0]?.id).toBe(own.body.id);
    });
    console.log(`the recipient's chat first pages after a status update of theirs: ${afterPost} statements`);
    expect(afterPost).toBe(0);

    // A read (through A) raises B's inbox scope: B's instance drops its entry's unread count.
    expect((await call(A, 'POST', `/api/chat/conversations/${conv}/read`, b.token)).status).toBeLessThan(300);
    expect((await inboxOfB()).body.items[0]?.unread_count).toBe(0);
  });
});

describe('a scope whose change position Redis evicted', () => {
  it('the writer still sees their own message: an entry loaded before any recorded change must cover the reader\'s mark', async () => {
    const a = await register('pv_ev_a');
    const b = await register('pv_ev_b');
    const opened = await call<{ id: string }>(A, 'POST', '/api/chat/conversations', a.token, { recipient_id: b.id });
    expect(opened.status).toBeLessThan(300);
    const conv = opened.body.id;
    const redis = new Redis(config.redis.url);
    try {
      const keys = new CacheKeys(config.cache.namespace);
      const positions = [keys.pageVersion(`c:${conv}`), keys.pageVersion(`i:${a.id}`), keys.pageVersion(`i:${b.id}`)];
      await within('B knows the replicas replayed the conversation', 10_000, replayedOnB(opened.lsn ?? '0/0'));
      // No change recorded for the scopes: B loads and keeps the writer's pages against "none".
      await redis.del(...positions);
      const historyOfA = () => call<Page<Message>>(B, 'GET', `/api/chat/conversations/${conv}/history`, a.token);
      const inboxOfA = () => call<Page<InboxItem>>(B, 'GET', '/api/chat/conversations', a.token);
      expect((await historyOfA()).body.items).toEqual([]);
      expect((await inboxOfA()).body.items.find((c) => c.id === conv)?.last_message ?? null).toBeNull();
      const sent = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'then evicted' });
      expect(sent.status).toBe(201);
      // Redis evicts the positions the send raised (allkeys-lfu under memory pressure).
      await redis.del(...positions);
      // Before: B's entries looked current ("none" again) and the writer read pages without their message.
      expect((await historyOfA()).body.items[0]?.id).toBe(sent.body.id);
      expect((await inboxOfA()).body.items.find((c) => c.id === conv)?.last_message?.id).toBe(sent.body.id);
    } finally {
      redis.disconnect();
    }
  });
});

describe('a send answered from its Idempotency-Key record', () => {
  it('raises the recipient\'s inbox too: the first attempt committed but its instance died before announcing it', async () => {
    const a = await register('pv_ra');
    const b = await register('pv_rb');
    const opened = await call<{ id: string }>(A, 'POST', '/api/chat/conversations', a.token, { recipient_id: b.id });
    expect(opened.status).toBeLessThan(300);
    const conv = opened.body.id;
    const inboxOfB = () => call<Page<InboxItem>>(B, 'GET', '/api/chat/conversations', b.token);
    const first = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'before' });
    expect(first.status).toBe(201);
    // B holds the recipient's inbox page, loaded at a position that covers the first message.
    await within('B knows the replicas replayed the first message', 10_000, replayedOnB(first.lsn ?? ''));
    await within('B serves the first message from its inbox page', 10_000, async () => (await inboxOfB()).body.items[0]?.last_message?.id === first.body.id);

    // The first attempt: committed by an instance whose hooks never ran (it died after the commit).
    const key = { scope: a.id, key: `replay-${process.pid}`, fingerprint: crypto.createHash('sha256').update('same request').digest() };
    const silent = new ConversationService({ config, db: A.deps.db, logger: undefined, conversations: new ConversationRepository(A.deps.db), hooks: new WriteHooks() });
    const lost = await silent.send(conv, a.id, 'committed, never announced', key);
    // The client's retry on a live instance is answered from the record.
    const retry = await A.deps.services.conversations.send(conv, a.id, 'committed, never announced', key);
    expect(retry.replayed).toBe(true);
    expect(retry.value.id).toBe(lost.value.id);

    const seenMs = await within('the recipient\'s inbox on B shows the replayed message', 10_000,
      async () => (await inboxOfB()).body.items[0]?.last_message?.id === lost.value.id);
    console.log(`replayed send: the recipient's inbox on the other instance showed it after ${seenMs} ms (its page lives 60 s)`);
  });
});

describe('a message a moderator hides', () => {
  it('leaves the recipient\'s cached history and inbox on the other instance within about a second, not at the 60 s TTL', async () => {
    const a = await register('pv_h_a');
    const b = await register('pv_h_b');
    const m = await register('pv_h_mod');
    const admin = await tdb.admin();
    try {
      await admin.query('UPDATE users SET is_superuser = true WHERE id = $1', [m.id]);
    } finally {
      await admin.end();
    }
    // A fresh session, so no cached session of the moderator predates the flag.
    const login = await call<{ token: string }>(A, 'POST', '/api/auth/login', undefined, { email: m.email, password: 'correct Horse 42' });
    expect(login.status).toBe(200);
    const mod = login.body.token;

    const opened = await call<{ id: string }>(A, 'POST', '/api/chat/conversations', a.token, { recipient_id: b.id });
    expect(opened.status).toBeLessThan(300);
    const conv = opened.body.id;
    const inboxOfB = () => call<Page<InboxItem>>(B, 'GET', '/api/chat/conversations', b.token);
    const historyOfB = () => call<Page<Message>>(B, 'GET', `/api/chat/conversations/${conv}/history`, b.token);
    const kept = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'hello' });
    expect(kept.status).toBe(201);
    const bad = await call<Message>(A, 'POST', `/api/chat/conversations/${conv}/messages`, a.token, { content: 'something nasty' });
    expect(bad.status).toBe(201);
    // B holds the recipient's pages, loaded against the send's position once the replicas replayed it.
    await within('B knows the replicas replayed the message', 10_000, replayedOnB(bad.lsn ?? ''));
    await within('B serves the message from the recipient\'s pages', 10_000, async () => (await historyOfB()).body.items[0]?.id === bad.body.id
      && (await inboxOfB()).body.items[0]?.last_message?.id === bad.body.id);
    const warm = await statements(B, async () => {
      expect((await historyOfB()).body.items[0]?.id).toBe(bad.body.id);
      expect((await inboxOfB()).body.items[0]?.unread_count).toBe(2);
    });
    expect(warm).toBe(0);

    // The recipient reports it; a moderator hides it, through the other instance.
    const reported = await call<{ created: boolean }>(A, 'POST', '/api/moderation/reports', b.token, { target_type: 'message', target_id: bad.body.id, reason: 'harassment' });
    expect(reported.status).toBeLessThan(300);
    const queue = await call<Page<{ id: string; target: { id: string } }>>(A, 'GET', '/api/moderation/queue?limit=100', mod, undefined, reported.lsn);
    expect(queue.status).toBe(200);
    const mc = queue.body.items.find((c) => c.target.id === bad.body.id);
    expect(mc).toBeDefined();
    const resolved = await call<{ hidden: boolean }>(A, 'POST', `/api/moderation/cases/${mc?.id ?? ''}/resolve`, mod, { action: 'hide' });
    expect(resolved.status).toBe(200);
    expect(resolved.body.hidden).toBe(true);

    // Before: B served its entries (loaded against the send's position) for their 60 s.
    const goneMs = await within('the hidden message leaves the recipient\'s history and inbox on B', 5_000, async () => {
      const h = await historyOfB();
      const i = await inboxOfB();
      return h.body.items[0]?.id === kept.body.id && !h.body.items.some((x) => x.id === bad.body.id)
        && i.body.items[0]?.last_message === null && i.body.items[0]?.unread_count === 1;
    });
    console.log(`moderator's hide: the recipient's history and inbox on the other instance dropped the message after ${goneMs} ms (their pages live 60 s)`);
  });
});

describe('PageVersions on real Redis', () => {
  it('keeps the highest position whatever order the raises arrive in; an unknown position wins; keys expire', async () => {
    const redis = new Redis(config.redis.url);
    const health = new RedisHealth(redis);
    try {
      await health.waitReady(5_000);
      const keys = new CacheKeys(`${config.cache.namespace}:pv-test`);
      const versions = new PageVersions(redis, health, keys, () => true, 60_000);
      const scope = `c:${process.pid}`;
      expect(await versions.read(scope)).toEqual({ kind: 'none' });
      await versions.raise([scope], '1/20');
      await versions.raise([scope], '0/FFFFFFFF');
      await versions.raise([scope], '1/3');
      expect(await versions.read(scope)).toEqual({ kind: 'at', value: paddedLsn('1/20') });
      expect(paddedLsn('1/20')).toBe('00000001/00000020');
      // Concurrent raises from many writers: the maximum stands.
      await Promise.all(Array.from({ length: 50 }, (_, i) => versions.raise([scope, `i:${process.pid}`], `2/${(i * 7919 % 50).toString(16)}`)));
      expect(await versions.read(scope)).toEqual({ kind: 'at', value: paddedLsn('2/31') });
      expect(await versions.read(`i:${process.pid}`)).toEqual({ kind: 'at', value: paddedLsn('2/31') });
      await versions.raise([scope], undefined);
      await versions.raise([scope], '3/0');
      expect(await versions.read(scope)).toEqual({ kind: 'unknown' });
      // Unverified Redis (the master guard holding): nothing can be trusted.
      expect(await new PageVersions(redis, health, keys, () => false, 60_000).read(scope)).toEqual({ kind: 'unavailable' });

      const short = new PageVersions(redis, health, keys, () => true, 200);
      const brief = `c:brief-${process.pid}`;
      await short.raise([brief], '0/10');
      const started = Date.now();
      while ((await short.read(brief)).kind !== 'none' && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
      console.log(`a position kept 200 ms was gone after ${Date.now() - started} ms`);
      expect(await short.read(brief)).toEqual({ kind: 'none' });
      await redis.del(keys.pageVersion(scope), keys.pageVersion(`i:${process.pid}`));
    } finally {
      redis.disconnect();
    }
  });

  it('reads a scope whose raise is still waiting here as unavailable, even once the breaker closed', async () => {
    const redis = new Redis(config.redis.url);
    const health = new RedisHealth(redis);
    const keys = new CacheKeys(`${config.cache.namespace}:pv-pending`);
    const versions = new PageVersions(redis, health, keys, () => true, 60_000);
    versions.stop(); // no retry timer: the raise stays waiting
    try {
      await health.waitReady(5_000);
      const scope = `c:pending-${process.pid}`;
      health.noteFailure(new Error('Command timed out'));
      await versions.raise([scope], '6/10');
      expect(versions.pendingCount).toBe(1);
      const ms = await within('the breaker closed', 10_000, async () => health.ready);
      console.log(`breaker closed after ${ms} ms`);
      // Before: 'none' (Redis never got the raise), and an entry of the old position was current.
      expect(await versions.read(scope)).toEqual({ kind: 'unavailable' });
      expect(await versions.read(`c:other-${process.pid}`)).toEqual({ kind: 'none' });
    } finally {
      redis.disconnect();
    }
  });

  it('sends a raise made while this instance\'s breaker was open once the breaker closes', async () => {
    const redis = new Redis(config.redis.url);
    const health = new RedisHealth(redis);
    const keys = new CacheKeys(`${config.cache.namespace}:pv-breaker`);
    const versions = new PageVersions(redis, health, keys, () => true, 60_000);
    try {
      await health.waitReady(5_000);
      const scope = `c:breaker-${process.pid}`;
      // One command of this instance timed out: its breaker opens for a second, Redis is fine.
      health.noteFailure(new Error('Command timed out'));
      expect(health.ready).toBe(false);
      await versions.raise([scope], '5/10');
      await versions.raise([scope], '5/8');
      expect(versions.pendingCount).toBe(1);
      expect(await redis.get(keys.pageVersion(scope))).toBeNull();
      const ms = await within('the remembered raise reaches Redis', 10_000, async () => (await redis.get(keys.pageVersion(scope))) === paddedLsn('5/10'));
      console.log(`a raise made with the breaker open reached Redis after ${ms} ms`);
      expect(versions.pendingCount).toBe(0);
      await redis.del(keys.pageVersion(scope));
    } finally {
      versions.stop();
      redis.disconnect();
    }
  });
});
