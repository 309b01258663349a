import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { allQueries } from '../../src/catalog/all.ts';
import type { QueryDef } from '../../src/catalog/types.ts';
import { Database } from '../../src/db/database.ts';
import { runAudit } from '../../src/tools/explain/audit.ts';
import type { AuditReport, EntryReport } from '../../src/tools/explain/report.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/**
 * Issue 14: `bgc explain` against a primary-only DATABASE_URL.
 * - system.replica_status calls pg_is_wal_replay_paused(), which fails on a primary with
 *   55000 "recovery is not in progress": standby-only entries are skipped with a note when
 *   no standby is configured, and the run passes.
 * - dashboard.live_statements scans pg_stat_statements(); with a few hundred statements
 *   recorded for the database its Function Scan was flagged as a 372× misestimate. The
 *   server's statistics size must not fail the audit.
 */
const ENTRIES = ['system.replica_status', 'system.replayed_past', 'system.ping', 'dashboard.live_statements'];
/** Distinct statements recorded in pg_stat_statements for the test database: "a few hundred". */
const STATEMENTS = 400;

let tdb: TestDatabase;
let cli: { code: number | null; report: AuditReport; stderr: string; ms: number };

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = path.resolve(import.meta.dirname, '../../bin/bgc.js');
  const base: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'test' };
  delete base.DATABASE_REPLICA_URLS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const entry = (name: string): EntryReport => {
  const e = cli.report.entries.find((x) => x.name === name);
  if (!e) throw new Error(`no report for ${name}`);
  return e;
};

beforeAll(async () => {
  tdb = await createTestDatabase('explain_primary');
  const admin = await tdb.admin();
  try {
    // Each statement has a different number of output columns, so each is its own
    // pg_stat_statements entry (constants alone would be normalised into one).
    for (let i = 1; i <= STATEMENTS; i++) {
      await admin.query(`SELECT ${Array.from({ length: i }, (_, k) => k).join(', ')}`);
    }
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(rows[0]?.n ?? 0).toBeGreaterThanOrEqual(STATEMENTS);
  } finally {
    await admin.end();
  }
  const started = performance.now();
  const run = await runCli(['explain', '--json', ...ENTRIES], { DATABASE_URL: tdb.primaryUrl });
  const ms = Math.round(performance.now() - started);
  console.log(`bgc explain (primary only, ${ENTRIES.length} entries) took ${ms} ms, exit ${run.code}`);
  cli = { code: run.code, report: JSON.parse(run.stdout) as AuditReport, stderr: run.stderr, ms };
}, 120_000);

afterAll(async () => {
  await tdb?.drop();
});

describe('bgc explain with DATABASE_URL set and no replicas configured', () => {
  it('skips the standby-only entries with a note instead of failing on recovery functions', () => {
    for (const name of ['system.replica_status', 'system.replayed_past']) {
      const e = entry(name);
      expect(e.error, name).toBeNull();
      expect(e.skipped, name).toMatch(/only ever sent to a standby, and no standby is configured/);
    }
    expect(cli.report.summary.skipped).toBe(2);
  });

  it('still audits the other replica entries on the primary', () => {
    expect(entry('dashboard.live_statements')).toMatchObject({ node: 'primary', error: null, skipped: null });
    expect(entry('system.ping')).toMatchObject({ node: 'primary', error: null, skipped: null });
  });

  it(`does not flag pg_stat_statements' size (≥ ${STATEMENTS} entries) as a misestimate, and says so in a note`, () => {
    const e = entry('dashboard.live_statements');
    expect(e.findings).toEqual([]);
    expect(e.notes.join('\n')).toMatch(/pg_stat_statements\(\) returned \d+ rows against an estimate of \d+/);
  });

  it('exits 0 with a clean report', () => {
    expect(cli.report.summary).toMatchObject({ ok: true, errors: 0, unjustified: 0 });
    expect(cli.code, cli.stderr.slice(-500)).toBe(0);
  });
});

describe('the same entries with standbys configured', () => {
  it('audits the standby-only entries on a replica', async () => {
    const defs = (await allQueries()).filter((d: QueryDef) => d.standbyOnly);
    expect(defs.map((d) => d.name).sort()).toEqual(['system.replayed_past', 'system.replica_status']);
    await tdb.syncReplicas();
    const db = new Database(tdb.config(), { applicationName: 'bgc-explain-primary-only-test', lazy: true });
    try {
      const { report } = await runAudit(db, defs);
      for (const e of report.entries) {
        expect(e, e.name).toMatchObject({ error: null, skipped: null });
        expect(e.node, e.name).toMatch(/^replica\d$/);
      }
      expect(report.summary).toMatchObject({ ok: true, skipped: 0 });
    } finally {
      await db.close();
    }
  });
});
