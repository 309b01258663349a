import type { Report } from '../model.ts';
import { fmtBytes, fmtDate, fmtMs, fmtNum, fmtPct, shortQuery } from './format.ts';

/** The report as GitHub-flavoured Markdown: the same sections as the HTML, tables instead of charts. */
type Cell = string | number | null | undefined;

function cell(c: Cell): string {
  return (c === null || c === undefined ? '—' : String(c)).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  if (rows.length === 0) return '_None._';
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

export function renderMarkdown(r: Report): string {
  const s: string[] = [];
  const h = (title: string) => s.push('', `## ${title}`, '');
  s.push(`# Performance report — ${r.month}`, '', `Period ${fmtDate(r.period.from)} to ${fmtDate(r.period.to)} (UTC), compared with ${r.previousMonth}. Generated ${fmtDate(r.generatedAt)} by ${r.generatedBy}.`);
  const count = (x: string) => r.slo.filter((y) => y.status === x).length;
  s.push('', `Statement time ${fmtMs(r.totals.statementTimeMs)} over ${fmtNum(r.totals.calls)} calls; SLOs met ${count('met')}, missed ${count('missed')}, unknown ${count('unknown')}; ${r.regressions.length} regression(s); ${fmtNum(r.coverage.runs)} snapshot runs.`);

  h('Recommendations');
  s.push(r.recommendations.length === 0 ? '_Nothing to act on this month._' : r.recommendations.map((x) => `- **${x.severity.toUpperCase()}** — **${x.title}**. ${x.detail}`).join('\n'));
  h('Success criteria and targets');
  s.push(table(['ID', 'Criterion', 'Target', 'Status', 'Figure', 'Source'], r.slo.map((x) => [x.id, x.criterion, x.target, x.status.toUpperCase(), x.figure, x.source])));
  h('Top queries by total time');
  s.push(table(['Name', 'Calls', 'Total', 'Mean', 'Share', 'Rows', 'Hit ratio', 'On replicas', 'Statement'],
    r.topQueries.map((q) => [q.name, fmtNum(q.calls), fmtMs(q.totalMs), fmtMs(q.meanMs), fmtPct(q.share), fmtNum(q.rows), fmtPct(q.hitRatio), fmtNum(q.replicaCalls), `\`${shortQuery(q.query, 100)}\``])));
  h(`Regressions against ${r.previousMonth} (mean time ≥ 2×)`);
  s.push(table(['Name', 'Mean before', 'Mean now', 'Ratio', 'Calls before', 'Calls now'], r.regressions.map((g) => [g.name ?? g.queryid, fmtMs(g.previousMeanMs), fmtMs(g.meanMs), `×${g.ratio.toFixed(2)}`, fmtNum(g.previousCalls), fmtNum(g.calls)])));
  h('New queries');
  s.push(table(['Name', 'Calls', 'Total', 'Mean'], r.newQueries.map((q) => [q.name ?? q.queryid, fmtNum(q.calls), fmtMs(q.totalMs), fmtMs(q.meanMs)])));
  h('Sequential scans on large tables (≥ 10k rows)');
  s.push(table(['Table', 'Seq scans', 'Rows read', 'Index scans', 'Live rows', 'Size'], r.seqScans.map((x) => [x.table, fmtNum(x.seqScans), fmtNum(x.seqTupRead), fmtNum(x.idxScans), fmtNum(x.liveRows), fmtBytes(x.totalBytes)])));
  h('Unused indexes (no scan on any node)');
  s.push(table(['Index', 'Table', 'Size', 'Days observed'], r.unusedIndexes.map((u) => [u.index, u.table, fmtBytes(u.sizeBytes), u.observedDays.toFixed(1)])));
  h('Duplicate indexes');
  s.push(table(['Index', 'Covered by', 'Table', 'Columns', 'Covering columns', 'Size'], r.duplicateIndexes.map((d) => [d.index, d.coveredBy, d.table, d.columns, d.coveringColumns, fmtBytes(d.sizeBytes)])));
  h('Table and partition growth, with forecast');
  s.push(table(['Table', 'Start', 'End', 'Growth', 'Per day (fit)', 'In 30 days', 'In 90 days', 'Rows'],
    r.growth.map((g) => [g.table, fmtBytes(g.startBytes), fmtBytes(g.endBytes), fmtBytes(g.growthBytes), fmtBytes(g.bytesPerDay), fmtBytes(g.forecast30dBytes), fmtBytes(g.forecast90dBytes), fmtNum(g.endRows)])));
  s.push('', table(['Partitioned table', 'Partitions', 'Total size', 'Months ahead'], r.partitions.summary.map((p) => [p.parent, p.partitions, fmtBytes(p.totalBytes), p.monthsAhead])));
  s.push('', table(['Partition', 'Size', 'Growth in month', 'Rows (estimate)'], r.partitions.largest.map((p) => [p.partition, fmtBytes(p.bytes), fmtBytes(p.growthBytes), fmtNum(p.rows)])));
  h('Bloat estimate (dead tuples)');
  s.push(table(['Table', 'Live rows', 'Dead rows', 'Dead ratio', 'Estimated bloat', 'Last vacuum'], r.bloat.map((b) => [b.table, fmtNum(b.liveRows), fmtNum(b.deadRows), fmtPct(b.deadRatio), fmtBytes(b.estimatedBloatBytes), fmtDate(b.lastAutovacuum)])));
  h('Connection peaks');
  s.push(table(['Node', 'Peak', 'At', 'Active', 'Idle in tx', 'max_connections', 'Pool peak', 'Pool max', 'Waiting peak'],
    r.connections.nodes.map((c) => [c.node, c.peakTotal, fmtDate(c.peakAt), c.peakActive, c.peakIdleInTx, c.maxConnections, c.poolPeak, c.poolMax, c.poolWaitingPeak])));
  h('Replica lag distribution');
  s.push(table(['Replica', 'Samples', 'Unreachable', 'p50', 'p95', 'p99', 'Max', 'Max bytes'], r.replicaLag.nodes.map((l) => [l.node, fmtNum(l.samples), l.unreachable, fmtMs(l.p50Ms), fmtMs(l.p95Ms), fmtMs(l.p99Ms), fmtMs(l.maxMs), fmtBytes(l.maxBytes)])));
  h('Cache hit ratios');
  s.push(table(['Node', 'Buffer cache hit', 'Index hit', 'Blocks read'], r.cache.nodes.map((x) => [x.node, fmtPct(x.bufferHitRatio, 2), fmtPct(x.indexHitRatio, 2), fmtNum(x.blksRead)])));
  s.push('', `App cache (user data): **${fmtPct(r.cache.app.hitRatio)}** of ${fmtNum(r.cache.app.hits + r.cache.app.misses)} lookups; Redis memory peak ${fmtBytes(r.cache.app.peakMemoryBytes)}.`);
  h('Latency percentiles (app histograms)');
  s.push(table(['Kind', 'Label', 'Count', 'Mean', 'p50', 'p95', 'p99'], r.latency.map((l) => [l.kind, l.label, fmtNum(l.count), fmtMs(l.meanMs), fmtMs(l.p50Ms), fmtMs(l.p95Ms), fmtMs(l.p99Ms)])));
  h('Alerts that fired');
  s.push(r.alerts.note, '', table(['Alert', 'Times', 'Total minutes'], r.alerts.byName.map((a) => [a.alertname, a.count, fmtNum(a.totalMinutes)])));
  s.push('', table(['Alert', 'Severity', 'Started', 'Ended', 'Minutes', 'Summary'], r.alerts.fired.map((a) => [a.alertname, a.severity, fmtDate(a.startsAt), fmtDate(a.endsAt), a.durationMinutes, a.summary])));
  h('Data coverage');
  s.push(`${fmtNum(r.coverage.runs)} snapshot runs (${fmtDate(r.coverage.firstSnapshotAt)} to ${fmtDate(r.coverage.lastSnapshotAt)}); ${fmtNum(r.coverage.previousMonthRuns)} in ${r.previousMonth}.`, '',
    table(['Node', 'Snapshots', 'Failed', 'Resets detected', 'Deallocations'], r.coverage.nodes.map((n) => [n.node, fmtNum(n.snapshots), n.failed, n.resets, fmtNum(n.deallocations)])));
  return `${s.join('\n')}\n`;
}
