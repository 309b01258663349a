import type { DailyPoint, Report } from '../model.ts';
import { barChart, esc, lineChart, type LineSeries } from './svg.ts';
import { fmtBytes, fmtDate, fmtMs, fmtNum, fmtPct, shortQuery } from './format.ts';

/**
 * The report as one self-contained HTML file: inline CSS and SVG, no script, no external
 * asset. Every section has a stable id (tests and links rely on them) and says plainly when
 * it has nothing to show, rather than disappearing.
 */
type Cell = string | number | null | undefined;

function table(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>, numeric: ReadonlySet<number> = new Set()): string {
  if (rows.length === 0) return '<p class="empty">None.</p>';
  const th = headers.map((h, i) => `<th${numeric.has(i) ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="n"' : ''}>${esc(c === null || c === undefined ? '—' : String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const nums = (...i: number[]) => new Set(i);
const dayX = (d: string) => Date.parse(`${d}T00:00:00Z`);
const dayLabel = (x: number) => new Date(x).toISOString().slice(5, 10);
const series = (name: string, points: readonly DailyPoint[]): LineSeries => ({ name, points: points.map((p) => ({ x: dayX(p.day), y: p.value })) });

/** `command` in recommendation text → <code> (the text is already escaped). */
const codeSpans = (escaped: string) => escaped.replace(/`([^`]+)`/g, '<code>$1</code>');

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${body}\n</section>`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;margin:0;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:24px}h1{margin:0 0 4px;font-size:26px}h2{margin:28px 0 10px;font-size:19px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.sub{color:#6b7280}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0;font-size:13px}th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.met{color:#166534;font-weight:600}.missed{color:#b91c1c;font-weight:600}.unknown{color:#6b7280}
.empty{color:#6b7280;font-style:italic}.chart{background:#fff;border:1px solid #e5e7eb;border-radius:6px;margin:8px 0;max-width:100%;height:auto}
.chart .ct{font-weight:600;font-size:13px}.chart .ax{font-size:11px;fill:#4b5563}.chart .lg{font-size:11px;fill:#111827}.chart .grid{stroke:#e5e7eb}.chart .thr{stroke:#b91c1c;stroke-dasharray:4 3}
.rec{background:#fff;border-left:4px solid #9ca3af;padding:6px 10px;margin:6px 0}.rec.high{border-color:#b91c1c}.rec.medium{border-color:#d97706}.rec.low{border-color:#2563eb}
code{font-size:12px;background:#f3f4f6;padding:1px 3px;border-radius:3px}.note{background:#fff7ed;border:1px solid #fed7aa;padding:6px 10px;border-radius:6px}`;

function sloTable(r: Report): string {
  const rows = r.slo.map((s) => `<tr><td>${esc(s.id)}</td><td>${esc(s.criterion)}</td><td>${esc(s.target)}</td><td class="${s.status}">${s.status}</td><td>${esc(s.figure)}</td><td class="sub">${esc(s.source)}</td></tr>`).join('\n');
  return `<table><thead><tr><th>ID</th><th>Criterion</th><th>Target</th><th>Status</th><th>Figure</th><th>Source</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

export function renderHtml(r: Report): string {
  const count = (s: string) => r.slo.filter((x) => x.status === s).length;
  const cards = [
    ['Statement time', fmtMs(r.totals.statementTimeMs)], ['Calls', fmtNum(r.totals.calls)],
    ['SLOs met / missed / unknown', `${count('met')} / ${count('missed')} / ${count('unknown')}`],
    ['Regressions', String(r.regressions.length)], ['Recommendations', String(r.recommendations.length)],
    ['Snapshots', `${fmtNum(r.coverage.runs)} of ~${fmtNum(r.coverage.expectedRuns)}`],
  ].map(([k, v]) => `<div class="card">${esc(k ?? '')}<b>${esc(v ?? '')}</b></div>`).join('');

  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`);
  out.push(`<title>BGC performance report ${esc(r.month)}</title><link rel="icon" href="data:,"><style>${CSS}</style></head><body><main>`);
  out.push(`<h1>Performance report — ${esc(r.month)}</h1><p class="sub">Period ${fmtDate(r.period.from)} to ${fmtDate(r.period.to)} (UTC), compared with ${esc(r.previousMonth)}. Generated ${fmtDate(r.generatedAt)} by ${esc(r.generatedBy)}.</p>`);
  out.push(`<div class="cards" id="summary">${cards}</div>`);

  out.push(section('recommendations', 'Recommendations', r.recommendations.length === 0 ? '<p class="empty">Nothing to act on this month.</p>'
    : r.recommendations.map((x) => `<div class="rec ${x.severity}"><b>${esc(x.severity.toUpperCase())}</b> — <b>${esc(x.title)}</b><br>${codeSpans(esc(x.detail))}</div>`).join('\n')));
  out.push(section('slo', 'Success criteria and targets', sloTable(r)));

  out.push(section('top-queries', 'Top queries by total time',
    barChart('Total execution time', r.topQueries.slice(0, 10).map((q) => ({ label: q.name ?? `queryid ${q.queryid}`, value: q.totalMs, note: fmtPct(q.share) })), fmtMs) +
    lineChart({ title: 'Daily execution time of the top five', series: r.dailyStatementTime.map((s) => series(s.name, s.points)), yFormat: fmtMs, xFormat: dayLabel }) +
    table(['Name', 'Calls', 'Total', 'Mean', 'Share', 'Rows', 'Hit ratio', 'On replicas', 'Statement'],
      r.topQueries.map((q) => [q.name ?? '—', fmtNum(q.calls), fmtMs(q.totalMs), fmtMs(q.meanMs), fmtPct(q.share), fmtNum(q.rows), fmtPct(q.hitRatio), fmtNum(q.replicaCalls), shortQuery(q.query)]), nums(1, 2, 3, 4, 5, 6, 7))));

  out.push(section('regressions', `Regressions against ${r.previousMonth} (mean time ≥ 2×)`,
    table(['Name', 'Mean before', 'Mean now', 'Ratio', 'Calls before', 'Calls now', 'Statement'],
      r.regressions.map((g) => [g.name ?? '—', fmtMs(g.previousMeanMs), fmtMs(g.meanMs), `×${g.ratio.toFixed(2)}`, fmtNum(g.previousCalls), fmtNum(g.calls), shortQuery(g.query)]), nums(1, 2, 3, 4, 5))));
  out.push(section('new-queries', 'New queries',
    table(['Name', 'Calls', 'Total', 'Mean', 'Statement'], r.newQueries.map((q) => [q.name ?? '—', fmtNum(q.calls), fmtMs(q.totalMs), fmtMs(q.meanMs), shortQuery(q.query)]), nums(1, 2, 3))));

  out.push(section('seq-scans', 'Sequential scans on large tables (≥ 10k rows)',
    table(['Table', 'Seq scans', 'Rows read', 'Index scans', 'Live rows', 'Size'], r.seqScans.map((s) => [s.table, fmtNum(s.seqScans), fmtNum(s.seqTupRead), fmtNum(s.idxScans), fmtNum(s.liveRows), fmtBytes(s.totalBytes)]), nums(1, 2, 3, 4, 5))));
  out.push(section('unused-indexes', 'Unused indexes (no scan on any node)',
    table(['Index', 'Table', 'Size', 'Days observed', 'Definition'], r.unusedIndexes.map((u) => [u.index, u.table, fmtBytes(u.sizeBytes), u.observedDays.toFixed(1), u.definition]), nums(2, 3))));
  out.push(section('duplicate-indexes', 'Duplicate indexes',
    table(['Index', 'Covered by', 'Table', 'Columns', 'Covering columns', 'Size'], r.duplicateIndexes.map((d) => [d.index, d.coveredBy, d.table, d.columns, d.coveringColumns, fmtBytes(d.sizeBytes)]), nums(5))));

  out.push(section('growth', 'Table and partition growth, with forecast',
    lineChart({ title: 'Size of the five fastest-growing tables', series: r.growth.slice(0, 5).map((g) => ({ name: g.table, points: g.points.map((p) => ({ x: Date.parse(p.t), y: p.bytes })) })), yFormat: fmtBytes, xFormat: dayLabel }) +
    table(['Table', 'Start', 'End', 'Growth', 'Per day (fit)', 'In 30 days', 'In 90 days', 'Rows'],
      r.growth.map((g) => [g.table, fmtBytes(g.startBytes), fmtBytes(g.endBytes), fmtBytes(g.growthBytes), fmtBytes(g.bytesPerDay), fmtBytes(g.forecast30dBytes), fmtBytes(g.forecast90dBytes), fmtNum(g.endRows)]), nums(1, 2, 3, 4, 5, 6, 7))));
  out.push(section('partitions', 'Partitions',
    table(['Table', 'Partitions', 'Total size', 'Months ahead', 'Newest range ends'], r.partitions.summary.map((p) => [p.parent, p.partitions, fmtBytes(p.totalBytes), p.monthsAhead, fmtDate(p.newestRangeTo)]), nums(1, 2, 3)) +
    table(['Partition', 'Range', 'Size', 'Growth in month', 'Rows (estimate)'], r.partitions.largest.map((p) => [p.partition, `${fmtDate(p.rangeFrom)} – ${fmtDate(p.rangeTo)}`, fmtBytes(p.bytes), fmtBytes(p.growthBytes), fmtNum(p.rows)]), nums(2, 3, 4))));
  out.push(section('bloat', 'Bloat estimate (dead tuples)',
    table(['Table', 'Live rows', 'Dead rows', 'Dead ratio', 'Table size', 'Estimated bloat', 'Last vacuum'], r.bloat.map((b) => [b.table, fmtNum(b.liveRows), fmtNum(b.deadRows), fmtPct(b.deadRatio), fmtBytes(b.tableBytes), fmtBytes(b.estimatedBloatBytes), fmtDate(b.lastAutovacuum)]), nums(1, 2, 3, 4, 5))));

  out.push(section('connections', 'Connection peaks',
    lineChart({ title: 'Daily peak connections per node', series: r.connections.daily.map((d) => series(d.node, d.points)), yFormat: (v) => fmtNum(v), xFormat: dayLabel }) +
    table(['Node', 'Peak', 'At', 'Active', 'Idle in tx', 'App', 'max_connections', 'Pool peak', 'Pool max', 'Waiting peak'],
      r.connections.nodes.map((c) => [c.node, c.peakTotal, fmtDate(c.peakAt), c.peakActive, c.peakIdleInTx, c.peakApp, c.maxConnections, c.poolPeak, c.poolMax, c.poolWaitingPeak]), nums(1, 3, 4, 5, 6, 7, 8, 9))));
  out.push(section('replica-lag', 'Replica lag distribution',
    lineChart({ title: 'Daily p95 replica lag', series: r.replicaLag.daily.map((d) => series(d.node, d.points)), yFormat: fmtMs, xFormat: dayLabel }) +
    table(['Replica', 'Samples', 'Unreachable', 'p50', 'p95', 'p99', 'Max', 'Max bytes'], r.replicaLag.nodes.map((l) => [l.node, fmtNum(l.samples), l.unreachable, fmtMs(l.p50Ms), fmtMs(l.p95Ms), fmtMs(l.p99Ms), fmtMs(l.maxMs), fmtBytes(l.maxBytes)]), nums(1, 2, 3, 4, 5, 6, 7))));
  out.push(section('cache', 'Cache hit ratios',
    table(['Node', 'Buffer cache hit', 'Index hit', 'Blocks read'], r.cache.nodes.map((h) => [h.node, fmtPct(h.bufferHitRatio, 2), fmtPct(h.indexHitRatio, 2), fmtNum(h.blksRead)]), nums(1, 2, 3)) +
    `<p>App cache (user data): <b>${fmtPct(r.cache.app.hitRatio)}</b> of ${fmtNum(r.cache.app.hits + r.cache.app.misses)} lookups; Redis memory peak ${fmtBytes(r.cache.app.peakMemoryBytes)} of ${r.cache.app.maxMemoryBytes ? fmtBytes(r.cache.app.maxMemoryBytes) : '—'}.</p>` +
    lineChart({ title: 'Daily app cache hit ratio', series: [series('hit ratio', r.cache.appDaily)], yFormat: (v) => fmtPct(v, 0), xFormat: dayLabel, threshold: { value: 0.95, label: 'target 95 %' } })));
  out.push(section('latency', 'Latency percentiles (app histograms)',
    table(['Kind', 'Label', 'Count', 'Mean', 'p50', 'p95', 'p99'], r.latency.map((l) => [l.kind, l.label, fmtNum(l.count), fmtMs(l.meanMs), fmtMs(l.p50Ms), fmtMs(l.p95Ms), fmtMs(l.p99Ms)]), nums(2, 3, 4, 5, 6))));
  out.push(section('alerts', 'Alerts that fired',
    `<p class="${r.alerts.reachable ? 'sub' : 'note'}">${esc(r.alerts.note)}</p>` +
    table(['Alert', 'Times', 'Total minutes'], r.alerts.byName.map((a) => [a.alertname, a.count, fmtNum(a.totalMinutes)]), nums(1, 2)) +
    table(['Alert', 'Severity', 'Started', 'Ended', 'Minutes', 'Summary'], r.alerts.fired.map((a) => [a.alertname, a.severity, fmtDate(a.startsAt), fmtDate(a.endsAt), a.durationMinutes, a.summary]), nums(4))));
  out.push(section('coverage', 'Data coverage',
    `<p>${fmtNum(r.coverage.runs)} snapshot runs (${fmtDate(r.coverage.firstSnapshotAt)} to ${fmtDate(r.coverage.lastSnapshotAt)}); ${fmtNum(r.coverage.previousMonthRuns)} in ${esc(r.previousMonth)}.</p>` +
    table(['Node', 'Snapshots', 'Failed', 'Resets detected', 'Deallocations'], r.coverage.nodes.map((n) => [n.node, fmtNum(n.snapshots), n.failed, n.resets, fmtNum(n.deallocations)]), nums(1, 2, 3, 4))));
  out.push('</main></body></html>\n');
  return out.join('\n');
}
