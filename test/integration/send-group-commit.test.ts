import crypto from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationService, DirectMessage } from '../../src/services/chat/conversations.service.ts';
import type { IdempotencyKey } from '../../src/services/idempotency.ts';
import type { Written } from '../../src/services/support.ts';
import { codeOf, inGroups } from '../helpers/group-commit.ts';
import { registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * App-level group commit of direct-message sends (issue 16; src/services/write-batcher.ts,
 * src/services/chat/direct-message-sender.ts), on the real stack. Sends started in one
 * event-loop turn leave as ONE group (one chat.send_messages statement), which the tests
 * check through the service's group counters, and then hold the group's rules to account:
 * nobody is answered before the commit, a failing or refused member fails alone, an
 * Idempotency-Key replays inside a group, and duplicate keys never share a group.
 * Row counts are read from PostgreSQL on a connection of the test's own.
 */
let t: TestApp;
let chat: ConversationService;
let probe: pg.Client;
let a: TestUser;
let b: TestUser;
let c: TestUser;
let d: TestUser;
let convAB: string;
let convAC: string;
let convAD: string;

async function open(from: TestUser, to: TestUser): Promise<string> {
  const res = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: from.token, body: { recipient_id: to.id } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
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

/** Messages whose text is `content`. */
const messagesWith = async (content: string): Promise<number> =>
  (await one<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE content = $1', [content])).n;

/**
 * A text the table's CHECK refuses (over its length limit) makes the group's statement fail
 * in PostgreSQL. Only a caller of the service can send it: the routes cap the length first, and
 * the service refuses U+0000 before grouping.
 */
const tooLong = (limit: number, stamp: string): string => `${'x'.repeat(limit)} ${stamp}`;

function keyOf(user: TestUser, key: string, content: string): IdempotencyKey {
  return { scope: user.id, key, fingerprint: crypto.createHash('sha256').update(content).digest() };
}

/** Polls `check` every 20 ms until it holds, at most `ms`; returns how long it took. */
async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}



const inGroupsOf = <T>(groups: number, members: number, fn: () => Promise<T>): Promise<T> => inGroups(() => chat.sendGroups, groups, members, fn);

beforeAll(async () => {
  t = await startTestApp('send_groups');
  chat = t.rt.deps.services.conversations;
  probe = await t.tdb.admin();
  [a, b, c, d] = [await registerUser(t, 'grp_a'), await registerUser(t, 'grp_b'), await registerUser(t, 'grp_c'), await registerUser(t, 'grp_d')];
  convAB = await open(a, b);
  convAC = await open(a, c);
  convAD = await open(a, d);
  const block = await t.call('POST', `/api/social/block/${a.id}`, { token: d.token });
  expect(block.status, JSON.stringify(block.body)).toBeLessThan(300);
});
afterAll(async () => {
  await probe?.end();
  await t?.close();
});

describe('group commit of message sends (real PostgreSQL)', () => {
  it('answers every caller only after its group committed, with at most maxInFlight statements in the database', async () => {
    // Hold the conversation's row: the group's statement locks it first and must wait.
    const holder = await t.tdb.admin();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [convAB]);
    const N = 20;
    let answered = 0;
    const visibleOnAnswer: number[] = [];
    const sends = inGroupsOf(1, N, () => Promise.all(Array.from({ length: N }, (_, i) =>
      chat.send(convAB, i % 2 === 0 ? a.id : b.id, `held until commit ${i}`).then(async (w) => {
        answered++;
        visibleOnAnswer.push((await one<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE id = $1', [w.value.id])).n);
        return w;
      }))));
    const waited = await waitFor('the group statement waits on the held row', async () =>
      (await one<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%chat.send_messages%'`)).n >= 1, 15_000);
    const running = (await one<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND query LIKE '%chat.send_messages%' AND pid <> pg_backend_pid()`)).n;
    console.log(`group statement blocked after ${waited} ms; ${running} send statement(s) in the database for ${N} pending sends; answered so far: ${answered}`);
    expect(answered).toBe(0);
    expect(running).toBeLessThanOrEqual(t.rt.deps.config.sendGrouping.maxInFlight);
    const released = Date.now();
    await holder.query('COMMIT');
    await holder.end();
    const results = await sends;
    console.log(`all ${N} answered ${Date.now() - released} ms after the row was released`);
    expect(visibleOnAnswer).toEqual(Array.from({ length: N }, () => 1));
    expect(new Set(results.map((w) => w.value.id)).size).toBe(N);
  });

  it('a member whose text PostgreSQL refuses fails alone; refused members (403, 404, BLOCKED) fail alone; the others are written', async () => {
    const stamp = crypto.randomUUID();
    const cases: ReadonlyArray<{ conv: string; sender: TestUser; content: string; expect: string | 'ok' }> = [
      { conv: convAB, sender: a, content: `fine 1 ${stamp}`, expect: 'ok' },
      { conv: convAB, sender: b, content: tooLong(4_000, stamp), expect: '23514' },
      { conv: convAB, sender: c, content: `not a member ${stamp}`, expect: 'FORBIDDEN' },
      { conv: convAC, sender: c, content: `fine 2 ${stamp}`, expect: 'ok' },
      { conv: crypto.randomUUID(), sender: a, content: `no such conversation ${stamp}`, expect: 'NOT_FOUND' },
      { conv: convAD, sender: a, content: `blocked ${stamp}`, expect: 'BLOCKED' },
      { conv: convAB, sender: b, content: `fine 3 ${stamp}`, expect: 'ok' },
    ];
    const started = Date.now();
    const results = await inGroupsOf(1, cases.length, () => Promise.allSettled(cases.map((x) => chat.send(x.conv, x.sender.id, x.content))));
    console.log(`a group of ${cases.length} with one failing and three refused members answered in ${Date.now() - started} ms`);
    const got = results.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)));
    expect(got).toEqual(cases.map((x) => x.expect));
    for (const x of cases) expect(await messagesWith(x.content)).toBe(x.expect === 'ok' ? 1 : 0);
  });

  it('refuses a text with U+0000 (or a lone surrogate) before grouping (VALIDATION_FAILED), so it never fails a group', async () => {
    const before = chat.sendGroups;
    const sent = await Promise.allSettled([chat.send(convAB, a.id, `nul \u0000 ${crypto.randomUUID()}`)]);
    expect(sent.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(['VALIDATION_FAILED']);
    // A lone surrogate too: the driver would store U+FFFD while the answer echoed the original.
    const lone = await t.call<{ error: { code: string; message: string } }>('POST', `/api/chat/conversations/${convAB}/messages`, { token: a.token, body: { content: `lone \ud800 ${crypto.randomUUID()}` } });
    expect(lone.status).toBe(400);
    expect(lone.body.error.message).toContain('lone surrogate');
    expect(chat.sendGroups.groups - before.groups).toBe(0);
    // A surrogate pair (an emoji) is a whole character.
    const pair = await t.call('POST', `/api/chat/conversations/${convAB}/messages`, { token: a.token, body: { content: `pair \ud83d\ude00 ${crypto.randomUUID()}` } });
    expect(pair.status).toBe(201);
  });

  it('keeps read state as if the group\'s sends had run one by one: one update per conversation and member row', async () => {
    const senders = [a, c, a, a, c];
    const sent = await inGroupsOf(1, senders.length, () => Promise.all(senders.map((s, i) => chat.send(convAC, s.id, `read state ${i} ${crypto.randomUUID()}`))));
    const newest = [...sent].sort((x, y) => (x.value.created_at === y.value.created_at
      ? (x.value.id < y.value.id ? -1 : 1) : (x.value.created_at < y.value.created_at ? -1 : 1))).at(-1);
    const conv = await one<{ last_message_id: string }>('SELECT last_message_id FROM conversations WHERE id = $1', [convAC]);
    expect(conv.last_message_id).toBe(newest?.value.id);
    const members = await probe.query<{ user_id: string; unread_count: number; last_read_at: string; last_message_at: string }>(
      `SELECT user_id, unread_count, to_char(last_read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_read_at,
              to_char(last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_message_at
       FROM conversation_members WHERE conversation_id = $1 ORDER BY user_id`, [convAC]);
    const lastOwn = (u: TestUser) => sent.filter((w) => w.value.sender_id === u.id).map((w) => w.value.created_at).sort().at(-1);
    for (const u of [a, c]) {
      const row = members.rows.find((r) => r.user_id === u.id);
      // A member's own message reads the conversation up to it: only the other's later ones stay unread.
      const own = lastOwn(u) ?? '';
      const unreadAfter = sent.filter((w) => w.value.sender_id !== u.id && w.value.created_at > own).length;
      expect(row).toEqual({ user_id: u.id, unread_count: unreadAfter, last_read_at: own, last_message_at: newest?.value.created_at });
    }
  });

  it('a reply reads the conversation: the replier\'s unread count drops to 0, the other\'s rises', async () => {
    const counts = async () => Object.fromEntries((await probe.query<{ user_id: string; unread_count: number }>(
      'SELECT user_id, unread_count FROM conversation_members WHERE conversation_id = $1', [convAB])).rows.map((r) => [r.user_id, r.unread_count]));
    await chat.markRead(convAB, a.id);
    await chat.markRead(convAB, b.id);
    await chat.send(convAB, b.id, `unanswered 1 ${crypto.randomUUID()}`);
    await chat.send(convAB, b.id, `unanswered 2 ${crypto.randomUUID()}`);
    expect(await counts()).toEqual({ [a.id]: 2, [b.id]: 0 });
    // Before: a's count stayed 2 while its last_read_at moved past both messages, so the
    // inbox showed answered messages as unread.
    await chat.send(convAB, a.id, `the answer ${crypto.randomUUID()}`);
    expect(await counts()).toEqual({ [a.id]: 0, [b.id]: 1 });
  });

  it('replays a recorded Idempotency-Key inside a group (and refuses the key for another body with 422) without touching the other members', async () => {
    const stamp = crypto.randomUUID();
    const k = keyOf(a, `replay-${stamp}`, `first ${stamp}`);
    const first = await chat.send(convAB, a.id, `first ${stamp}`, k);
    expect(first.replayed).toBe(false);
    const group = await inGroupsOf(1, 4, () => Promise.allSettled([
      chat.send(convAB, b.id, `other 1 ${stamp}`),
      chat.send(convAB, a.id, `first ${stamp}`, k),
      chat.send(convAB, a.id, `first ${stamp}`, keyOf(a, `fresh-${stamp}`, `first ${stamp}`)),
      chat.send(convAB, b.id, `other 2 ${stamp}`),
    ]));
    const [other1, replay, fresh, other2] = group.map((r) => (r.status === 'fulfilled' ? r.value : r.reason)) as Array<Written<DirectMessage>>;
    expect(replay).toMatchObject({ value: first.value, replayed: true });
    expect(fresh?.replayed).toBe(false);
    expect([other1?.replayed, other2?.replayed]).toEqual([false, false]);
    // The key's message once, plus the fresh key's own copy of the same text.
    expect(await messagesWith(`first ${stamp}`)).toBe(2);
    const reuse = await inGroupsOf(1, 2, () => Promise.allSettled([
      chat.send(convAB, a.id, `not the first ${stamp}`, keyOf(a, `replay-${stamp}`, `not the first ${stamp}`)),
      chat.send(convAB, b.id, `other 3 ${stamp}`),
    ]));
    expect(reuse.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(['IDEMPOTENCY_KEY_REUSED', 'ok']);
    expect(await messagesWith(`not the first ${stamp}`)).toBe(0);
  });

  it('announces each written member before answering it, alongside the marks; a member whose announcement fails fails alone, its message kept', async () => {
    const stamp = crypto.randomUUID();
    const announced = new Set<string>();
    // A listener of the app's own hooks (as the cache and real-time delivery are): it fails for one text.
    t.rt.deps.services.hooks.onDirectMessage(async ({ message }, lsn) => {
      if (!message.content.endsWith(stamp)) return;
      await new Promise((r) => setTimeout(r, 20)); // still running when the marks are done
      if (message.content.startsWith('fails')) throw new Error(`announcement refused ${stamp}`);
      expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      announced.add(message.id);
    });
    const texts = [`ok 1 ${stamp}`, `fails ${stamp}`, `ok 2 ${stamp}`];
    const answeredBeforeAnnounced: string[] = [];
    const results = await inGroupsOf(1, texts.length, () => Promise.allSettled(texts.map((x) => chat.send(convAB, a.id, x).then((w) => {
      if (!announced.has(w.value.id)) answeredBeforeAnnounced.push(w.value.content);
      return w;
    }))));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message)))).toEqual(['ok', `announcement refused ${stamp}`, 'ok']);
    expect(answeredBeforeAnnounced).toEqual([]);
    // The failed announcement came after the commit: its message is stored once, like the others.
    for (const x of texts) expect(await messagesWith(x)).toBe(1);
  });

  it('posts take the same path: one group, a replayed key inside it, a bad member failing alone, the others written once', async () => {
    const feed = t.rt.deps.services.feed;
    const stamp = crypto.randomUUID();
    const k = keyOf(c, `post-${stamp}`, `post first ${stamp}`);
    const first = await feed.post(c.id, `post first ${stamp}`, k);
    const before = feed.postGroups;
    const results = await Promise.allSettled([
      feed.post(a.id, `post 1 ${stamp}`),
      feed.post(c.id, `post first ${stamp}`, k),
      feed.post(b.id, tooLong(5_000, stamp)),
      feed.post(d.id, `post 2 ${stamp}`),
    ]);
    const after = feed.postGroups;
    expect({ groups: after.groups - before.groups, members: after.members - before.members }).toEqual({ groups: 1, members: 4 });
    expect(results.map((r) => (r.status === 'fulfilled' ? (r.value.replayed ? 'replayed' : 'ok') : codeOf(r.reason)))).toEqual(['ok', 'replayed', '23514', 'ok']);
    const replay = results[1];
    expect(replay?.status === 'fulfilled' && replay.value.value).toEqual(first.value);
    const posts = async (content: string) => (await one<{ n: number }>('SELECT count(*)::int AS n FROM status_updates WHERE content = $1', [content])).n;
    expect([await posts(`post 1 ${stamp}`), await posts(`post first ${stamp}`), await posts(tooLong(5_000, stamp)), await posts(`post 2 ${stamp}`)]).toEqual([1, 1, 0, 1]);
  });

  it('never puts two sends with one key in one group: concurrent duplicates write once and all get that answer; another body with the key is 422', async () => {
    const stamp = crypto.randomUUID();
    const k = keyOf(b, `dup-${stamp}`, `dup ${stamp}`);
    const DUPS = 5;
    const started = Date.now();
    // One group for the first duplicate and the two others, then one per further duplicate.
    const results = await inGroupsOf(DUPS, DUPS + 2, () => Promise.all([
      ...Array.from({ length: DUPS }, () => chat.send(convAB, b.id, `dup ${stamp}`, k)),
      chat.send(convAB, a.id, `beside 1 ${stamp}`),
      chat.send(convAC, c.id, `beside 2 ${stamp}`),
    ]));
    console.log(`${DUPS} duplicates of one key and 2 other sends answered in ${Date.now() - started} ms`);
    const dups = results.slice(0, DUPS);
    expect(new Set(dups.map((w) => w.value.id)).size).toBe(1);
    expect(dups.map((w) => w.replayed)).toEqual([false, ...Array.from({ length: DUPS - 1 }, () => true)]);
    expect(await messagesWith(`dup ${stamp}`)).toBe(1);
    expect(await messagesWith(`beside 1 ${stamp}`)).toBe(1);
    expect(await messagesWith(`beside 2 ${stamp}`)).toBe(1);

    const k2 = `race-${stamp}`;
    const race = await Promise.allSettled([
      chat.send(convAB, a.id, `body A ${stamp}`, keyOf(a, k2, `body A ${stamp}`)),
      chat.send(convAB, a.id, `body B ${stamp}`, keyOf(a, k2, `body B ${stamp}`)),
    ]);
    expect(race.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(['ok', 'IDEMPOTENCY_KEY_REUSED']);
    expect([await messagesWith(`body A ${stamp}`), await messagesWith(`body B ${stamp}`)]).toEqual([1, 0]);
  });

  it('a keyed member whose key a twin request still holds (another instance) gets 409; the other members of its group are written', async () => {
    const stamp = crypto.randomUUID();
    const k = keyOf(a, `held-${stamp}`, `held ${stamp}`);
    // The twin: a transaction elsewhere that recorded the key and has not committed yet.
    const twin = await t.tdb.admin();
    await twin.query('BEGIN');
    await twin.query(`INSERT INTO idempotency_keys (scope, key, fingerprint, response) VALUES ($1, $2, $3, '{}'::jsonb)`, [k.scope, k.key, k.fingerprint]);
    const started = Date.now();
    try {
      // The keyed member first, in the same conversation as another: run again alone, it
      // would hold the conversation's row while it waits on its key once more (CI saw the
      // member beside it time out behind it), so the unkeyed members run again first.
      const results = await inGroupsOf(1, 3, () => Promise.allSettled([
        chat.send(convAB, a.id, `held ${stamp}`, k),
        chat.send(convAB, b.id, `beside held 1 ${stamp}`),
        chat.send(convAC, c.id, `beside held 2 ${stamp}`),
      ]));
      console.log(`a group whose keyed member waited on a held key answered in ${Date.now() - started} ms (statement timeout ${t.rt.deps.config.pool.statementTimeoutMs} ms)`);
      expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(['IDEMPOTENCY_KEY_IN_USE', 'ok', 'ok']);
    } finally {
      await twin.query('ROLLBACK');
      await twin.end();
    }
    expect([await messagesWith(`beside held 1 ${stamp}`), await messagesWith(`held ${stamp}`), await messagesWith(`beside held 2 ${stamp}`)]).toEqual([1, 0, 1]);

    // A timeout with a keyed member that is NOT a key wait (the conversation's row held: the
    // database's load, as far as the group can tell) is still every member's 503, run once.
    const holder = await t.tdb.admin();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [convAB]);
    const loadedAt = Date.now();
    let loadedMs: number | undefined;
    try {
      const loaded = await Promise.allSettled([
        chat.send(convAB, b.id, `loaded 1 ${stamp}`),
        chat.send(convAB, a.id, `loaded 2 ${stamp}`, keyOf(a, `loaded-${stamp}`, `loaded 2 ${stamp}`)),
      ]);
      loadedMs = Date.now() - loadedAt;
      expect(loaded.map((r) => (r.status === 'fulfilled' ? 'ok' : codeOf(r.reason)))).toEqual(['57014', '57014']);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // Once: a second run of either member would have waited a whole statement timeout more.
    console.log(`a group timed out on a held conversation row, keyed member inside, answered in ${String(loadedMs)} ms`);
    expect(loadedMs ?? Infinity).toBeLessThan(2 * t.rt.deps.config.pool.statementTimeoutMs - 500);
    expect(await messagesWith(`loaded 1 ${stamp}`)).toBe(0);
  }, 60_000);
});
