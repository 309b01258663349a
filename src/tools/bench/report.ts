import { printTable } from '../cli/output.ts';
import type { FloorRatio } from './ratios.ts';
import type { BenchReport } from './bench-report.ts';
import type { FloorMeasure, Ratio, RoundTripProbe, WorkloadMeasure } from './report-types.ts';

/** The human-readable report on stdout: one table per section, then the checks. */
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(1)}%`);
const num = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? '-' : String(Math.round(v * 10 ** digits) / 10 ** digits));
const x = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v.toFixed(2)}×`);
/** "2.26 (serving 1.99)": the cores half the durable-commit floor needs at the workload's CPU per request. */
const coresText = (c: FloorRatio['cores_for_half_durable_commit']) => (c ? `${c.all.toFixed(2)} (serving ${c.serving.toFixed(2)})` : '-');

function heading(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

export function workloadRows(ws: Readonly<Record<string, WorkloadMeasure>>): Array<Record<string, unknown>> {
  return Object.values(ws).map((w) => ({
    workload: w.workload,
    load: w.mode === 'open' ? `${w.rate}/s paced, ${w.connections} conns` : `${w.connections} conns closed`,
    rps: w.rps,
    p50_ms: w.p50_ms,
    p95_ms: w.p95_ms,
    p99_ms: w.p99_ms,
    errors: w.errors,
    cache_hit: pct(w.cache_hit_ratio),
    replica_reads: pct(w.replica_read_share),
    max_pg_conns: Object.entries(w.max_pg_connections).map(([n, c]) => `${n.replace('replica', 'r')}=${c}`).join(' '),
    rt_per_req: num(w.round_trips_per_request),
    slowest_query_p99: slowestQuery(w),
  }));
}

/** The catalog query with the highest p99 bucket during the run, e.g. "feed.following ≤10ms". */
function slowestQuery(w: WorkloadMeasure): string {
  let worst: [string, number | null] | undefined;
  for (const [q, v] of Object.entries(w.query_p99_ms)) {
    if (!worst || v === null || (worst[1] !== null && v > worst[1])) worst = [q, v];
  }
  if (!worst) return '-';
  return `${worst[0]} ${worst[1] === null ? '>5s' : `≤${worst[1]}ms`}`;
}

function printWorkloads(title: string, ws: Readonly<Record<string, WorkloadMeasure>>): void {
  heading(title);
  printTable(workloadRows(ws));
  for (const w of Object.values(ws)) {
    if (Object.keys(w.per_op).length < 2) continue;
    process.stdout.write(`\n  ${w.workload}, per operation:\n`);
    printTable(Object.entries(w.per_op).map(([op, s]) => ({ op, requests: s.requests, errors: s.errors, p50_ms: s.p50_ms, p95_ms: s.p95_ms, p99_ms: s.p99_ms })));
  }
  printCaches(ws);
  printFirstPages(ws);
  printTimeSplit(ws);
  printCpu(ws);
  for (const w of Object.values(ws)) {
    if (w.sample_errors.length > 0) process.stdout.write(`  ${w.workload} errors, e.g.: ${w.sample_errors.slice(0, 3).join(' | ')}\n`);
  }
}

/** The hit ratio per typed cache (profile, relationship, session): which one the misses came from. */
function printCaches(ws: Readonly<Record<string, WorkloadMeasure>>): void {
  const rows = Object.values(ws).flatMap((w) => Object.entries(w.cache_by_name)
    .filter(([name, c]) => !name.startsWith('page:') && c.hits + c.misses > 0)
    .map(([name, c]) => ({ workload: w.workload, cache: name, hits: c.hits, misses: c.misses, hit: pct(c.hit_ratio) })));
  if (rows.length === 0) return;
  process.stdout.write('\n  Cache lookups by cache (a miss read the database):\n');
  printTable(rows);
}

/** First pages answered with no statement of their own (src/cache/page-cache.ts), by kind. */
function printFirstPages(ws: Readonly<Record<string, WorkloadMeasure>>): void {
  const rows = Object.values(ws).flatMap((w) => Object.entries(w.cache_by_name)
    .filter(([name]) => name.startsWith('page:'))
    .map(([name, c]) => ({ workload: w.workload, first_page: name.slice('page:'.length), hits: c.hits, misses: c.misses, hit: pct(c.hit_ratio) })));
  if (rows.length === 0) return;
  process.stdout.write('\n  First pages from the cache (a miss loaded the entry, or the entry was older than the reader\'s own last write):\n');
  printTable(rows);
}

/** Where a request's time went: the client's mean against the server handler's, and the API's event-loop delay. */
function printTimeSplit(ws: Readonly<Record<string, WorkloadMeasure>>): void {
  const measured = Object.values(ws).filter((w) => w.time_split);
  if (measured.length === 0) return;
  process.stdout.write('\n  Mean time per request (ms): at the client, in the server\'s handler, outside it; the API event loop\'s delay:\n');
  printTable(measured.map((w) => {
    const t = w.time_split;
    const loop = t?.event_loop_delay_ms;
    return {
      workload: w.workload, client: t?.client_mean_ms ?? '-', server: t?.server_mean_ms ?? '-', outside: t?.outside_mean_ms ?? '-',
      loop_delay_mean: loop?.mean ?? '-', loop_p50: loop?.p50 ?? '-', loop_p99: loop?.p99 ?? '-', loop_max: loop?.max ?? '-',
    };
  }));
  const routes = measured.filter((w) => Object.keys(w.time_split?.by_route ?? {}).length > 1);
  if (routes.length === 0) return;
  process.stdout.write('\n  Handler time by route (share of the server\'s time; mean ms):\n');
  printTable(routes.flatMap((w) => {
    const entries = Object.entries(w.time_split?.by_route ?? {});
    const total = entries.reduce((n, [, r]) => n + r.requests * r.mean_ms, 0);
    return entries.slice(0, 8).map(([route, r]) => ({
      workload: w.workload, route, requests: r.requests, mean_ms: r.mean_ms, share: total > 0 ? `${((100 * r.requests * r.mean_ms) / total).toFixed(1)}%` : '-',
    }));
  }));
}

/** Where the cores went: CPU ms per request per process tree, cores busy, and the top database entries. */
function printCpu(ws: Readonly<Record<string, WorkloadMeasure>>): void {
  const measured = Object.values(ws).filter((w) => w.cpu);
  if (measured.length === 0) return;
  process.stdout.write('\n  CPU ms per request (cores busy), per process tree:\n');
  printTable(measured.map((w) => ({
    workload: w.workload,
    ...Object.fromEntries(Object.entries(w.cpu?.cpu_ms_per_request ?? {}).map(([name, ms]) => [name, ms === null ? '-' : `${ms} (${w.cpu?.cores[name] ?? '-'})`])),
  })));
  const bounds = measured.filter((w) => w.cpu_bound);
  if (bounds.length > 0) {
    process.stdout.write('\n  What the cores allow at that CPU per request (all processes; serving side: without the load generator and harness):\n');
    printTable(bounds.map((w) => ({
      workload: w.workload, all_ms: w.cpu_bound?.all_ms_per_request, rps_at_all_cores: w.cpu_bound?.rps_at_all_cores,
      measured_share: pct(w.cpu_bound?.share_of_bound), serving_ms: w.cpu_bound?.serving_ms_per_request, serving_rps_at_all_cores: w.cpu_bound?.serving_rps_at_all_cores,
    })));
  }
  const waits = measured.filter((w) => w.cpu?.waiting);
  if (waits.length > 0) {
    process.stdout.write('\n  Waiting for a core (average threads runnable but not running; api_main_thread: share of the run its event loop waited):\n');
    printTable(waits.map((w) => ({
      workload: w.workload,
      ...Object.fromEntries(Object.entries(w.cpu?.waiting ?? {}).map(([name, v]) => [name, v ?? '-'])),
    })));
  }
  const redis = measured.filter((w) => w.redis_commands);
  if (redis.length > 0) {
    process.stdout.write('\n  Redis commands per request (INFO commandstats; a script\'s own commands count too):\n');
    printTable(redis.map((w) => ({
      workload: w.workload, per_request: w.redis_commands?.per_request ?? '-',
      busiest: Object.entries(w.redis_commands?.top ?? {}).map(([c, n]) => `${c} ${n}`).join(', '),
    })));
  }
  const top = measured.flatMap((w) => (w.db_time_top ?? []).map((e) => ({ workload: w.workload, entry: e.name, node: e.node, ms_per_request: e.ms_per_request, calls_per_request: e.calls_per_request, ms_per_call: e.ms_per_call })));
  if (top.length === 0) return;
  process.stdout.write('\n  Top catalog entries by executor time per request (pg_stat_statements):\n');
  printTable(top);
}

function printFloor(floor: Readonly<Record<string, FloorMeasure>>): void {
  heading('Floor (same machine, same run)');
  printTable(Object.values(floor).map((f) => ({ floor: f.name, clients: f.clients, rps: f.rps, p50_ms: f.p50_ms, p95_ms: f.p95_ms, p99_ms: f.p99_ms, errors: f.errors, what: f.description })));
}

function printRatios(vsBase: Readonly<Record<string, Ratio & { p50_faster_pct: number | null }>> | null, vsFloor: Readonly<Record<string, FloorRatio>> | null): void {
  heading('Ratios (optimized / baseline: rps higher is better, latency lower is better; workload / trivial route; write workload / durable one-row commit)');
  const names = new Set([...Object.keys(vsBase ?? {}), ...Object.keys(vsFloor ?? {})]);
  printTable([...names].map((n) => ({
    workload: n,
    rps_vs_baseline: x(vsBase?.[n]?.rps),
    p50_vs_baseline: x(vsBase?.[n]?.p50),
    p99_vs_baseline: x(vsBase?.[n]?.p99),
    p50_faster: vsBase?.[n]?.p50_faster_pct === null || vsBase?.[n]?.p50_faster_pct === undefined ? '-' : `${vsBase[n]?.p50_faster_pct}%`,
    rps_vs_floor_route: pct(vsFloor?.[n]?.rps_vs_trivial_route),
    rps_vs_durable_commit: pct(vsFloor?.[n]?.rps_vs_durable_commit),
    cores_for_half_commit: coresText(vsFloor?.[n]?.cores_for_half_durable_commit),
  })));
}

function printRoundTrips(rts: readonly RoundTripProbe[], delayMs: number): void {
  heading(`Round trips per request on the wire (latency proxy, +${delayMs} ms each way)`);
  printTable(rts.map((r) => ({
    case: r.case, requests: r.requests, pg_round_trips: r.pg_round_trips_per_request, redis_round_trips: r.redis_round_trips_per_request,
    median_ms: r.latency_ms_median, implied_round_trips: r.implied_round_trips,
  })));
}

export function printReport(r: BenchReport): void {
  process.stdout.write(`bgc bench: preset ${r.meta.preset}, ${r.meta.date}, ${r.meta.machine.cpus} × ${r.meta.machine.cpu_model}, node ${r.meta.machine.node}\n`);
  process.stdout.write(`latency: ${r.meta.latency_note}\n`);
  const settings = Object.entries(r.meta.server_env ?? {});
  if (settings.length > 0) process.stdout.write(`server under test with --server-env ${settings.map(([k, v]) => `${k}=${v}`).join(',')}\n`);
  process.stdout.write(`load average (1/5/15 min) at start ${r.meta.machine.load_average_at_start.join(' ')}, at end ${r.meta.load_average_at_end.join(' ')} on ${r.meta.machine.cpus} CPUs\n`);
  if (Object.keys(r.workloads).length > 0) printWorkloads(`Optimized (${r.optimized?.database ?? '-'})`, r.workloads);
  if (r.baseline) printWorkloads(`Baseline (${r.baseline.database}: no partitions, primary keys only, no cache, no replicas, default pool)`, r.baseline.workloads);
  if (r.floor) printFloor(r.floor);
  if (r.ratios.optimized_vs_baseline || r.ratios.vs_floor) printRatios(r.ratios.optimized_vs_baseline, r.ratios.vs_floor);
  const p = r.ratios.mixed_paired;
  if (p) {
    process.stdout.write(`\n  mixed, paired (optimized and baseline alternating, ${p.rounds.length} rounds): ${p.optimized_rps} vs ${p.baseline_rps} req/s = ${x(p.ratio)}`);
    process.stdout.write(` [${p.rounds.map((q) => `${q.optimized_rps}/${q.baseline_rps}`).join(' ')}]\n`);
  }
  if (r.round_trips && r.meta.latency_ms) printRoundTrips(r.round_trips, r.meta.latency_ms);
  for (const [name, s] of Object.entries(r.scenarios)) {
    heading(`Scenario: ${name}`);
    process.stdout.write(`${s.summary}\n`);
    for (const [label, ws] of Object.entries(s.workloads)) {
      process.stdout.write(`\n  ${label}:\n`);
      printTable(workloadRows(ws));
    }
  }
  if (r.checks.length > 0) {
    heading('Checks');
    printTable(r.checks.map((c) => ({ check: c.name, result: c.ok ? 'ok' : 'FAIL', detail: c.detail })));
  }
}
