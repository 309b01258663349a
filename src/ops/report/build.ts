import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/database.ts';
import { allQueries } from '../../catalog/all.ts';
import { fetchAlerts } from '../history/alertmanager.ts';
import type { AlertRow, Report } from './model.ts';
import { monthBefore, type ReportMonth } from './month.ts';
import { dailyStatementTime, gatherMonth, gatherPreviousMonth, storedReports, type AlertHistoryRow } from './gather.ts';
import { analyzeQueries } from './analyze/queries.ts';
import { bloatEstimate, duplicateIndexes, groupIndexes, seqScansOnLargeTables, unusedIndexes } from './analyze/relations.ts';
import { partitionSummary, tableGrowth } from './analyze/growth.ts';
import { appCache, connections, hitRatios, latency, replicaLag } from './analyze/nodes.ts';
import { evaluateSlos } from './analyze/slo.ts';
import { recommend } from './analyze/recommend.ts';
import { readAlertConfig } from './analyze/alert-rules.ts';
import { THRESHOLDS } from './thresholds.ts';

export interface BuildOptions {
  readonly month: ReportMonth;
  /** "scheduler", "cli", … (SC-015 tells scheduled reports apart). */
  readonly generatedBy: string;
  readonly now?: Date;
  /** Ask Alertmanager for alerts it still holds (default true). */
  readonly queryAlertmanager?: boolean;
}

async function alertsSection(config: Config, m: ReportMonth, history: readonly AlertHistoryRow[], ask: boolean, now: Date): Promise<Report['alerts']> {
  const rows = new Map<string, AlertRow>();
  const minutes = (a: Date, b: Date | null) => (b ? Math.round((b.getTime() - a.getTime()) / 60_000) : null);
  for (const h of history) {
    rows.set(`${h.alertname}@${h.starts_at.toISOString()}`, {
      alertname: h.alertname, severity: h.severity, startsAt: h.starts_at.toISOString(), endsAt: h.ends_at ? h.ends_at.toISOString() : null,
      durationMinutes: minutes(h.starts_at, h.ends_at ?? h.last_seen_at), summary: h.summary,
    });
  }
  const live = ask ? await fetchAlerts(config.history.alertmanagerUrl, now) : undefined;
  if (live?.reachable) {
    for (const a of live.alerts) {
      const starts = new Date(a.startsAt);
      if (starts >= m.to || (a.endsAt && new Date(a.endsAt) < m.from)) continue;
      const key = `${a.alertname}@${starts.toISOString()}`;
      if (!rows.has(key)) rows.set(key, { alertname: a.alertname, severity: a.severity, startsAt: starts.toISOString(), endsAt: a.endsAt, durationMinutes: minutes(starts, a.endsAt ? new Date(a.endsAt) : null), summary: a.summary });
    }
  }
  const fired = [...rows.values()].sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  const byName = new Map<string, { alertname: string; count: number; totalMinutes: number }>();
  for (const f of fired) {
    const e = byName.get(f.alertname) ?? { alertname: f.alertname, count: 0, totalMinutes: 0 };
    e.count++;
    e.totalMinutes += f.durationMinutes ?? 0;
    byName.set(f.alertname, e);
  }
  const note = live === undefined
    ? 'Alertmanager was not asked; alerts come from the snapshot history.'
    : live.reachable
      ? `Alertmanager reachable at ${live.url}; alerts from the snapshot history and Alertmanager.`
      : `Alertmanager not reachable at ${live.url} (${live.error}); alerts listed come from the snapshot history only.`;
  return {
    source: config.history.alertmanagerUrl, reachable: live?.reachable ?? false, note, fired,
    byName: [...byName.values()].sort((a, b) => b.count - a.count || a.alertname.localeCompare(b.alertname)),
  };
}

/** Builds the report of one month from the monitoring history (read-only). */
export async function buildReport(deps: { db: Database; config: Config }, opts: BuildOptions): Promise<Report> {
  const { db, config } = deps;
  const m = opts.month;
  const now = opts.now ?? new Date();
  const prev = monthBefore(m);
  const [data, previous, previousReports, catalogEntries] = await Promise.all([
    gatherMonth(db, m), gatherPreviousMonth(db, prev), storedReports(db, prev.label), allQueries(),
  ]);

  const queries = analyzeQueries(data.statements, previous.statements, m);
  const daily = await dailyStatementTime(db, m, queries.topQueries.slice(0, 5).map((q) => q.queryid));
  const groups = groupIndexes(data.indexUsage, data.latestTables);
  const seqScans = seqScansOnLargeTables(data.tableScans, data.latestTables);
  const nodes = hitRatios(data.nodeTotals);
  const cache = appCache(data.appCache);
  const lat = latency(data.latencyBuckets, data.latencyTotals);
  const conn = connections(data.nodeTotals, data.nodeDaily);
  const parts = partitionSummary(data.partitions, m);
  const alerts = await alertsSection(config, m, data.alerts, opts.queryAlertmanager ?? true, now);

  const findings: Omit<Report, 'recommendations' | 'generatedAt' | 'generatedBy'> = {
    month: m.label,
    period: { from: m.from.toISOString(), to: m.to.toISOString() },
    previousMonth: prev.label,
    coverage: {
      runs: data.runs.runs,
      firstSnapshotAt: data.runs.first_at ? data.runs.first_at.toISOString() : null,
      lastSnapshotAt: data.runs.last_at ? data.runs.last_at.toISOString() : null,
      expectedRuns: Math.round((m.days * 86_400) / config.history.intervalSeconds),
      nodes: data.coverage.map((c) => ({ node: c.node, snapshots: c.snapshots, failed: c.failed, resets: c.resets, deallocations: c.deallocations })),
      previousMonthRuns: previous.runs,
    },
    slo: [],
    topQueries: queries.topQueries,
    totals: queries.totals,
    dailyStatementTime: queries.topQueries.slice(0, 5).map((q) => ({
      name: q.name ?? `queryid ${q.queryid}`,
      points: daily.filter((d) => d.queryid === q.queryid).map((d) => ({ day: d.day.toISOString().slice(0, 10), value: d.total_ms })),
    })),
    regressions: queries.regressions,
    newQueries: queries.newQueries,
    seqScans,
    unusedIndexes: unusedIndexes(groups),
    duplicateIndexes: duplicateIndexes(groups),
    growth: tableGrowth(data.tableDaily, m),
    partitions: parts,
    bloat: bloatEstimate(data.latestTables),
    connections: conn,
    replicaLag: replicaLag(data.nodeTotals, data.nodeDaily),
    cache: { nodes, app: cache.app, appDaily: cache.appDaily },
    latency: lat,
    alerts,
  };
  const slo = evaluateSlos({
    generatedBy: opts.generatedBy, generatedAt: now, queries, statements: data.statements,
    replicaEligible: new Set(catalogEntries.filter((e) => e.target === 'replica').map((e) => e.name)),
    relationsSampled: data.latestTables.length > 0,
    seqScansLarge: seqScans, seqScans1M: seqScansOnLargeTables(data.tableScans, data.latestTables, THRESHOLDS.sc006TableRows),
    hitRatios: nodes, app: cache.app, latency: lat, connections: conn.nodes, partitions: parts.summary,
    previousMonth: prev.label, previousMonthRuns: previous.runs, previousReports, alertConfig: readAlertConfig(config.projectRoot),
  });
  const withSlo = { ...findings, slo };
  return {
    ...withSlo,
    generatedAt: now.toISOString(),
    generatedBy: opts.generatedBy,
    recommendations: recommend(withSlo, { maxLagMs: config.replicas.maxLagMs, premakeMonths: config.partitions.premakeMonths }),
  };
}
