import type { StatementTotal } from '../gather.ts';
import type { QueryRow, RegressionRow } from '../model.ts';
import type { ReportMonth } from '../month.ts';
import { THRESHOLDS } from '../thresholds.ts';
import { ratio } from '../stats.ts';

function toRow(s: StatementTotal, totalMs: number): QueryRow {
  return {
    queryid: s.queryid, name: s.name, query: s.query, calls: s.calls, totalMs: s.total_ms,
    meanMs: s.calls > 0 ? s.total_ms / s.calls : 0, rows: s.rows, share: totalMs > 0 ? s.total_ms / totalMs : 0,
    hitRatio: ratio(s.blks_hit, s.blks_hit + s.blks_read), replicaCalls: s.replica_calls, tempBlksWritten: s.temp_blks_written,
  };
}

export interface QueryAnalysis {
  readonly topQueries: QueryRow[];
  readonly regressions: RegressionRow[];
  readonly newQueries: QueryRow[];
  readonly totals: { statementTimeMs: number; calls: number; previousStatementTimeMs: number; previousCalls: number };
  /** Calls-weighted change of mean time for statements present in both months (SC-010). */
  readonly commonMeanRatio: number | null;
}

/**
 * Top statements by total time; regressions (mean ≥ 2× last month's, enough calls both months);
 * new statements (first seen this month and absent from last month's history).
 */
export function analyzeQueries(current: readonly StatementTotal[], previous: readonly StatementTotal[], month: ReportMonth): QueryAnalysis {
  const moved = current.filter((s) => s.calls > 0);
  const totalMs = moved.reduce((a, s) => a + s.total_ms, 0);
  const calls = moved.reduce((a, s) => a + s.calls, 0);
  const prevTotalMs = previous.reduce((a, s) => a + s.total_ms, 0);
  const prevCalls = previous.reduce((a, s) => a + s.calls, 0);
  const byTime = [...moved].sort((a, b) => b.total_ms - a.total_ms || a.queryid.localeCompare(b.queryid));
  const prevById = new Map(previous.filter((s) => s.calls > 0).map((s) => [s.queryid, s]));

  const regressions: RegressionRow[] = [];
  let weightedNow = 0;
  let weightedBefore = 0;
  for (const s of moved) {
    const p = prevById.get(s.queryid);
    if (!p) continue;
    const meanMs = s.total_ms / s.calls;
    const previousMeanMs = p.total_ms / p.calls;
    weightedNow += meanMs * s.calls;
    weightedBefore += previousMeanMs * s.calls;
    if (s.calls < THRESHOLDS.regressionMinCalls || p.calls < THRESHOLDS.regressionMinCalls || previousMeanMs <= 0) continue;
    const r = meanMs / previousMeanMs;
    if (r >= THRESHOLDS.regressionRatio) {
      regressions.push({ queryid: s.queryid, name: s.name, query: s.query, previousMeanMs, meanMs, ratio: r, calls: s.calls, previousCalls: p.calls });
    }
  }
  regressions.sort((a, b) => b.ratio - a.ratio);

  const newQueries = byTime
    .filter((s) => !prevById.has(s.queryid) && s.first_seen_at.getTime() >= month.from.getTime())
    .slice(0, THRESHOLDS.newQueriesShown)
    .map((s) => toRow(s, totalMs));

  return {
    topQueries: byTime.slice(0, THRESHOLDS.topQueries).map((s) => toRow(s, totalMs)),
    regressions,
    newQueries,
    totals: { statementTimeMs: totalMs, calls, previousStatementTimeMs: prevTotalMs, previousCalls: prevCalls },
    commonMeanRatio: weightedBefore > 0 ? weightedNow / weightedBefore : null,
  };
}
