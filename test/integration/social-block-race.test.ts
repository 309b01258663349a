import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socialQueries } from '../../src/repositories/social.repository.ts';
import { expectError, registerUser, startTestApp, type TestApp, type TestUser } from '../helpers/app.ts';

/**
 * A block against a concurrent favourite or friend-accept between the same two users (real
 * PostgreSQL). A block must leave no friendship or favourite between them, whichever commits
 * first. Before the pair lock (social.pair_lock), each statement's checks read its own snapshot
 * and missed the other's uncommitted row: a favourite added while the block was uncommitted saw
 * no block and stayed beside it, and a block that ran while an accept was uncommitted deleted
 * the request row but not the reverse row the accept inserted.
 */
let t: TestApp;
let probe: pg.Client;

beforeAll(async () => {
  t = await startTestApp('social_block_race');
  probe = await t.tdb.admin();
});

afterAll(async () => {
  await probe?.end();
  await t?.close();
});

/** Polls until a backend other than the probe's waits on a lock, at most `ms`; returns how long it took, or -1. */
async function untilSomeoneWaitsOnALock(ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const { rows } = await probe.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
    if ((rows[0]?.n ?? 0) > 0) return Date.now() - started;
    if (Date.now() - started > ms) return -1;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The relationship rows between two users, either direction, as "from→to kind/status". */
async function edges(x: TestUser, y: TestUser): Promise<string[]> {
  const { rows } = await probe.query<{ e: string }>(
    `SELECT CASE WHEN user_id = $1 THEN 'x→y' ELSE 'y→x' END || ' ' || kind || '/' || status AS e FROM relationships
     WHERE (user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1) ORDER BY 1`, [x.id, y.id]);
  return rows.map((r) => r.e);
}

/**
 * Runs `op` of the social repository (the pair lock, then its statement) in a transaction on
 * its own connection and holds it open while `during` runs; commits after `during` has either
 * finished or been seen waiting on a lock.
 */
async function heldWrite(op: 'block' | 'friendAccept', userId: string, targetId: string, during: () => Promise<{ status: number }>): Promise<{ status: number; waitedMs: number }> {
  const writer = await t.tdb.admin();
  try {
    await writer.query('BEGIN');
    await writer.query(socialQueries.pairLock.text, [userId, targetId]);
    await writer.query(socialQueries[op].text, [userId, targetId]);
    const other = during();
    const settled = await Promise.race([other.then(() => 'done'), untilSomeoneWaitsOnALock(5_000).then((ms) => (ms >= 0 ? `waiting:${ms}` : 'neither'))]);
    await writer.query('COMMIT');
    const res = await other;
    const waitedMs = settled.startsWith('waiting:') ? Number(settled.slice(8)) : -1;
    console.log(`[social-block-race] ${op} held open; the concurrent request ${settled === 'done' ? 'finished without waiting' : `waited on a lock (seen after ${waitedMs} ms)`}, answered ${res.status}`);
    return { status: res.status, waitedMs };
  } finally {
    await writer.end();
  }
}

describe('a block against a concurrent relationship write', () => {
  it('a favourite sent while the block is uncommitted waits for it and is refused: no favourite stands beside the block', async () => {
    const [a, b] = [await registerUser(t, 'sbr_a1'), await registerUser(t, 'sbr_b1')];
    const res = await heldWrite('block', a.id, b.id, () => t.call('POST', `/api/social/favorite/${a.id}`, { token: b.token }));
    expect(res.status, 'the favourite is refused once the block has committed').toBe(403);
    expect(res.waitedMs).toBeGreaterThanOrEqual(0);
    expect(await edges(a, b)).toEqual(['x→y block/accepted']);
  });

  it('a block sent while an accept is uncommitted waits for it and removes both friendship rows', async () => {
    const [a, b] = [await registerUser(t, 'sbr_a2'), await registerUser(t, 'sbr_b2')];
    const asked = await t.call('POST', `/api/social/friend-request/${b.id}`, { token: a.token });
    expect(asked.status, JSON.stringify(asked.body)).toBeLessThan(300);
    // b accepts a's request (the request row becomes accepted, b→a is inserted), uncommitted; a blocks b meanwhile.
    const res = await heldWrite('friendAccept', b.id, a.id, () => t.call('POST', `/api/social/block/${b.id}`, { token: a.token }));
    expect(res.status).toBeLessThan(300);
    expect(res.waitedMs).toBeGreaterThanOrEqual(0);
    expect(await edges(a, b)).toEqual(['x→y block/accepted']);
  });
});

describe("a block against a concurrent join of the blocker's private group", () => {
  it('the join waits for the block and is refused: no request stands beside the block for the owner\'s moderators to see', async () => {
    const [owner, b] = [await registerUser(t, 'sbr_go'), await registerUser(t, 'sbr_gb')];
    const created = await t.call<{ id: string }>('POST', '/api/groups', { token: owner.token, body: { name: `Race ${process.pid}`, visibility: 'private' } });
    expect(created.status).toBe(201);
    const group = created.body.id;
    // The owner blocks b, uncommitted; b asks to join meanwhile. Before, the join's check missed
    // the uncommitted block and the block's delete missed the new request: both answered 200,
    // and b's request stayed pending beside the block.
    const res = await heldWrite('block', owner.id, b.id, () => t.call('POST', `/api/groups/${group}/join`, { token: b.token }));
    expect(res.status, 'the join is refused once the block has committed').toBe(403);
    expect(res.waitedMs).toBeGreaterThanOrEqual(0);
    const { rows } = await probe.query('SELECT 1 FROM group_join_requests WHERE group_id = $1 AND user_id = $2', [group, b.id]);
    expect(rows).toEqual([]);
  });
});

describe('rows left beside a block before the pair lock', () => {
  it('migration 0041 removes the friend rows and favourites beside a block, and only those', async () => {
    const [a, b, c] = await Promise.all([registerUser(t, 'sbr_m_a'), registerUser(t, 'sbr_m_b'), registerUser(t, 'sbr_m_c')]);
    // As rows written before the lock (or by the old seed) left them: b blocked a, a kept a
    // favourite of b and a friendship with b; a and c are friends with no block between them.
    await probe.query(`INSERT INTO relationships (user_id, target_id, kind, status) VALUES
      ($2, $1, 'block', 'accepted'), ($1, $2, 'favorite', 'accepted'), ($1, $2, 'friend', 'accepted'), ($2, $1, 'friend', 'accepted'),
      ($1, $3, 'friend', 'accepted'), ($3, $1, 'friend', 'accepted')`, [a.id, b.id, c.id]);
    await probe.query(readFileSync(path.join(import.meta.dirname, '../../migrations/0041_no_follow_beside_block.sql'), 'utf8'));
    expect(await edges(a, b)).toEqual(['y→x block/accepted']);
    expect(await edges(a, c)).toEqual(['x→y friend/accepted', 'y→x friend/accepted']);
  });
});

describe('a block against a send waiting for the conversation\'s row', () => {
  it('the block is answered only after a send that was already waiting, or the send is refused: never a message after the block\'s answer', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'sbr_s_a'), registerUser(t, 'sbr_s_b')]);
    const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: b.token, body: { recipient_id: a.id } });
    expect(open.status).toBe(201);
    const holder = await t.tdb.admin();
    const blocker = await t.tdb.admin();
    try {
      // Another group's statement holds the conversation's row.
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM conversations WHERE id = $1 FOR NO KEY UPDATE', [open.body.id]);
      const sent = t.call<{ id: string }>('POST', `/api/chat/conversations/${open.body.id}/messages`, { token: b.token, lsn: open.lsn, body: { content: 'sent while the row was held' } })
        .then((r) => ({ status: r.status }));
      expect(await untilSomeoneWaitsOnALock(5_000)).toBeGreaterThanOrEqual(0);
      // A blocks B meanwhile (the pair lock, then the block, as social.block runs).
      const blocked = (async () => {
        await blocker.query('BEGIN');
        await blocker.query(socialQueries.pairLock.text, [a.id, b.id]);
        await blocker.query(socialQueries.block.text, [a.id, b.id]);
        await blocker.query('COMMIT');
        // What the blocker can see once told the block stands.
        const seen = await blocker.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1`, [open.body.id]);
        return seen.rows[0]?.n ?? 0;
      })();
      const blockFirst = await Promise.race([blocked.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
      await holder.query('COMMIT');
      const [send, storedWhenBlockAnswered] = await Promise.all([sent, blocked]);
      const { rows } = await holder.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1`, [open.body.id]);
      console.log(`[social-block-race] send waiting on the row: block answered ${blockFirst ? 'before' : 'after'} the row was released; send ${send.status}, ${rows[0]?.n} message(s) stored, ${storedWhenBlockAnswered} when the block was answered`);
      // A message stored at all was stored before the block's answer.
      if (rows[0]?.n === 1) expect(storedWhenBlockAnswered).toBe(1);
      else expect(send.status).toBe(403);
      expect(blockFirst).toBe(false);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await blocker.query('ROLLBACK').catch(() => undefined);
      await Promise.all([holder.end(), blocker.end()]);
    }
  });

  it('a send that waits behind a block holding the row reads the block after the wait and is refused', async () => {
    const [a, b] = await Promise.all([registerUser(t, 'sbr_s2_a'), registerUser(t, 'sbr_s2_b')]);
    const open = await t.call<{ id: string }>('POST', '/api/chat/conversations', { token: b.token, body: { recipient_id: a.id } });
    const blocker = await t.tdb.admin();
    try {
      await blocker.query('BEGIN');
      await blocker.query(socialQueries.pairLock.text, [a.id, b.id]);
      await blocker.query(socialQueries.block.text, [a.id, b.id]);
      // The block's trigger holds the conversation's row until the commit.
      const sent = t.call('POST', `/api/chat/conversations/${open.body.id}/messages`, { token: b.token, lsn: open.lsn, body: { content: 'after the block' } });
      expect(await untilSomeoneWaitsOnALock(5_000)).toBeGreaterThanOrEqual(0);
      await blocker.query('COMMIT');
      expectError(await sent, 403, 'BLOCKED');
      const { rows } = await blocker.query<{ n: number; blocked: boolean }>(
        `SELECT (SELECT count(*)::int FROM messages WHERE conversation_id = $1) AS n, (SELECT blocked FROM conversations WHERE id = $1) AS blocked`, [open.body.id]);
      expect(rows[0]).toEqual({ n: 0, blocked: true });
      // Unblocking clears the flag.
      await blocker.query(socialQueries.unblock.text, [a.id, b.id]);
      expect((await blocker.query<{ blocked: boolean }>('SELECT blocked FROM conversations WHERE id = $1', [open.body.id])).rows[0]?.blocked).toBe(false);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  });
});

