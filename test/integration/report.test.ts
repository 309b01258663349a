import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { loadMonitoringFixture, MiB } from '../helpers/monitoring-fixture.ts';
import { freePort } from '../helpers/free-port.ts';
import { SWEEP_DATE } from '../helpers/constants.ts';
import { Database } from '../../src/db/database.ts';
import { parseMonth } from '../../src/ops/report/month.ts';
import { generateReport } from '../../src/ops/report/generate.ts';
import type { Report } from '../../src/ops/report/model.ts';

/**
 * The monthly report from the deterministic fixture (test/helpers/monitoring-fixture.ts). Every
 * expected number below is worked out by hand from the fixture's constants, not by the code
 * under test: October has 31 daily runs (g = 30…60), September 30.
 */
let tdb: TestDatabase;
let db: Database;
let admin: pg.Client;
let outDir: string;
let report: Report;
let files: readonly string[];

/** PostgreSQL's percentile_cont: linear interpolation between the sorted samples. */
function percentileCont(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (pos - lo);
}
const october = Array.from({ length: 31 }, (_, i) => 30 + i);

beforeAll(async () => {
  tdb = await createTestDatabase('report');
  admin = await tdb.admin();
  await loadMonitoringFixture(admin);
  await tdb.syncReplicas();
  // A port nothing listens on: the report must say Alertmanager is not reachable.
  const config = tdb.config({ BGC_POOL_SIZE: '1', BGC_ALERTMANAGER_URL: `http://127.0.0.1:${await freePort()}` });
  db = new Database(config, { applicationName: 'bgc-report-test' });
  await db.start();
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-report-'));
  const result = await generateReport({ db, config }, {
    month: parseMonth('2026-10'), formats: ['html', 'md', 'json'], outDir, generatedBy: 'test', store: 'replace', now: new Date('2026-11-01T00:10:00Z'),
  });
  report = result.report;
  files = result.files;
});
afterAll(async () => {
  await db?.close();
  await admin?.end();
  await tdb?.drop();
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

describe('monthly report from the fixture', () => {
  it('covers the month: 31 runs on three nodes, one reset detected on replica2', () => {
    expect(report.month).toBe('2026-10');
    expect(report.previousMonth).toBe('2026-09');
    expect(report.coverage.runs).toBe(31);
    expect(report.coverage.previousMonthRuns).toBe(30);
    expect(report.coverage.nodes).toEqual([
      { node: 'primary', snapshots: 31, failed: 0, resets: 0, deallocations: 0 },
      { node: 'replica1', snapshots: 31, failed: 0, resets: 0, deallocations: 0 },
      { node: 'replica2', snapshots: 31, failed: 0, resets: 1, deallocations: 0 },
    ]);
  });

  it('top queries by total time, with the month total', () => {
    // chat.inbox: 2 replicas × 1000 calls × 2000 ms/day... = 4000 ms/day × 31 days.
    expect(report.topQueries[0]).toMatchObject({ name: 'chat.inbox', calls: 62_000, totalMs: 124_000, meanMs: 2, replicaCalls: 62_000 });
    expect(report.topQueries.slice(0, 3).map((q) => q.name)).toEqual(['chat.inbox', 'feed.global', 'search.profiles']);
    // 124000 + 93000 + 37200 + 31×360 + 22×800 + 31×50 + 31×5
    expect(report.totals.statementTimeMs).toBe(284_665);
    expect(report.totals.previousStatementTimeMs).toBe(120_000 + 90_000 + 12_000 + 9_000 + 150);
    expect(report.topQueries[0]?.share).toBeCloseTo(124_000 / 284_665, 10);
    expect(report.topQueries[0]?.hitRatio).toBeCloseTo(10_000 / 10_010, 10); // per 1000 calls: 10,000 blocks hit, 10 read
    expect(report.dailyStatementTime[0]).toMatchObject({ name: 'chat.inbox' });
    expect(report.dailyStatementTime[0]?.points).toHaveLength(31);
    expect(report.dailyStatementTime[0]?.points[0]).toEqual({ day: '2026-10-01', value: 4000 });
  });

  it('detects the ≥2× regression and the new queries', () => {
    expect(report.regressions).toHaveLength(1);
    expect(report.regressions[0]).toMatchObject({ name: 'search.profiles', previousMeanMs: 2, meanMs: 6, ratio: 3, calls: 6_200, previousCalls: 6_000 });
    expect(report.newQueries.map((q) => q.queryid).sort()).toEqual(['1005', '1006']);
    expect(report.newQueries.find((q) => q.queryid === '1005')).toMatchObject({ name: 'chat.send_message', calls: 8_800, totalMs: 17_600, meanMs: 2 });
  });

  it('lists sequential scans on large tables, unused and duplicate indexes', () => {
    expect(report.seqScans.map((s) => [s.table, s.seqScans, s.seqTupRead, s.liveRows])).toEqual([
      ['messages_y2026m10', 155, 155_000_000, 4_000_000],
      ['profiles', 62, 6_200_000, 100_000],
    ]);
    expect(report.unusedIndexes.map((u) => [u.index, u.table, u.sizeBytes, u.observedDays])).toEqual([
      ['profiles_birthdate_idx', 'profiles', 12 * MiB, 30],
      ['sessions_expires_at_idx', 'sessions', 1 * MiB, 30],
    ]);
    expect(report.duplicateIndexes).toEqual([
      { index: 'profiles_state_idx', coveredBy: 'profiles_state_city_idx', table: 'profiles', columns: 'state', coveringColumns: 'state, city', sizeBytes: 5 * MiB },
    ]);
  });

  it('table growth with a linear forecast, partitions ahead, bloat', () => {
    const messages = report.growth.find((g) => g.table === 'messages');
    expect(messages).toMatchObject({ startBytes: 400 * MiB, endBytes: 700 * MiB, growthBytes: 300 * MiB, endRows: 4_000_000 });
    expect(messages?.bytesPerDay).toBeCloseTo(10 * MiB, 3);
    expect(messages?.forecast30dBytes).toBeCloseTo(1000 * MiB, 0);
    expect(messages?.forecast90dBytes).toBeCloseTo(1600 * MiB, 0);
    expect(messages?.points).toHaveLength(31);
    expect(report.growth[0]?.table).toBe('messages');
    expect(report.partitions.summary).toEqual([
      { parent: 'messages', partitions: 5, totalBytes: 300 * MiB + 700 * MiB + 3 * 8192, monthsAhead: 3, newestRangeTo: '2027-02-01T00:00:00.000Z' },
      { parent: 'status_updates', partitions: 2, totalBytes: 50 * MiB + 8192, monthsAhead: 1, newestRangeTo: '2026-12-01T00:00:00.000Z' },
    ]);
    expect(report.partitions.largest[0]).toMatchObject({ partition: 'messages_y2026m10', bytes: 700 * MiB, growthBytes: 300 * MiB, rows: 4_000_000 });
    expect(report.bloat[0]).toMatchObject({ table: 'users', liveRows: 100_000, deadRows: 20_000, estimatedBloatBytes: Math.round((40 * MiB) / 6) });
    expect(report.bloat[0]?.deadRatio).toBeCloseTo(1 / 6, 10);
  });

  it('connection peaks, replica lag percentiles, hit ratios and latency percentiles', () => {
    const primary = report.connections.nodes.find((c) => c.node === 'primary');
    expect(primary).toMatchObject({ peakTotal: 120, peakAt: '2026-10-20T12:00:00.000Z', maxConnections: 400, poolPeak: 12, poolMax: 30, poolWaitingPeak: 3 });
    const lag1 = october.map((g) => (g % 10) * 10);
    const lag2 = october.map((g) => (g === 44 ? 5000 : 5));
    const r1 = report.replicaLag.nodes.find((l) => l.node === 'replica1');
    const r2 = report.replicaLag.nodes.find((l) => l.node === 'replica2');
    expect(r1?.samples).toBe(31);
    expect(r1?.p50Ms).toBeCloseTo(percentileCont(lag1, 0.5), 9);
    expect(r1?.p95Ms).toBeCloseTo(percentileCont(lag1, 0.95), 9);
    expect(r2?.p99Ms).toBeCloseTo(percentileCont(lag2, 0.99), 9);
    expect(r2?.p99Ms).toBeCloseTo(3501.5, 9);
    expect(r2).toMatchObject({ maxMs: 5000, maxBytes: 900_000 });
    expect(report.cache.nodes.find((n) => n.node === 'primary')).toMatchObject({ bufferHitRatio: 0.99, indexHitRatio: 0.98 });
    expect(report.cache.app).toEqual({ hits: 279_000, misses: 31_000, hitRatio: 0.9, peakMemoryBytes: 100 * MiB, maxMemoryBytes: 256 * MiB });
    const inbox = report.latency.find((l) => l.kind === 'http' && l.label === 'GET /api/chat/conversations');
    expect(inbox?.count).toBe(31_000);
    expect(inbox?.p99Ms).toBeCloseTo(5, 9); // 99 % of requests fall at or below the 5 ms bucket exactly
    expect(inbox?.p50Ms).toBeCloseTo((15_500 / 18_600) * 1, 9); // inside the first bucket (0, 1 ms]
    expect(report.latency.find((l) => l.kind === 'db' && l.label === 'chat.inbox')?.p99Ms).toBeCloseTo(2.5, 9);
  });

  it('alerts from the history, and says plainly that Alertmanager was not reachable', () => {
    expect(report.alerts.reachable).toBe(false);
    expect(report.alerts.note).toMatch(/^Alertmanager not reachable at http:\/\/127\.0\.0\.1:\d+\/api\/v2\/alerts/);
    expect(report.alerts.fired.map((a) => [a.alertname, a.durationMinutes])).toEqual([['PostgresReplicaLagging', 17], ['BgcDbPoolSaturated', 5]]);
  });

  it('judges the success criteria and targets with figures', () => {
    const status = Object.fromEntries(report.slo.map((s) => [s.id, s.status]));
    expect(report.slo.map((s) => s.id)).toEqual([
      'SC-001', 'SC-002', 'SC-003', 'SC-004', 'SC-005', 'SC-006', 'SC-007', 'SC-008', 'SC-009', 'SC-010', 'SC-011', 'SC-012', 'SC-013', 'SC-014', 'SC-015',
      'T-01', 'T-02', 'T-03', 'T-04', 'T-05', 'T-06', 'T-07', 'T-08', 'T-09', 'T-10', 'T-11', 'T-12',
    ]);
    expect(status).toMatchObject({
      'SC-001': 'unknown', 'SC-002': 'met', 'SC-003': 'met', 'SC-004': 'met', 'SC-005': 'met', 'SC-006': 'missed', 'SC-007': 'met',
      'SC-009': 'met', 'SC-010': 'met', 'SC-012': 'met', 'SC-015': 'met', 'T-02': 'missed', 'T-03': 'met', 'T-04': 'met', 'T-07': 'missed', 'T-08': 'unknown',
    });
    const sc010 = report.slo.find((s) => s.id === 'SC-010');
    // calls-weighted means of the statements in both months: 265515 / 238855 ms
    expect(sc010?.figure).toBe(`×${(265_515 / 238_855).toFixed(2)} vs 2026-09`);
    expect(report.slo.find((s) => s.id === 'SC-006')?.figure).toBe('messages_y2026m10: 155');
    expect(report.slo.find((s) => s.id === 'SC-005')?.figure).toBe('search.profiles mean 6.00 ms');
    expect(report.slo.find((s) => s.id === 'SC-015')?.figure).toContain('2026-09 report by scheduler at 2026-10-01T00:05:00.000Z');
  });

  it('recommends concrete actions, most urgent first', () => {
    const titles = report.recommendations.map((r) => r.title);
    expect(report.recommendations[0]?.severity).toBe('high');
    expect(titles).toContain('Investigate the slowdown of search.profiles');
    expect(titles).toContain('Stop sequential scans on messages_y2026m10');
    expect(titles).toContain('Drop the unused index profiles_birthdate_idx (12.0 MiB)');
    expect(titles).toContain('Drop profiles_state_idx: covered by profiles_state_city_idx');
    expect(titles).toContain('Vacuum users: 16.7 % dead rows');
    expect(titles).toContain('Requests queued for a primary connection (peak 3 waiting)');
    expect(titles.filter((t) => t.startsWith('Replica '))).toEqual([`Replica replica2: lag p99 ${Math.round(percentileCont(october.map((g) => (g === 44 ? 5000 : 5)), 0.99))} ms`]);
    expect(titles).toContain('Plan capacity for messages');
  });

  it('writes all three formats, stores them, and every section is present in each', async () => {
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['bgc-report-2026-10.html', 'bgc-report-2026-10.json', 'bgc-report-2026-10.md']);
    const html = fs.readFileSync(path.join(outDir, 'bgc-report-2026-10.html'), 'utf8');
    const md = fs.readFileSync(path.join(outDir, 'bgc-report-2026-10.md'), 'utf8');
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'bgc-report-2026-10.json'), 'utf8')) as Report;
    expect(json).toEqual(JSON.parse(JSON.stringify(report)));

    for (const id of ['summary', 'recommendations', 'slo', 'top-queries', 'regressions', 'new-queries', 'seq-scans', 'unused-indexes', 'duplicate-indexes',
      'growth', 'partitions', 'bloat', 'connections', 'replica-lag', 'cache', 'latency', 'alerts', 'coverage']) {
      expect(html, id).toContain(`id="${id}"`);
    }
    for (const heading of ['## Recommendations', '## Success criteria and targets', '## Top queries by total time', '## Regressions against 2026-09',
      '## New queries', '## Sequential scans on large tables', '## Unused indexes', '## Duplicate indexes', '## Table and partition growth, with forecast',
      '## Bloat estimate', '## Connection peaks', '## Replica lag distribution', '## Cache hit ratios', '## Alerts that fired', '## Data coverage']) {
      expect(md, heading).toContain(heading);
    }
    // Figures as rendered.
    expect(html).toContain('124.0 s'); // chat.inbox total
    expect(html).toContain('×3.00'); // the regression
    expect(html).toContain('chat.send_message');
    expect(html).toContain('profiles_birthdate_idx');
    expect(html).toContain('1000.0 MiB'); // 30-day forecast of messages
    expect(html).toContain('Alertmanager not reachable');
    expect(md).toContain('| search.profiles | 2.00 ms | 6.00 ms | ×3.00 | 6,000 | 6,200 |');
    expect(md).toContain('| SC-006 | No sequential scans on tables > 1M rows |');
    // Self-contained: inline SVG charts, no script, no external reference.
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(6);
    expect(html).not.toMatch(/<script|rel="stylesheet"|src="http|href="http/);

    const stored = await admin.query<{ format: string; generated_by: string; n: number }>(
      `SELECT format, generated_by, length(content) AS n FROM monitoring.reports WHERE month = '2026-10' ORDER BY format`);
    expect(stored.rows.map((r) => [r.format, r.generated_by])).toEqual([['html', 'test'], ['json', 'test'], ['md', 'test']]);
    expect(stored.rows.find((r) => r.format === 'html')?.n).toBe(html.length);
  });
});

describe('the report under a server TimeZone other than UTC', () => {
  it('cuts and labels its days in UTC all the same', async () => {
    const { rows } = await admin.query<{ db: string }>('SELECT current_database() AS db');
    const name = rows[0]?.db ?? '';
    // initdb's default on a self-hosted server is the host's zone; the bundled stack pins UTC.
    await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(name)} SET timezone = 'Asia/Tokyo'`);
    await tdb.syncReplicas();
    const config = tdb.config({ BGC_POOL_SIZE: '1', BGC_ALERTMANAGER_URL: `http://127.0.0.1:${await freePort()}` });
    const zoned = new Database(config, { applicationName: 'bgc-report-test-tz' });
    try {
      await zoned.start();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-report-tz-'));
      const other = await generateReport({ db: zoned, config }, {
        month: parseMonth('2026-10'), formats: ['json'], outDir: dir, generatedBy: 'test', store: 'none', now: new Date('2026-11-01T00:10:00Z'),
      });
      fs.rmSync(dir, { recursive: true, force: true });
      // Before: every day labelled one early (2026-09-30 first) and cut at 15:00Z (Tokyo's midnight).
      expect(other.report.dailyStatementTime).toEqual(report.dailyStatementTime);
      expect(other.report.connections.daily).toEqual(report.connections.daily);
      expect(other.report.replicaLag.daily).toEqual(report.replicaLag.daily);
      expect(other.report.cache.appDaily).toEqual(report.cache.appDaily);
      expect(report.cache.appDaily[0]?.day ?? report.connections.daily[0]?.points[0]?.day).toMatch(/^2026-10-01/);
    } finally {
      await zoned.close();
      await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(name)} RESET timezone`);
    }
  });
});

describe('bgc report --store', () => {
  it.skipIf(SWEEP_DATE !== undefined)('refuses a month that is not over (a partial report would stand as the month\'s record)', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const now = new Date();
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().slice(0, 7);
    const err = await promisify(execFile)(process.execPath, [path.join(root, 'bin/bgc.js'), 'report', '--month', next, '--store', '--no-alertmanager'], {
      cwd: root, env: { ...process.env, DATABASE_URL: tdb.primaryUrl, DATABASE_REPLICA_URLS: '', NODE_ENV: 'test' }, timeout: 30_000,
    }).then(() => undefined, (e: unknown) => e as { code: number; stderr: string });
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toContain('REPORT_MONTH_NOT_OVER');
    const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM monitoring.reports WHERE month = $1`, [next]);
    expect(rows[0]?.n).toBe(0);
  });
});

