import crypto from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthOf, partitionName } from '../../src/partitions/naming.ts';
import { collectPages, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * A send flood across the end of a month. Grouped sends (src/services/group-commit.ts) date
 * each message by the app's clock, and one group can hold messages from both sides of the
 * boundary, so one statement routes rows to two monthly partitions. The new month's
 * partition is dropped first, as if the premake job were late: the first group that needs it
 * fails in PostgreSQL, its members run alone, and `withPartitionRetry` creates the month.
 * Every client sends with an Idempotency-Key and sends a refused attempt again with the same
 * key, as the API asks of clients. Afterwards every acknowledged message is stored once, in
 * its own month's partition, and history pages walk across the boundary without a gap.
 *
 * Only the date sweep's month-end run (test/dates/sweep.ts) starts the clock just before a
 * month ends; it names that instant in BGC_SWEEP_MONTH_END. Anywhere else the month's end is
 * days away, and this file is skipped.
 */
const MONTH_END = process.env.BGC_SWEEP_MONTH_END;
/** The flood starts this long before the boundary and stops as long after it. */
const AROUND_MS = 2_500;
/** The set-up must leave at least this much before the flood starts, and the wait is bounded. */
const MIN_LEAD_MS = 500;
const MAX_LEAD_MS = 120_000;
const CONVERSATIONS = 4;
/** Two senders per member of each conversation: 16 at once. */
const SENDERS_PER_MEMBER = 2;
/** Each sender starts a send at most this often, so the flood spans the whole window on any machine. */
const SEND_EVERY_MS = 8;
const MAX_SENDS_PER_SENDER = Math.ceil((2 * AROUND_MS) / SEND_EVERY_MS) + 1;
const MAX_ATTEMPTS = 100;

interface Sent { readonly id: string; readonly conversationId: string; readonly content: string; readonly attempts: number }
interface Pair { readonly id: string; readonly members: readonly [TestUser, TestUser] }

let t: TestApp;
let probe: pg.Client;
const pairs: Pair[] = [];

describe.runIf(MONTH_END !== undefined)('sends across the end of a month (date sweep)', () => {
  const boundary = new Date(MONTH_END ?? 0);
  const newMonth = partitionName('messages', monthOf(boundary));

  beforeAll(async () => {
    t = await startTestApp('month_end');
    probe = await t.tdb.admin();
    for (let i = 0; i < CONVERSATIONS; i++) {
      const [a, b] = [await registerUser(t, `me_a${i}`), await registerUser(t, `me_b${i}`)];
      const res = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: a.token, body: { recipient_id: b.id } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      pairs.push({ id: res.body.id, members: [a, b] });
    }
    // As if the premake job were late: the month about to begin has no partition.
    await probe.query(`DROP TABLE IF EXISTS "${newMonth}"`);
  });
  afterAll(async () => {
    await probe?.end();
    await t?.close();
  });

  it('stores every acknowledged message once, in its month, with history unbroken across the boundary', async () => {
    const floodFrom = boundary.getTime() - AROUND_MS;
    const lead = floodFrom - Date.now();
    console.log(`[month end] ${MONTH_END}: set-up left ${lead} ms before the flood`);
    expect(lead, 'the sweep started too late for this file: start its month-end run earlier').toBeGreaterThan(MIN_LEAD_MS);
    expect(lead, 'the sweep started too early for this file: start its month-end run later').toBeLessThan(MAX_LEAD_MS);
    await new Promise((r) => setTimeout(r, lead));

    let refused = 0;
    const otherFailures: string[] = [];
    const sender = async (pair: Pair, member: TestUser, n: number): Promise<Sent[]> => {
      const out: Sent[] = [];
      for (let i = 0; i < MAX_SENDS_PER_SENDER && Date.now() < boundary.getTime() + AROUND_MS; i++) {
        const wait = floodFrom + i * SEND_EVERY_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const content = `${member.username} ${n} #${i}`;
        const key = crypto.randomUUID();
        for (let attempt = 1; ; attempt++) {
          const res = await t.call<{ id: string }>('POST', `/api/chat/conversations/${pair.id}/messages`, { token: member.token, body: { content }, headers: { 'idempotency-key': key } });
          if (res.status === 201) {
            out.push({ id: res.body.id, conversationId: pair.id, content, attempts: attempt });
            break;
          }
          if (res.status !== 503 || attempt >= MAX_ATTEMPTS) {
            otherFailures.push(`${res.status} after ${attempt} attempts: ${JSON.stringify(res.body)}`);
            break;
          }
          refused++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      return out;
    };
    const started = Date.now();
    const sent = (await Promise.all(pairs.flatMap((p) => p.members.flatMap((m) => Array.from({ length: SENDERS_PER_MEMBER }, (_, n) => sender(p, m, n)))))).flat();

    const rows = (await probe.query<{ id: string; conversation_id: string; content: string; created_at: Date; part: string }>(
      'SELECT id, conversation_id, content, created_at, tableoid::regclass::text AS part FROM messages WHERE conversation_id = ANY($1::uuid[])', [pairs.map((p) => p.id)])).rows;
    const before = rows.filter((r) => r.created_at < boundary).length;
    const stored = new Set(rows.map((r) => r.id));
    const byContent = new Map<string, number>();
    for (const r of rows) byContent.set(r.content, (byContent.get(r.content) ?? 0) + 1);
    const duplicated = [...byContent.values()].filter((n) => n > 1).length;
    console.log(`[month end] ${Date.now() - started} ms of sends: acknowledged ${sent.length}, retried ${sent.filter((s) => s.attempts > 1).length} (${refused} refusals), stored ${rows.length} (${before} before the boundary, ${rows.length - before} after), duplicated ${duplicated}`);

    expect(otherFailures).toEqual([]);
    expect(sent.filter((s) => !stored.has(s.id))).toEqual([]);
    expect(rows.length).toBe(sent.length);
    expect(duplicated).toBe(0);
    // The flood crossed the boundary, and the month it began in got its partition on demand.
    expect(before).toBeGreaterThan(0);
    expect(rows.length - before).toBeGreaterThan(0);
    expect(rows.filter((r) => r.part !== partitionName('messages', monthOf(r.created_at)))).toEqual([]);
    expect(rows.some((r) => r.part === newMonth)).toBe(true);

    // History walks from the new month into the old one: every message once, newest first.
    const lsn = (await probe.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
    for (const pair of pairs) {
      const expected = (await probe.query<{ id: string }>(
        'SELECT id FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC', [pair.id])).rows.map((r) => r.id);
      const pages = await collectPages<{ id: string }>(t, `/api/chat/conversations/${pair.id}/history`, pair.members[0].token, 50, 200, lsn);
      expect(pages.items.map((m) => m.id)).toEqual(expected);
      // The conversation's last message (the inbox's line) is the newest one.
      const last = (await probe.query<{ last_message_id: string }>('SELECT last_message_id FROM conversations WHERE id = $1', [pair.id])).rows[0];
      expect(last?.last_message_id).toBe(expected[0]);
    }
  }, MAX_LEAD_MS + 60_000);
});
