import { describe, expect, it } from 'vitest';
import type { QueryContext } from '../../src/db/database.ts';
import type { ConversationsAfter, MemberConversationRow } from '../../src/cache/page-scopes.repository.ts';
import { SuspensionFanout, type SuspensionFanoutDeps, type SuspensionFanoutOptions } from '../../src/cache/page-suspension.ts';

/**
 * The fan-out after a suspension (src/cache/page-suspension.ts) with its reads and raises
 * faked: it pages through every conversation by keyset and raises each page's scopes at the
 * commit's position, answers the moderator within its bound whatever the database or Redis
 * do, never throws, and stops its background part at the TTL or on close.
 */
const USER = '00000000-0000-7000-8000-000000000001';

function conversations(n: number): MemberConversationRow[] {
  // Most recent first, as the statement orders them.
  return Array.from({ length: n }, (_, i) => ({
    id: `c${String(i).padStart(5, '0')}`,
    other_id: `u${String(i).padStart(5, '0')}`,
    last_message_at: new Date(Date.UTC(2026, 0, 1) - i * 1000).toISOString(),
  }));
}

/** A fake keyset over `rows`, recording each call's cursor and context. */
function keyset(rows: MemberConversationRow[], delay?: (call: number) => Promise<void>) {
  const calls: Array<{ after: ConversationsAfter; limit: number; ctx: QueryContext }> = [];
  const read = async (_userId: string, after: ConversationsAfter, limit: number, ctx: QueryContext): Promise<MemberConversationRow[]> => {
    calls.push({ after, limit, ctx });
    await delay?.(calls.length);
    const start = after.ts === 'infinity' ? 0 : rows.findIndex((r) => r.id === after.id) + 1;
    return rows.slice(start, start + limit);
  };
  return { calls, read };
}

function logs() {
  const lines: Array<{ level: 'info' | 'warn'; msg: string; obj: Record<string, unknown> }> = [];
  return {
    lines,
    log: {
      info: (obj: Record<string, unknown>, msg: string) => { lines.push({ level: 'info', msg, obj }); },
      warn: (obj: Record<string, unknown>, msg: string) => { lines.push({ level: 'warn', msg, obj }); },
    },
  };
}

const OPTS: SuspensionFanoutOptions = { pageSize: 100, answerWithinMs: 200, giveUpAfterMs: 10_000 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('SuspensionFanout', () => {
  it('raises every conversation\'s history and other member\'s inbox, and the account\'s own inbox, page by page at the commit\'s position', async () => {
    const rows = conversations(250);
    const ks = keyset(rows);
    const raised: Array<{ scopes: string[]; lsn: string | undefined }> = [];
    const { log } = logs();
    const deps: SuspensionFanoutDeps = { conversationsOf: ks.read, raise: async (scopes, lsn) => { raised.push({ scopes, lsn }); }, log };
    const report = await new SuspensionFanout(deps, OPTS).accountSuspended(USER, '0/5000');
    expect(report).toMatchObject({ userId: USER, conversations: 250, end: 'complete' });
    // Three statements (100, 100, 50), each after the last row of the one before, at the commit's position.
    expect(ks.calls.map((c) => c.after.id)).toEqual(['00000000-0000-0000-0000-000000000000', 'c00099', 'c00199']);
    expect(ks.calls.every((c) => c.ctx.minLsn === '0/5000' && c.limit === 100)).toBe(true);
    // One raise per page (and one for the account's own inbox), all at the commit's position.
    expect(raised.map((r) => r.scopes.length)).toEqual([1, 200, 200, 100]);
    expect(raised.every((r) => r.lsn === '0/5000')).toBe(true);
    const all = new Set(raised.flatMap((r) => r.scopes));
    expect(all.has(`i:${USER}`)).toBe(true);
    for (const r of rows) {
      expect(all.has(`c:${r.id}`)).toBe(true);
      expect(all.has(`i:${r.other_id}`)).toBe(true);
    }
  });

  it('reads from the primary when the commit\'s position is unknown', async () => {
    const ks = keyset(conversations(3));
    const { log } = logs();
    await new SuspensionFanout({ conversationsOf: ks.read, raise: async () => undefined, log }, OPTS).accountSuspended(USER, undefined);
    expect(ks.calls.map((c) => c.ctx)).toEqual([{ forcePrimary: true }]);
  });

  it('answers within its bound while the reads are slow, and finishes in the background', async () => {
    const ks = keyset(conversations(500), () => sleep(80));
    const raised: string[] = [];
    const { lines, log } = logs();
    const fanout = new SuspensionFanout({ conversationsOf: ks.read, raise: async (scopes) => { raised.push(...scopes); }, log }, OPTS);
    const started = Date.now();
    const report = await fanout.accountSuspended(USER, '0/10');
    const ms = Date.now() - started;
    expect(report).toBeUndefined();
    expect(ms).toBeLessThan(OPTS.answerWithinMs + 150);
    await fanout.close();
    // close() stopped it after its current step, or it had finished: either way it said so.
    const end = lines[lines.length - 1]?.obj.end;
    expect(['complete', 'closed']).toContain(end);
    if (end === 'complete') expect(raised).toHaveLength(1001);
    else expect(raised.length).toBeLessThan(1001);
  });

  it('gives up at giveUpAfterMs: the entries it did not reach have expired by then', async () => {
    const ks = keyset(conversations(1_000), () => sleep(30));
    const { lines, log } = logs();
    const fanout = new SuspensionFanout({ conversationsOf: ks.read, raise: async () => undefined, log }, { pageSize: 100, answerWithinMs: 1_000, giveUpAfterMs: 100 });
    const report = await fanout.accountSuspended(USER, '0/10');
    expect(report?.end).toBe('gave_up');
    expect(report?.conversations).toBeGreaterThan(0);
    expect(report?.conversations).toBeLessThan(1_000);
    expect(lines.some((l) => l.level === 'warn' && l.obj.end === 'gave_up')).toBe(true);
  });

  it('never throws: a failed read or raise is logged and the suspension\'s answer goes on', async () => {
    const { lines, log } = logs();
    const failingRead = new SuspensionFanout({
      conversationsOf: async () => { throw new Error('connection terminated'); }, raise: async () => undefined, log,
    }, OPTS);
    expect(await failingRead.accountSuspended(USER, '0/10')).toMatchObject({ end: 'failed', conversations: 0 });
    const failingRaise = new SuspensionFanout({
      conversationsOf: keyset(conversations(5)).read, raise: async () => { throw new Error('Command timed out'); }, log,
    }, OPTS);
    expect(await failingRaise.accountSuspended(USER, '0/10')).toMatchObject({ end: 'failed' });
    expect(lines.filter((l) => l.level === 'warn' && l.msg.includes('failed')).map((l) => l.obj.err)).toEqual(['connection terminated', 'Command timed out']);
  });

  it('answers within its bound when a read never returns', async () => {
    const { log } = logs();
    const fanout = new SuspensionFanout({ conversationsOf: () => new Promise<MemberConversationRow[]>(() => undefined), raise: async () => undefined, log }, OPTS);
    const started = Date.now();
    expect(await fanout.accountSuspended(USER, '0/10')).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(OPTS.answerWithinMs + 150);
  });
});
