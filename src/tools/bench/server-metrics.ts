import type { PromSnapshot } from './prom-text.ts';

/**
 * Server-side measures of one workload, from two scrapes of the server's /metrics taken
 * just before and just after the measured run (counter deltas):
 *  - cache hit ratio: bgc_cache_requests_total{cache,tier,result}; null if the cache
 *    reported nothing (cache off, as in the baseline);
 *  - replica read share: of the app's read statements (catalog entries that do not
 *    write, router housekeeping `system.*` excluded), the share run on a replica;
 *  - round trips per request: statements the app sent (bgc_db_queries_total) divided by
 *    HTTP requests served. BEGIN/COMMIT and the router's own LSN checks are not in that
 *    counter; the latency proxy counts every round trip on the wire (round-trips.ts).
 */
export interface ServerMeasures {
  readonly cache_hit_ratio: number | null;
  readonly cache_by_name: Record<string, { hits: number; misses: number; hit_ratio: number | null }>;
  readonly replica_read_share: number | null;
  readonly read_statements: number;
  readonly statements: number;
  readonly http_requests: number;
  readonly round_trips_per_request: number | null;
  /**
   * Per catalog query (both roles), the p99 as the upper bound of the histogram bucket
   * it falls in (SLO buckets: 1, 2.5, 5, 10, 25, 50, 100 ms …), from the server's own
   * bgc_db_query_duration_seconds: the DESIGN §6 "every catalog query p99 ≤ 50 ms".
   */
  readonly query_p99_ms: Record<string, number>;
  /** App read statements per catalog query and role, to see which reads stayed on the primary. */
  readonly reads_by_query: Record<string, { replica: number; primary: number }>;
  /** Replica-eligible reads by routing decision (bgc_db_routed_total{reason}): why reads stayed on the primary. */
  readonly routing: Record<string, number>;
  /**
   * The server's own mean time per request (bgc_http_request_duration_seconds: from the
   * request event to the answer written), to set against the client's mean: in a closed loop
   * req/s = connections / client mean, so the time a request spends outside the handler
   * (socket queues, the event loop reaching it, the load generator reading the answer) costs
   * throughput as much as the handler's own time does. Null without the histogram.
   */
  readonly server_mean_ms: number | null;
  /** The same per route (method and path pattern), with its request count: which handlers hold the time. */
  readonly server_time_by_route: Record<string, { requests: number; mean_ms: number }>;
  /** The API's event-loop delay over the measured run; null if the server does not export it. */
  readonly event_loop_delay_ms: EventLoopDelay | null;
}

/**
 * How late the API's event loop ran a 10 ms timer (perf_hooks.monitorEventLoopDelay through
 * prom-client's default metrics, whose histogram is reset at each scrape: the `before` scrape
 * opens the window). A request that arrives during such a delay waits for it. The timer's own
 * 10 ms period is taken off, so an idle loop reads about 0. It counts both the loop's own busy
 * stretches and the time the OS did not run the process: on two shared cores both happen.
 */
export interface EventLoopDelay {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const CACHE = 'bgc_cache_requests_total';
const FIRST_PAGES = 'bgc_cache_first_page_reads_total';
const QUERY_COUNT = 'bgc_db_query_duration_seconds_count';
const STATEMENTS = 'bgc_db_queries_total';
const HTTP_COUNT = 'bgc_http_request_duration_seconds_count';

/** Which catalog entries write, by name (from the app's own catalog). */
export type WritesByName = ReadonlyMap<string, boolean>;

export function serverMeasures(before: PromSnapshot, after: PromSnapshot, writes: WritesByName, clientRequests: number): ServerMeasures {
  const cache = cacheMeasures(before, after);

  const isAppRead = (l: Readonly<Record<string, string>>): boolean => {
    const q = l.query ?? '';
    return !q.startsWith('system.') && writes.get(q) === false;
  };
  const reads = after.delta(before, QUERY_COUNT, isAppRead);
  const replicaReads = after.delta(before, QUERY_COUNT, (l) => isAppRead(l) && l.role === 'replica');

  const statements = after.delta(before, STATEMENTS);
  // Requests from the server's own histogram when it has one (the admin port is not in it).
  const served = after.has(HTTP_COUNT) ? after.delta(before, HTTP_COUNT) : clientRequests;
  const requests = served > 0 ? served : clientRequests;

  return {
    cache_hit_ratio: cache.ratio,
    cache_by_name: cache.byName,
    replica_read_share: reads > 0 ? replicaReads / reads : null,
    read_statements: reads,
    statements,
    http_requests: requests,
    round_trips_per_request: requests > 0 ? statements / requests : null,
    query_p99_ms: queryP99(before, after),
    reads_by_query: readsByQuery(before, after, isAppRead),
    routing: Object.fromEntries(after.labelValues(ROUTED, 'reason')
      .map((reason) => [reason, after.delta(before, ROUTED, (l) => l.reason === reason)] as const)
      .filter(([, n]) => n > 0)),
    server_mean_ms: serverMeanMs(before, after),
    server_time_by_route: serverTimeByRoute(before, after),
    event_loop_delay_ms: eventLoopDelay(after),
  };
}

const HTTP_SUM = 'bgc_http_request_duration_seconds_sum';

function serverMeanMs(before: PromSnapshot, after: PromSnapshot): number | null {
  const count = after.delta(before, HTTP_COUNT);
  return count > 0 ? Math.round((after.delta(before, HTTP_SUM) / count) * 1e6) / 1000 : null;
}

function serverTimeByRoute(before: PromSnapshot, after: PromSnapshot): Record<string, { requests: number; mean_ms: number }> {
  const out: Record<string, { requests: number; mean_ms: number }> = {};
  for (const route of after.labelValues(HTTP_COUNT, 'route')) {
    for (const method of after.labelValues(HTTP_COUNT, 'method')) {
      const mine = (l: Readonly<Record<string, string>>) => l.route === route && l.method === method;
      const requests = after.delta(before, HTTP_COUNT, mine);
      if (requests > 0) out[`${method} ${route}`] = { requests, mean_ms: Math.round((after.delta(before, HTTP_SUM, mine) / requests) * 1e6) / 1000 };
    }
  }
  return out;
}

const LOOP = 'bgc_process_nodejs_eventloop_lag';
/** monitorEventLoopDelay's resolution as prom-client sets it (eventLoopMonitoringPrecision). */
const LOOP_TIMER_MS = 10;

/** With several instances, the worst one's. */
function eventLoopDelay(after: PromSnapshot): EventLoopDelay | null {
  if (!after.has(`${LOOP}_p99_seconds`)) return null;
  const ms = (stat: string) => Math.max(0, Math.round((after.max(`${LOOP}_${stat}_seconds`) * 1000 - LOOP_TIMER_MS) * 100) / 100);
  return { mean: ms('mean'), p50: ms('p50'), p99: ms('p99'), max: ms('max') };
}

const ROUTED = 'bgc_db_routed_total';

function readsByQuery(before: PromSnapshot, after: PromSnapshot, isAppRead: (l: Readonly<Record<string, string>>) => boolean): Record<string, { replica: number; primary: number }> {
  const out: Record<string, { replica: number; primary: number }> = {};
  for (const q of after.labelValues(QUERY_COUNT, 'query')) {
    const replica = after.delta(before, QUERY_COUNT, (l) => l.query === q && isAppRead(l) && l.role === 'replica');
    const primary = after.delta(before, QUERY_COUNT, (l) => l.query === q && isAppRead(l) && l.role === 'primary');
    if (replica + primary > 0) out[q] = { replica, primary };
  }
  return out;
}

const QUERY_BUCKET = 'bgc_db_query_duration_seconds_bucket';

function queryP99(before: PromSnapshot, after: PromSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of after.labelValues(QUERY_COUNT, 'query')) {
    if (q.startsWith('system.')) continue;
    const total = after.delta(before, QUERY_COUNT, (l) => l.query === q);
    if (total <= 0) continue;
    const bounds = after.labelValues(QUERY_BUCKET, 'le').filter((le) => le !== '+Inf').map(Number).sort((a, b) => a - b);
    let p99: number = Number.POSITIVE_INFINITY;
    for (const le of bounds) {
      const n = after.delta(before, QUERY_BUCKET, (l) => l.query === q && Number(l.le) === le);
      if (n >= 0.99 * total) { p99 = le * 1000; break; }
    }
    out[q] = p99;
  }
  return out;
}

/**
 * A lookup that misses L1 and then hits L2 must count once, as a hit. So: hits are hits
 * at any tier, misses are misses at the last tier consulted (the ones that went to the
 * database). With a single tier this is plain hits / (hits + misses).
 */
function cacheMeasures(before: PromSnapshot, after: PromSnapshot): { ratio: number | null; byName: ServerMeasures['cache_by_name'] } {
  if (!after.has(CACHE)) return { ratio: null, byName: {} };
  const tiers = after.labelValues(CACHE, 'tier');
  const lastTier = tiers.length > 0 ? tiers[tiers.length - 1] : undefined;
  const isMiss = (l: Readonly<Record<string, string>>) => l.result === 'miss' && (lastTier === undefined || l.tier === lastTier);
  const byName: ServerMeasures['cache_by_name'] = {};
  let hits = 0;
  let misses = 0;
  for (const name of after.labelValues(CACHE, 'cache')) {
    const h = after.delta(before, CACHE, (l) => l.cache === name && l.result === 'hit');
    const m = after.delta(before, CACHE, (l) => l.cache === name && isMiss(l));
    byName[name] = { hits: h, misses: m, hit_ratio: h + m > 0 ? h / (h + m) : null };
    hits += h;
    misses += m;
  }
  // First pages (src/cache/page-cache.ts): a hit is a read answered with no statement of its
  // own; loads and reads older entries could not serve are misses. Not in the overall ratio,
  // which stays the profile, session and relationship caches' (DESIGN's ≥ 95% target).
  for (const kind of after.labelValues(FIRST_PAGES, 'kind')) {
    const h = after.delta(before, FIRST_PAGES, (l) => l.kind === kind && l.result === 'hit');
    const m = after.delta(before, FIRST_PAGES, (l) => l.kind === kind && l.result !== 'hit');
    if (h + m > 0) byName[`page:${kind}`] = { hits: h, misses: m, hit_ratio: h / (h + m) };
  }
  return { ratio: hits + misses > 0 ? hits / (hits + misses) : null, byName };
}
