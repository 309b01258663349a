import { Writable } from 'node:stream';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Database } from '../../src/db/database.ts';
import { SESSION_EXPIRY_JOB_NAME, expireSessions, sessionExpiryJob } from '../../src/jobs/session-expiry.job.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { SessionRepository } from '../../src/repositories/sessions.repository.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * The expired-session clean-up (src/jobs/session-expiry.job.ts) on real PostgreSQL: sessions
 * expired longer ago than the grace period go, revoked or not; those inside the grace period,
 * live ones and revoked-but-unexpired ones stay. Batches repeat until one comes back short,
 * and an aborted signal stops the loop between batches. Each session's group is its user_agent.
 */
let tdb: TestDatabase;
let db: Database;
let admin: pg.Client;
let repo: SessionRepository;
let userId: string;

const GRACE_HOURS = 24;

/** Inserts `n` sessions labelled `label`, expiring `expires` (an SQL interval from now) with optional revocation. */
async function insert(label: string, n: number, expires: string, revokedAgo?: string): Promise<void> {
  await admin.query(
    `INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, revoked_at, user_agent)
     SELECT gen_random_uuid(), $1, sha256(gen_random_uuid()::text::bytea), now() - interval '60 days',
            now() + $3::interval, now() - $4::interval, $2
     FROM generate_series(1, $5)`,
    [userId, label, expires, revokedAgo ?? null, n],
  );
}

/** Remaining sessions per label, e.g. { live: 2 }. */
async function remaining(): Promise<Record<string, number>> {
  const { rows } = await admin.query<{ label: string; n: number }>(
    `SELECT user_agent AS label, count(*)::int AS n FROM sessions GROUP BY user_agent ORDER BY user_agent`);
  return Object.fromEntries(rows.map((r) => [r.label, r.n]));
}

beforeAll(async () => {
  tdb = await createTestDatabase('session_expiry');
  admin = await tdb.admin();
  const { rows } = await admin.query<{ id: string }>(
    `INSERT INTO users (id, email, username, password_hash)
     VALUES (gen_random_uuid(), 'expiry@example.test', 'expiry', 'not-a-hash') RETURNING id`);
  userId = rows[0]?.id ?? '';
  db = new Database(tdb.config({ DATABASE_REPLICA_URLS: '' }), { applicationName: 'bgc-test-session-expiry' });
  await db.start();
  repo = new SessionRepository(db);
});

afterAll(async () => {
  await db?.close();
  await admin?.end();
  await tdb?.drop();
});

beforeEach(async () => {
  await admin.query('DELETE FROM sessions');
});

describe('session expiry', () => {
  it('deletes exactly the sessions expired longer ago than the grace period, revoked ones included, in batches', async () => {
    await insert('expired-long-ago', 3, '-30 days');
    await insert('expired-just-past-grace', 1, `-${GRACE_HOURS} hours -1 minute`);
    await insert('revoked-expired-long-ago', 2, '-10 days', '40 days');
    await insert('in-grace', 2, `-${GRACE_HOURS - 1} hours`);
    await insert('just-expired', 1, '-1 minute');
    await insert('live', 2, '30 days');
    await insert('revoked-live', 1, '5 days', '1 day');

    const spy = vi.spyOn(repo, 'expireBatch');
    try {
      const deleted = await expireSessions(repo, GRACE_HOURS, undefined, 2);
      expect(deleted).toBe(6);
      // 6 rows in batches of 2: three full batches, then an empty one ends the loop.
      expect(spy.mock.calls).toEqual([[GRACE_HOURS, 2], [GRACE_HOURS, 2], [GRACE_HOURS, 2], [GRACE_HOURS, 2]]);
      expect(await Promise.all(spy.mock.results.map((r) => r.value))).toEqual([2, 2, 2, 0]);
    } finally {
      spy.mockRestore();
    }
    expect(await remaining()).toEqual({ 'in-grace': 2, 'just-expired': 1, live: 2, 'revoked-live': 1 });
    // Nothing left to do: a second run deletes nothing.
    expect(await expireSessions(repo, GRACE_HOURS, undefined, 2)).toBe(0);
  });

  it('stops between batches once the signal is aborted', async () => {
    await insert('expired-long-ago', 7, '-30 days');
    await insert('live', 1, '30 days');

    const already = new AbortController();
    already.abort();
    expect(await expireSessions(repo, GRACE_HOURS, already.signal, 2)).toBe(0);
    expect(await remaining()).toEqual({ 'expired-long-ago': 7, live: 1 });

    // Aborted during the second batch: that batch completes, no third starts.
    const ac = new AbortController();
    const original = repo.expireBatch.bind(repo);
    const spy = vi.spyOn(repo, 'expireBatch').mockImplementation(async (graceHours, batch) => {
      const n = await original(graceHours, batch);
      if (spy.mock.calls.length === 2) ac.abort();
      return n;
    });
    try {
      expect(await expireSessions(repo, GRACE_HOURS, ac.signal, 2)).toBe(4);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
    expect(await remaining()).toEqual({ 'expired-long-ago': 3, live: 1 });

    // The next run picks up the rest.
    expect(await expireSessions(repo, GRACE_HOURS, undefined, 2)).toBe(3);
    expect(await remaining()).toEqual({ live: 1 });
  });

  it('the job: leader-only, hourly, 24 h grace by default, logs what it deleted', async () => {
    await insert('expired-long-ago', 2, '-30 days');
    await insert('in-grace', 1, '-23 hours');
    await insert('live', 1, '30 days');

    const job = sessionExpiryJob({ db });
    expect(job).toMatchObject({ name: SESSION_EXPIRY_JOB_NAME, intervalMs: 3_600_000, leaderOnly: true });
    const lines: Array<{ msg?: string; job?: string; deleted?: number }> = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg?: string }); done(); } });
    const logger = createLogger(tdb.config({ LOG_LEVEL: 'info' }), sink);
    await job.run({ signal: new AbortController().signal, instanceId: 'session-expiry-test', logger, startedAt: new Date() });

    expect(await remaining()).toEqual({ 'in-grace': 1, live: 1 });
    expect(lines.filter((l) => l.job === SESSION_EXPIRY_JOB_NAME)).toEqual([
      expect.objectContaining({ msg: 'expired sessions deleted', deleted: 2 }),
    ]);
  });
});
