/**
 * The report's judgement calls, in one place so every month is judged alike. Sources: DESIGN §6
 * targets, the specification's success criteria (SC-001…SC-015), PgHero's checks and the
 * awesome-prometheus-alerts thresholds (docs/../shared/reference/monitoring.md).
 */
export const THRESHOLDS = {
  topQueries: 15,
  /** A statement is regressed when its mean time is at least this many times last month's… */
  regressionRatio: 2,
  /** …and it ran at least this often in both months (a handful of calls is noise). */
  regressionMinCalls: 10,
  newQueriesShown: 15,
  /** DESIGN §6: no sequential scan on any relation above 10k rows. */
  largeTableRows: 10_000,
  /** SC-006: no sequential scans on tables > 1M rows. */
  sc006TableRows: 1_000_000,
  /** An index must have been watched this long before "no scans" means "unused". */
  unusedMinObservedDays: 7,
  /** PgHero flags unused indexes from 10 MB; smaller ones are listed at low severity. */
  unusedIndexBigBytes: 10 * 1024 * 1024,
  /** awesome-prometheus-alerts "dead tuples": ≥ 10 % and > 10k. */
  bloatDeadRatio: 0.1,
  bloatMinDeadRows: 10_000,
  /** PgHero: cache hit rate under 99 % deserves a look. */
  bufferHitRatio: 0.99,
  /** SC-003 */
  indexHitRatio: 0.95,
  /** DESIGN §6 (user data, Zipf reads); SC-007 asks for 0.8. */
  appCacheHitRatio: 0.95,
  sc007CacheHitRatio: 0.8,
  /** awesome-prometheus-alerts "too many connections": 80 % of max_connections. */
  connectionShare: 0.8,
  /** DESIGN §6 latency targets (ms). */
  catalogP99Ms: 50,
  inboxP99Ms: 10,
  historyP99Ms: 5,
  searchP99Ms: 25,
  cachedProfileP99Ms: 5,
  /** SC-004, SC-005, SC-008 (ms). */
  complexQueryMs: 500,
  metadataSearchMs: 100,
  profileFromCacheMs: 50,
  /** DESIGN §6: ≥ 90 % of reads served by replicas. */
  replicaReadShare: 0.9,
  /** DESIGN §6 growth: p50 at 10× the data ≤ 1.25× (month over month: mean of common statements). */
  growthSlowdown: 1.25,
  /** Latency figures need this many observations to be quoted as a percentile. */
  minLatencyCount: 20,
} as const;
