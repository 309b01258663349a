import type { Recommendation, Report } from '../model.ts';
import { THRESHOLDS as T } from '../thresholds.ts';
import { fmtBytes, fmtDate, fmtMs, fmtNum, fmtPct } from '../render/format.ts';

type Findings = Omit<Report, 'recommendations' | 'generatedAt' | 'generatedBy'>;

/**
 * Concrete next steps derived from the findings, most urgent first. Each names the object and
 * the command or setting to change, so the reader can act without re-deriving the analysis.
 */
export function recommend(r: Findings, opts: { maxLagMs: number; premakeMonths: number }): Recommendation[] {
  const out: Recommendation[] = [];
  const add = (severity: Recommendation['severity'], section: string, title: string, detail: string) => out.push({ severity, section, title, detail });

  for (const g of r.regressions.slice(0, 5)) {
    add('high', 'regressions', `Investigate the slowdown of ${g.name ?? `queryid ${g.queryid}`}`,
      `Mean time went from ${fmtMs(g.previousMeanMs)} to ${fmtMs(g.meanMs)} (×${g.ratio.toFixed(1)}) over ${fmtNum(g.calls)} calls. ` +
      `Compare plans with \`bgc explain${g.name ? ` ${g.name}` : ''}\`; look for a lost index, stale statistics (ANALYZE) or a growing partition.`);
  }
  for (const s of r.seqScans.slice(0, 5)) {
    add(s.liveRows >= T.sc006TableRows ? 'high' : 'medium', 'seqScans', `Stop sequential scans on ${s.table}`,
      `${fmtNum(s.seqScans)} sequential scans read ${fmtNum(s.seqTupRead)} rows of a ${fmtNum(s.liveRows)}-row table. ` +
      'Find the statement with `bgc explain` (seq_scan flag) and add or fix the index it needs.');
  }
  for (const u of r.unusedIndexes.slice(0, 5)) {
    add(u.sizeBytes >= T.unusedIndexBigBytes ? 'medium' : 'low', 'unusedIndexes', `Drop the unused index ${u.index} (${fmtBytes(u.sizeBytes)})`,
      `No scan on any node in ${u.observedDays.toFixed(0)} days observed; every write still maintains it. ` +
      `Check it serves no rare job, then \`DROP INDEX CONCURRENTLY ${u.index};\` in a new migration.`);
  }
  for (const d of r.duplicateIndexes.slice(0, 5)) {
    add('medium', 'duplicateIndexes', `Drop ${d.index}: covered by ${d.coveredBy}`,
      `(${d.columns}) is a leading prefix of (${d.coveringColumns}) on ${d.table}; the wider index answers the same lookups. Frees ${fmtBytes(d.sizeBytes)}.`);
  }
  for (const b of r.bloat.filter((x) => x.deadRatio >= T.bloatDeadRatio && x.deadRows >= T.bloatMinDeadRows).slice(0, 5)) {
    add('medium', 'bloat', `Vacuum ${b.table}: ${fmtPct(b.deadRatio)} dead rows`,
      `${fmtNum(b.deadRows)} dead rows (~${fmtBytes(b.estimatedBloatBytes)}); last vacuum ${b.lastAutovacuum ? fmtDate(b.lastAutovacuum) : 'never'}. ` +
      `Run \`VACUUM (ANALYZE) ${b.table};\` and lower its autovacuum_vacuum_scale_factor (e.g. 0.02) so autovacuum keeps up.`);
  }
  for (const h of r.cache.nodes.filter((x) => x.bufferHitRatio !== null && x.bufferHitRatio < T.bufferHitRatio)) {
    add('medium', 'cache', `Buffer cache hit ratio on ${h.node} is ${fmtPct(h.bufferHitRatio, 2)}`,
      `Below ${fmtPct(T.bufferHitRatio, 0)}: ${fmtNum(h.blksRead)} blocks read from disk. Check the top queries' shared_blks_read; consider more shared_buffers or a covering index.`);
  }
  if (r.cache.app.hitRatio !== null && r.cache.app.hitRatio < T.appCacheHitRatio) {
    add('medium', 'cache', `App cache hit ratio is ${fmtPct(r.cache.app.hitRatio)} (target ${fmtPct(T.appCacheHitRatio, 0)})`,
      'Raise BGC_CACHE_PROFILE_TTL_S or BGC_CACHE_WARM_COUNT, and check bgc_cache_invalidations_total for invalidation storms.');
  }
  for (const l of r.replicaLag.nodes.filter((x) => (x.p99Ms ?? 0) > opts.maxLagMs || x.unreachable > 0)) {
    add('high', 'replicaLag', `Replica ${l.node}: lag p99 ${fmtMs(l.p99Ms)}${l.unreachable > 0 ? `, unreachable in ${l.unreachable} snapshot(s)` : ''}`,
      `Reads leave a replica above BGC_REPLICA_MAX_LAG_MS (${opts.maxLagMs} ms). Check its log, disk and long queries blocking replay (max_standby_streaming_delay).`);
  }
  for (const c of r.connections.nodes) {
    if (c.peakTotal !== null && c.maxConnections && c.peakTotal >= T.connectionShare * c.maxConnections) {
      add('high', 'connections', `Connections on ${c.node} peaked at ${c.peakTotal} of ${c.maxConnections}`,
        'Above 80 % of max_connections: reduce per-instance pool sizes or put PgBouncer (transaction mode) in front.');
    }
    if ((c.poolWaitingPeak ?? 0) > 0) {
      add('medium', 'connections', `Requests queued for a ${c.node} connection (peak ${c.poolWaitingPeak} waiting)`,
        'The pool was saturated at snapshot time. Fix the slowest statements first; raise BGC_POOL_MAX_OVERFLOW only if the node has headroom.');
    }
  }
  for (const p of r.partitions.summary.filter((x) => x.monthsAhead === null || x.monthsAhead < opts.premakeMonths)) {
    add(p.monthsAhead === null || p.monthsAhead < 1 ? 'high' : 'low', 'partitions', `${p.parent}: only ${p.monthsAhead ?? 0} month(s) of partitions ahead`,
      `The maintenance job keeps BGC_PARTITION_PREMAKE_MONTHS (${opts.premakeMonths}) ahead; run \`bgc partitions maintain\` and check the job's failures metric.`);
  }
  const fastest = [...r.growth].sort((a, b) => b.bytesPerDay - a.bytesPerDay)[0];
  if (fastest && fastest.bytesPerDay > 0) {
    add('low', 'growth', `Plan capacity for ${fastest.table}`,
      `Growing ${fmtBytes(fastest.bytesPerDay)}/day: ${fmtBytes(fastest.forecast90dBytes)} expected in 90 days (linear fit).`);
  }
  const deallocs = r.coverage.nodes.reduce((a, n) => a + n.deallocations, 0);
  if (deallocs > 0) {
    add('low', 'coverage', `Raise pg_stat_statements.max (${fmtNum(deallocs)} deallocations)`,
      'Entries were evicted to make room; rarely run statements may be missing from these figures.');
  }
  for (const n of r.coverage.nodes.filter((x) => x.failed > 0)) {
    add('medium', 'coverage', `${n.node} was unreachable in ${n.failed} of ${n.snapshots} snapshots`, 'See the alerts section and the node\'s log for the outage.');
  }
  const noisy = r.alerts.byName[0];
  if (noisy && noisy.count >= 3) {
    add('medium', 'alerts', `Alert ${noisy.alertname} fired ${noisy.count} times`, 'Fix the cause or tune the rule; an alert that fires every week gets ignored.');
  }
  const order = { high: 0, medium: 1, low: 2 } as const;
  return out.sort((a, b) => order[a.severity] - order[b.severity]);
}
