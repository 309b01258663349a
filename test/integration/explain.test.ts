import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { defineQuery, type QueryDefInput } from '../../src/catalog/types.ts';
import { Database } from '../../src/db/database.ts';
import { runAudit } from '../../src/tools/explain/audit.ts';
import type { EntryReport } from '../../src/tools/explain/report.ts';
import { connectNode } from '../../src/tools/stack/postgres-node.ts';
import { REPLICA_PORTS } from '../helpers/constants.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * The audit's flags on plans made to raise them: a seq scan of a 20k-row scratch table,
 * messages partitions with and without a time bound, sorts and hashes squeezed into a
 * tiny work_mem, and correlated columns the planner cannot estimate. Entries are built
 * here with defineQuery and never registered in the global catalog.
 */
const SCRATCH_ROWS = 20_000;
const ROOM = '00000000-0000-7000-8000-00000000a001';
const USER = '00000000-0000-7000-8000-00000000b001';

let tdb: TestDatabase;
let admin: pg.Client;
let db: Database;

function entry(input: Partial<QueryDefInput> & Pick<QueryDefInput, 'name' | 'sql'>): ReturnType<typeof defineQuery> {
  return defineQuery({ description: `test entry ${input.name}`, target: 'primary', sample: [], ...input });
}

async function auditOne(def: ReturnType<typeof defineQuery>, settings?: Record<string, string>): Promise<{ e: EntryReport; ok: boolean }> {
  const { report } = await runAudit(db, [def], { settings });
  const e = report.entries[0];
  if (!e) throw new Error('no entry report');
  return { e, ok: report.summary.ok };
}

const flagsOf = (e: EntryReport) => e.findings.map((f) => `${f.flag}:${f.justified ? 'justified' : 'unjustified'}`);

/**
 * Waits (bounded, 60 s) until both replicas have replayed everything written so far. The
 * shared helper's syncReplicas connects to the new database on each replica, which fails
 * while a busy replica has not yet replayed the CREATE DATABASE, and gives up after 5 s.
 */
async function replicasCaughtUp(t: TestDatabase): Promise<void> {
  const a = await t.admin();
  const { rows } = await a.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn').finally(() => a.end());
  for (const port of REPLICA_PORTS) {
    const c = await connectNode(port);
    try {
      for (let i = 0; i < 600; i++) {
        const res = await c.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [rows[0]?.lsn]);
        if (res.rows[0]?.ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally { await c.end(); }
  }
}

beforeAll(async () => {
  tdb = await createTestDatabase('explain');
  admin = await tdb.admin();
  await admin.query(`CREATE TABLE explain_scratch (id int PRIMARY KEY, v text NOT NULL, a int, b int, c int, d int)`);
  await admin.query(`INSERT INTO explain_scratch SELECT i, md5(i::text), i % 10, i % 10, i % 10, i % 10 FROM generate_series(1, ${SCRATCH_ROWS}) i`);
  await admin.query(`CREATE TABLE explain_small (id int PRIMARY KEY, v text)`);
  await admin.query(`INSERT INTO explain_small SELECT i, i::text FROM generate_series(1, 500) i`);
  // Messages in the current and the previous month: two of the template's five partitions.
  await admin.query(`INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'x@example.com', 'explainer', 'x')`, [USER]);
  await admin.query(`INSERT INTO chat_rooms (id, name) VALUES ($1, 'explain')`, [ROOM]);
  await admin.query(
    `INSERT INTO messages (id, room_id, sender_id, content, created_at)
     SELECT gen_random_uuid(), $1, $2, 'm' || i, date_trunc('month', now()) - interval '20 days' + i * interval '1 minute'
     FROM generate_series(1, 3000) i`, [ROOM, USER]);
  await admin.query('ANALYZE');
  // Never analyzed (autovacuum off so it stays that way): one empty, one above the threshold.
  await admin.query(`CREATE TABLE explain_fresh (n int) WITH (autovacuum_enabled = false)`);
  await admin.query(`CREATE SCHEMA explain_other`);
  await admin.query(`CREATE TABLE explain_other.big (n int) WITH (autovacuum_enabled = false)`);
  await admin.query(`INSERT INTO explain_other.big SELECT i FROM generate_series(1, ${SCRATCH_ROWS}) i`);
  await replicasCaughtUp(tdb);
  db = new Database(tdb.config(), { applicationName: 'bgc-explain-test', lazy: true });
});

afterAll(async () => {
  await db?.close();
  await admin?.end();
  await tdb?.drop();
});

describe('bgc explain: sequential scans (SC-006)', () => {
  const scan = { name: 'test.scratch_scan', sql: `SELECT count(*) FROM explain_scratch WHERE v = $1`, sample: ['nope'] };

  it('flags a Seq Scan on a relation above 10k rows and fails the run', async () => {
    const { e, ok } = await auditOne(entry(scan));
    expect(e.error).toBeNull();
    expect(flagsOf(e)).toEqual(['seq_scan:unjustified']);
    expect(e.findings[0]?.detail).toContain('Seq Scan on explain_scratch');
    expect(e.shape.join('\n')).toContain('Seq Scan on explain_scratch');
    expect(e.buffers?.sharedHit).toBeGreaterThan(0);
    expect(ok).toBe(false);
  });

  it('accepts the same flag when the entry justifies it in writing, and passes the run', async () => {
    const { e, ok } = await auditOne(entry({ ...scan, justify: { seq_scan: 'Admin export reads the whole table on purpose.' } }));
    expect(flagsOf(e)).toEqual(['seq_scan:justified']);
    expect(e.findings[0]?.justification).toBe('Admin export reads the whole table on purpose.');
    expect(ok).toBe(true);
  });

  it('does not accept a justification written for a different flag', async () => {
    const { e, ok } = await auditOne(entry({ ...scan, justify: { disk_spill: 'irrelevant' } }));
    expect(flagsOf(e)).toEqual(['seq_scan:unjustified']);
    expect(ok).toBe(false);
  });

  it('sizes a never-analyzed table by a bounded count, and names relations outside public with their schema', async () => {
    const { e } = await auditOne(entry({ name: 'test.other_schema', sql: `SELECT count(*) FROM explain_other.big WHERE n = $1`, sample: [1] }));
    expect(e.findings.filter((f) => f.flag === 'seq_scan').map((f) => f.detail)).toEqual(['Seq Scan on explain_other.big, > 10,000 rows (counted), Filter: (big.n = 1)']);
    expect(e.notes).toEqual(['never analyzed (planner used default estimates): explain_other.big']);
  });

  it('leaves a Seq Scan on a small table and an index lookup on a big one alone', async () => {
    const small = await auditOne(entry({ name: 'test.small_scan', sql: `SELECT count(*) FROM explain_small WHERE v = $1`, sample: ['7'] }));
    expect(small.e.shape.join('\n')).toContain('Seq Scan on explain_small');
    expect(small.e.findings).toEqual([]);
    const byKey = await auditOne(entry({ name: 'test.by_key', sql: `SELECT v FROM explain_scratch WHERE id = $1`, sample: [42] }));
    expect(byKey.e.findings).toEqual([]);
    expect(byKey.e.rows).toBe(1);
  });
});

describe('bgc explain: partition pruning', () => {
  const history = `SELECT count(*) FROM messages WHERE room_id = $1`;

  it('a bounded query reads only the partitions of its time range', async () => {
    const { e, ok } = await auditOne(entry({
      name: 'test.bounded_history', timeBounded: true, target: 'replica',
      sql: `${history} AND created_at >= $2 AND created_at < $3`,
      sample: { sql: `SELECT '${ROOM}'::uuid, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'` },
    }));
    expect(e.error).toBeNull();
    expect(e.node).toBe('replica1');
    expect(e.partitions).toEqual([{ table: 'messages', total: 5, inPlan: 1, executed: 1 }]);
    expect(e.findings).toEqual([]);
    expect(ok).toBe(true);
  });

  it('a bound on now() is pruned at executor start-up and counts as pruned', async () => {
    // A two-week window around now() spans at most two of the five monthly partitions
    // (previous month to three ahead) on every date; a one-sided bound such as
    // now() - 7 days prunes nothing from the 1st to the 7th, when it reaches last month.
    const { e } = await auditOne(entry({
      name: 'test.recent_history', timeBounded: true, sample: [ROOM],
      sql: `${history} AND created_at >= now() - interval '7 days' AND created_at < now() + interval '7 days'`,
    }));
    expect(e.subplansRemoved).toBeGreaterThanOrEqual(3);
    expect(e.partitions[0]?.inPlan).toBeLessThanOrEqual(2);
    expect(e.findings.filter((f) => f.flag === 'no_pruning')).toEqual([]);
  });

  it('in generic-plan mode the same bound prunes at executor start-up', async () => {
    const def = entry({
      name: 'test.generic_history', timeBounded: true,
      sql: `${history} AND created_at >= $2 AND created_at < $3`,
      sample: { sql: `SELECT '${ROOM}'::uuid, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'` },
    });
    const { report } = await runAudit(db, [def], { planMode: 'generic' });
    const e = report.entries[0];
    expect(report.planMode).toBe('generic');
    expect(e?.error).toBeNull();
    expect(e?.subplansRemoved).toBe(4);
    expect(e?.partitions).toEqual([{ table: 'messages', total: 5, inPlan: 1, executed: 1 }]);
    expect(e?.findings).toEqual([]);
    // The prepared statement is gone again: the pooled connection carries nothing over.
    const left = await db.primary.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_prepared_statements`);
    expect(left.rows[0]?.n).toBe(0);
  });

  it('flags a time-bounded entry whose plan reads every partition', async () => {
    const { e, ok } = await auditOne(entry({ name: 'test.unbounded_history', timeBounded: true, sql: history, sample: [ROOM] }));
    expect(e.partitions).toEqual([{ table: 'messages', total: 5, inPlan: 5, executed: 5 }]);
    expect(flagsOf(e)).toEqual(['no_pruning:unjustified']);
    expect(ok).toBe(false);
  });

  it('does not ask entries that do not claim a time bound to prune', async () => {
    const { e } = await auditOne(entry({ name: 'test.all_history', sql: history, sample: [ROOM] }));
    expect(e.partitions[0]?.inPlan).toBe(5);
    expect(e.findings).toEqual([]);
  });
});

describe('bgc explain: spills and misestimates', () => {
  const justifiedScan = { seq_scan: 'test scratch table' };

  it('flags a sort that spills to disk under a tiny work_mem', async () => {
    const def = entry({ name: 'test.big_sort', sql: `SELECT id, v FROM explain_scratch ORDER BY v DESC`, justify: justifiedScan });
    const squeezed = await auditOne(def, { work_mem: '64kB' });
    expect(flagsOf(squeezed.e)).toEqual(['seq_scan:justified', 'disk_spill:unjustified']);
    expect(squeezed.e.findings[1]?.detail).toMatch(/^Sort: .*external/);
    expect(squeezed.ok).toBe(false);
    const roomy = await auditOne(def, { work_mem: '64MB' });
    expect(flagsOf(roomy.e)).toEqual(['seq_scan:justified']);
  });

  it('flags a hash join that needs more than one batch', async () => {
    const def = entry({
      name: 'test.big_hash', justify: justifiedScan,
      sql: `SELECT count(*) FROM explain_scratch x JOIN explain_scratch y ON x.v = y.v`,
    });
    const { e } = await auditOne(def, { work_mem: '64kB', enable_mergejoin: 'off' });
    const spills = e.findings.filter((f) => f.flag === 'disk_spill');
    expect(spills).toHaveLength(1);
    expect(spills[0]?.detail).toMatch(/^Hash: Hash Batches: \d+; wrote \d+ temp blocks$/);
  });

  it('flags row estimates off by more than 100× on correlated columns, once, where the error starts', async () => {
    const def = entry({
      name: 'test.correlated', justify: justifiedScan,
      sql: `SELECT id FROM explain_scratch WHERE a = $1 AND b = $1 AND c = $1 AND d = $1 ORDER BY id DESC`, sample: [3],
    });
    const { e } = await auditOne(def, { work_mem: '64MB' });
    const mis = e.findings.filter((f) => f.flag === 'misestimate');
    expect(mis).toHaveLength(1);
    expect(mis[0]?.detail).toMatch(/^Seq Scan on explain_scratch: estimated \d+ rows, actual 2,000 over 1 loop\(s\) \(\d+× under-estimate; 1 node\(s\) above inherit it\)$/);
    expect(e.rows).toBe(SCRATCH_ROWS / 10);
  });

  it('judges nested-loop inner sides per loop: one row expected, often none found, is not a misestimate', async () => {
    // Half of the 500 lookups find their row: the inner side averages 0.5 rows per loop
    // against an estimate of 1, although its totals (~250 vs 500) cross the row floor.
    const def = entry({
      name: 'test.per_loop', justify: justifiedScan,
      sql: `SELECT count(*) FROM explain_small s JOIN explain_scratch x ON x.id = s.id + ${SCRATCH_ROWS - 250}`,
    });
    const { e } = await auditOne(def, { enable_hashjoin: 'off', enable_mergejoin: 'off' });
    expect(e.shape.join('\n')).toMatch(/Index .*Scan on explain_scratch .*loops 500/);
    expect(e.findings).toEqual([]);
  });

  it('leaves the default estimates of a small never-analyzed table to a note, not a flag', async () => {
    const { e } = await auditOne(entry({ name: 'test.fresh', sql: `SELECT * FROM explain_fresh WHERE n > $1`, sample: [0] }));
    expect(e.rows).toBe(0);
    expect(e.findings).toEqual([]);
    expect(e.notes).toEqual(['never analyzed (planner used default estimates): explain_fresh']);
  });

  it('does not call a scan cut short by LIMIT a misestimate', async () => {
    const def = entry({ name: 'test.limited', justify: justifiedScan, sql: `SELECT id FROM explain_scratch WHERE a = $1 LIMIT 5`, sample: [3] });
    const { e } = await auditOne(def);
    expect(e.findings.filter((f) => f.flag === 'misestimate')).toEqual([]);
  });
});

describe('bgc explain: writes, errors and plan-only mode', () => {
  it('runs a writing entry in a rolled-back transaction on the primary', async () => {
    const def = entry({ name: 'test.insert_scratch', sql: `INSERT INTO explain_scratch (id, v) VALUES ($1, $2)`, sample: [SCRATCH_ROWS + 1, 'new'] });
    expect(def.writes).toBe(true);
    const { e, ok } = await auditOne(def);
    expect(e.error).toBeNull();
    expect(e.node).toBe('primary');
    expect(ok).toBe(true);
    // With a warm-up run first: two executions of one INSERT, each rolled back, so the
    // primary key never sees the sample row twice.
    const warmed = await runAudit(db, [def], { warmup: true });
    expect(warmed.report.entries[0]?.error).toBeNull();
    expect(warmed.report.warmup).toBe(true);
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM explain_scratch`);
    expect(rows[0]?.n).toBe(SCRATCH_ROWS);
  });

  it('reports an entry whose sample query finds no row as an error that fails the run', async () => {
    const def = entry({ name: 'test.no_sample', sql: `SELECT v FROM explain_scratch WHERE id = $1`, sample: { sql: `SELECT id FROM explain_scratch WHERE false` } });
    const { e, ok } = await auditOne(def);
    expect(e.error).toMatch(/EXPLAIN_NO_SAMPLE.*returned no row/);
    expect(ok).toBe(false);
  });

  it('with analyze off still flags seq scans and pruning from the plan alone', async () => {
    const def = entry({ name: 'test.plan_only', timeBounded: true, sql: `SELECT count(*) FROM explain_scratch, messages WHERE explain_scratch.v = messages.content` });
    const { report } = await runAudit(db, [def], { analyze: false });
    const e = report.entries[0];
    expect(e?.rows).toBeNull();
    expect(e?.executionMs).toBeNull();
    expect(e?.findings.map((f) => f.flag).sort()).toEqual(['no_pruning', 'seq_scan']);
  });
});
