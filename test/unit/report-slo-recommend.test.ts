import { describe, expect, it } from 'vitest';
import { evaluateSlos, type SloInput } from '../../src/ops/report/analyze/slo.ts';
import { recommend } from '../../src/ops/report/analyze/recommend.ts';
import type { LagRow, LatencyRow, PartitionSummary, RegressionRow, Report, SloRow } from '../../src/ops/report/model.ts';
import type { StatementTotal } from '../../src/ops/report/gather.ts';

/**
 * The monthly report's judgements (src/ops/report/analyze): which success criteria are met,
 * missed or unknown, and which recommendations the findings produce. Pure functions over
 * fixed inputs; the report end to end on a real database is test/integration/report.test.ts.
 */
const GENERATED_AT = new Date('2026-12-31T23:59:30Z');

function input(over: Partial<SloInput> = {}): SloInput {
  return {
    generatedBy: 'cli', generatedAt: GENERATED_AT,
    queries: { topQueries: [], regressions: [], newQueries: [], totals: { statementTimeMs: 0, calls: 0, previousStatementTimeMs: 0, previousCalls: 0 }, commonMeanRatio: null },
    statements: [], replicaEligible: new Set(), relationsSampled: false, seqScansLarge: [], seqScans1M: [], hitRatios: [],
    app: { hits: 0, misses: 0, hitRatio: null, peakMemoryBytes: null, maxMemoryBytes: null },
    latency: [], connections: [], partitions: [], previousMonth: '2026-11', previousMonthRuns: 0, previousReports: [], alertConfig: undefined,
    ...over,
  };
}

const httpRow = (label: string, p99Ms: number | null): LatencyRow => ({ kind: 'http', label, count: 1_000, meanMs: 1, p50Ms: 1, p95Ms: p99Ms, p99Ms });
const status = (rows: SloRow[], id: string) => rows.find((r) => r.id === id)?.status;

const partition = (parent: string, monthsAhead: number | null): PartitionSummary => ({ parent, partitions: 12, totalBytes: 1 << 20, monthsAhead, newestRangeTo: null });

function statement(name: string, calls: number, totalMs: number, replicaCalls = 0): StatementTotal {
  return {
    queryid: name, name, query: `/* ${name} */ SELECT 1`, first_seen_at: new Date('2026-12-01T00:00:00Z'),
    calls, total_ms: totalMs, rows: calls, blks_hit: 0, blks_read: 0, temp_blks_written: 0, replica_calls: replicaCalls,
  };
}

describe('evaluateSlos', () => {
  it('SC-008: a profile p99 over 50 ms is missed, under it met, and no reads is unknown', () => {
    expect(status(evaluateSlos(input({ latency: [httpRow('GET /api/profiles/:id', 72)] })), 'SC-008')).toBe('missed');
    expect(status(evaluateSlos(input({ latency: [httpRow('GET /api/profiles/:id', 12)] })), 'SC-008')).toBe('met');
    expect(status(evaluateSlos(input({ latency: [httpRow('GET /api/profiles/:id', 50)] })), 'SC-008')).toBe('missed');
    expect(status(evaluateSlos(input()), 'SC-008')).toBe('unknown');
  });

  it('says unknown, never met, for every criterion it has no figure for', () => {
    const rows = evaluateSlos(input());
    for (const id of ['SC-002', 'SC-003', 'SC-004', 'SC-005', 'SC-006', 'SC-007', 'SC-009', 'SC-010', 'SC-011', 'SC-012', 'SC-013', 'SC-014', 'SC-015']) {
      expect(status(rows, id), id).toBe('unknown');
    }
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  it('SC-011 and T-10: replica share of replica-eligible reads, monitoring statements left out', () => {
    const statements = [statement('profile.get', 1_000, 500, 950), statement('history.index_stats', 5_000, 50, 0), statement('feed.post', 100, 30)];
    const rows = evaluateSlos(input({ statements, replicaEligible: new Set(['profile.get', 'history.index_stats']) }));
    expect(status(rows, 'SC-011')).toBe('met');
    expect(status(rows, 'T-10')).toBe('met');
    expect(rows.find((r) => r.id === 'SC-011')?.figure).toContain('1,000 reads');
    const few = evaluateSlos(input({ statements: [statement('profile.get', 1_000, 500, 400)], replicaEligible: new Set(['profile.get']) }));
    expect(status(few, 'SC-011')).toBe('missed');
  });

  it('SC-004: the slowest app statement\'s mean decides; the activity reports are app statements', () => {
    const slow = evaluateSlos(input({ statements: [statement('activity.most_active_users', 10, 6_000), statement('profile.get', 100, 10)] }));
    expect(status(slow, 'SC-004')).toBe('missed');
    expect(slow.find((r) => r.id === 'SC-004')?.figure).toContain('activity.most_active_users');
    expect(status(evaluateSlos(input({ statements: [statement('profile.get', 100, 10)] })), 'SC-004')).toBe('met');
  });

  it('SC-012: met only when every partitioned table has next month ready', () => {
    const ok = evaluateSlos(input({ partitions: [partition('messages', 3), partition('status_updates', 1)] }));
    expect(status(ok, 'SC-012')).toBe('met');
    const behind = evaluateSlos(input({ partitions: [partition('messages', 0)] }));
    expect(status(behind, 'SC-012')).toBe('missed');
  });

  it('SC-014 and T-12 from the alert configuration: worst-case detection time against 300 s and 120 s', () => {
    const rules = ['PostgresDown', 'ReplicaDown', 'PoolSaturated', 'QuerySlow', 'RedisDown'].map((alert) => ({ alert, forSeconds: 60 }));
    const rows = evaluateSlos(input({ alertConfig: { rules, scrapeSeconds: 15, evaluationSeconds: 15, groupWaitSeconds: 10 } }));
    expect(status(rows, 'SC-013')).toBe('met');
    expect(status(rows, 'SC-014')).toBe('met');
    const slow = evaluateSlos(input({ alertConfig: { rules: rules.map((r) => ({ ...r, forSeconds: 600 })), scrapeSeconds: 15, evaluationSeconds: 15, groupWaitSeconds: 10 } }));
    expect(status(slow, 'SC-014')).toBe('missed');
    expect(status(slow, 'T-12')).toBe('missed');
  });
});

type Findings = Parameters<typeof recommend>[0];

function findings(over: Partial<Findings> = {}): Findings {
  const empty: Omit<Report, 'recommendations' | 'generatedAt' | 'generatedBy'> = {
    month: '2026-12', period: { from: '2026-12-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' }, previousMonth: '2026-11',
    coverage: { runs: 0, firstSnapshotAt: null, lastSnapshotAt: null, expectedRuns: 0, nodes: [], previousMonthRuns: 0 },
    slo: [], topQueries: [], totals: { statementTimeMs: 0, calls: 0, previousStatementTimeMs: 0, previousCalls: 0 }, dailyStatementTime: [],
    regressions: [], newQueries: [], seqScans: [], unusedIndexes: [], duplicateIndexes: [], growth: [],
    partitions: { summary: [], largest: [] }, bloat: [], connections: { nodes: [], daily: [] }, replicaLag: { nodes: [], daily: [] },
    cache: { nodes: [], app: { hits: 0, misses: 0, hitRatio: null, peakMemoryBytes: null, maxMemoryBytes: null }, appDaily: [] },
    latency: [], alerts: { source: 'none', reachable: false, note: '', fired: [], byName: [] },
  };
  return { ...empty, ...over };
}

const OPTS = { maxLagMs: 2_000, premakeMonths: 3 };

describe('recommend', () => {
  it('recommends nothing for a month with no findings', () => {
    expect(recommend(findings(), OPTS)).toEqual([]);
  });

  it('puts high severity first: a missing current partition before a low app cache hit ratio', () => {
    const recs = recommend(findings({
      cache: { nodes: [], app: { hits: 80, misses: 20, hitRatio: 0.8, peakMemoryBytes: null, maxMemoryBytes: null }, appDaily: [] },
      partitions: { summary: [partition('messages', 0), partition('status_updates', 2)], largest: [] },
    }), OPTS);
    expect(recs.map((r) => r.severity)).toEqual(['high', 'medium', 'low']);
    expect(recs[0]?.title).toContain('messages');
    expect(recs[0]?.detail).toContain('bgc partitions maintain');
    expect(recs[2]?.title).toContain('status_updates');
  });

  it('names the regressed statement and the command to compare its plans', () => {
    const regression: RegressionRow = { queryid: '1', name: 'chat.inbox', query: '/* chat.inbox */ SELECT 1', calls: 5_000, previousCalls: 4_000, meanMs: 12, previousMeanMs: 3, ratio: 4 };
    const recs = recommend(findings({
      regressions: [regression],
    }), OPTS);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ severity: 'high', section: 'regressions' });
    expect(recs[0]?.detail).toContain('bgc explain chat.inbox');
  });

  it('flags a lagging replica only above BGC_REPLICA_MAX_LAG_MS, and an unreachable one always', () => {
    const lag = (node: string, p99Ms: number, unreachable = 0): LagRow => ({ node, samples: 100, unreachable, p50Ms: 1, p95Ms: p99Ms, p99Ms, maxMs: p99Ms, maxBytes: 0 });
    const recs = recommend(findings({ replicaLag: { nodes: [lag('replica1', 1_999), lag('replica2', 2_500), lag('replica3', 10, 2)], daily: [] } }), OPTS);
    expect(recs.map((r) => r.title.split(':')[0])).toEqual(['Replica replica2', 'Replica replica3']);
  });
});
