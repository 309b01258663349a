import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Database } from '../../src/db/database.ts';
import { defineQuery } from '../../src/catalog/types.ts';
import type { RouteReason } from '../../src/db/replica-router.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { createPrivateStack, type PrivateStack } from '../helpers/private-stack.ts';

/**
 * What takes a replica out of rotation (issue 15): a replica that is busy, or a few KB behind
 * on WAL that holds no new commit, is not lagging; a stopped or really stuck one is. A private
 * stack, because one test stops a replica.
 */
const q = {
  // ~100,000 md5 calls: tens of ms of CPU per read, like a search on the large preset.
  busy: defineQuery({ name: 'rhtest.busy', description: 'test read', target: 'replica', sample: ['x'], sql: `SELECT count(*)::int AS n FROM rh_rows WHERE md5(id::text || $1) LIKE '0%'` }),
  count: defineQuery({ name: 'rhtest.count', description: 'test read', target: 'replica', sample: [], sql: 'SELECT count(*)::int AS n FROM rh_rows' }),
};

let ps: PrivateStack;

beforeAll(async () => {
  ps = await createPrivateStack('health', { setupSql: [
    'CREATE TABLE rh_rows (id int PRIMARY KEY)',
    'INSERT INTO rh_rows SELECT g FROM generate_series(1, 100000) g',
    // Analyzed now and never by autovacuum: an auto-analyze commits, and one landing while the
    // first test holds replay would make the replica really behind on a commit (CI saw it).
    'ANALYZE rh_rows',
    'ALTER TABLE rh_rows SET (autovacuum_enabled = off)',
  ] });
}, 120_000);

afterAll(async () => {
  await ps?.destroy();
});

/**
 * WAL without a commit record (no transaction id): what a vacuum, a checkpoint or a standby
 * snapshot sends between the sparse commits of a read-only workload.
 */
const NON_COMMIT_WAL = `SELECT pg_logical_emit_message(false, 'bgc-test', repeat('x', 8000))`;

async function until(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replica health: busy is not down', () => {
  it('a replica behind only on WAL without commits stays in rotation; stuck past BGC_REPLICA_MAX_LAG_MS it leaves', async () => {
    const db = new Database(ps.config({ BGC_REPLICA_POLL_MS: '100', BGC_REPLICA_MAX_LAG_MS: '2000' }), { applicationName: 'bgc-health-test' });
    const replica1 = () => db.router.snapshot().find((s) => s.node === 'replica1');
    const r1 = await connectNode(ps.stack.replicas[0]!.spec.port, 'bgc');
    const primary = await connectNode(ps.stack.layout.primaryPort, 'bgc');
    await db.start();
    try {
      await until(() => db.router.snapshot().every((s) => s.available), 5_000);
      // Replay held for a moment (as a busy standby's startup process is), and no commit
      // for longer than the lag limit: the replica's own figure, now() minus the last
      // replayed commit's time, would call the first unreplayed byte 2.5 s of lag.
      // The premise is that the primary writes no WAL meanwhile. Any record in that window (an
      // auto-analyze's commit, but also a checkpoint or a standby snapshot, which carry no
      // transaction id) leaves the replica truly unsure to be current: it has not replayed what
      // the primary had seconds ago. CI saw both, so an attempt whose hold saw the primary's WAL
      // insert position move is set aside and the hold tried again (at most 5 times, printed).
      const walInsert = async () => (await primary.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l;
      for (let attempt = 1; ; attempt++) {
        await until(() => replica1()?.available === true, 5_000);
        const walBefore = await walInsert();
        await r1.query('SELECT pg_wal_replay_pause()');
        await sleep(2_500);
        const walAfter = await walInsert();
        const caughtUp = (await r1.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [walBefore])).rows[0]?.ok === true;
        if (walAfter === walBefore && caughtUp) break;
        console.log(`[replica-health] attempt ${attempt}: the primary wrote WAL during the hold (${walBefore} -> ${walAfter}) or replay stopped short of ${walBefore} (${caughtUp ? 'no' : 'yes'}); holding again`);
        await r1.query('SELECT pg_wal_replay_resume()');
        if (attempt === 5) throw new Error('the primary wrote WAL during every hold: the scenario could not be set up');
      }
      await primary.query(NON_COMMIT_WAL);
      const sentAt = Date.now();
      let leftAt: number | undefined;
      while (Date.now() - sentAt < 1_200) {
        if (replica1()?.available === false) { leftAt ??= Date.now() - sentAt; break; }
        await sleep(20);
      }
      expect(leftAt, `replica1 left rotation ${leftAt} ms after a non-commit WAL record, lag ${replica1()?.lagMs} ms`).toBeUndefined();
      expect(replica1()?.lagMs).toBeLessThan(2_000);
      // Still held: now it has not replayed what the primary had 2 s ago, which may include
      // commits, so it leaves rotation (and comes back after replay resumes).
      await until(() => replica1()?.available === false, 4_000);
      await r1.query('SELECT pg_wal_replay_resume()');
      await until(() => replica1()?.available === true, 5_000);
    } finally {
      await r1.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await Promise.all([r1.end(), primary.end()]);
      await db.close();
    }
  });

  it('replicas saturated by 10 closed-loop readers stay in rotation (no fallback_unhealthy); a stopped one leaves at once, and no read fails', async () => {
    // The app's defaults (poll 500 ms, lag limit 2 s), as under `bgc bench --workload search`.
    const db = new Database(ps.config(), { applicationName: 'bgc-health-test' });
    const reasons = new Map<RouteReason, number>();
    db.setObserver({ onQuery: () => undefined, onRoute: (_name, d) => reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1) });
    const primary = await connectNode(ps.stack.layout.primaryPort, 'bgc');
    await db.start();
    let stop = false;
    let done = 0;
    let failed = 0;
    let outSamples = 0;
    try {
      await until(() => db.router.snapshot().every((s) => s.available), 5_000);
      const readers = Array.from({ length: 10 }, async (_, i) => {
        for (let n = 0; !stop; n++) {
          await db.query(q.busy, [`${i}-${n}`]).then(() => { done++; }, () => { failed++; });
        }
      });
      // Sparse WAL without commits beside the reads, as in a read-only benchmark.
      const wal = setInterval(() => { void primary.query(NON_COMMIT_WAL).catch(() => undefined); }, 300);
      const watch = setInterval(() => { if (db.router.snapshot().some((s) => !s.available)) outSamples++; }, 20);
      try {
        await sleep(6_000);
        const lag = db.router.snapshot().map((s) => `${s.node} ${Math.round(s.lagMs)} ms ${s.lastError ?? ''}`).join(', ');
        expect(reasons.get('fallback_unhealthy') ?? 0, `route reasons ${JSON.stringify(Object.fromEntries(reasons))}; ${lag}`).toBe(0);
        expect(outSamples, lag).toBe(0);
        expect(done).toBeGreaterThan(50);

        // A replica that is really down is still taken out, by the failed reads and by its probes.
        await ps.stack.replicas[1]!.stop('fast');
        const replica2 = () => db.router.snapshot().find((s) => s.node === 'replica2');
        await until(() => replica2()?.available === false, 2_000);
        await until(() => replica2()?.reachable === false, 5_000);
        const doneBefore = done;
        await sleep(1_000);
        expect(done).toBeGreaterThan(doneBefore);
        expect(replica2()?.available).toBe(false);
        expect(db.router.snapshot().find((s) => s.node === 'replica1')?.available).toBe(true);
      } finally {
        stop = true;
        clearInterval(wal);
        clearInterval(watch);
        await Promise.all(readers);
      }
      expect(failed).toBe(0);
      expect(await db.query<{ n: number }>(q.count, [])).toEqual([{ n: 100_000 }]);
    } finally {
      await primary.end();
      await db.close();
      if (!(await ps.stack.replicas[1]!.isRunning())) await ps.stack.replicas[1]!.start();
    }
  });
});
