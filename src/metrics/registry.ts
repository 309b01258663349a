import client from 'prom-client';

/**
 * The app's Prometheus registry. Every metric is declared here or in a sibling file of
 * src/metrics and listed in docs/METRICS.md (a test keeps the two in step).
 * Buckets sit on the SLO thresholds of DESIGN §6: 5 ms (cached profile, history), 10 ms
 * (inbox), 25 ms (metadata search), 50 ms (every catalog query), 100 ms (p99 under load).
 */
export const SLO_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  readonly registry = new client.Registry();

  readonly httpDuration = new client.Histogram({
    name: 'bgc_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: SLO_BUCKETS,
    registers: [this.registry],
  });

  // Requests refused by admission control (src/http/overload-guard.ts), by the queue that was standing.
  readonly httpShed = new client.Counter({
    name: 'bgc_http_shed_total',
    help: 'Requests refused with 503 OVERLOADED by queue-delay admission control, by queue',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly dbQueryDuration = new client.Histogram({
    name: 'bgc_db_query_duration_seconds',
    help: 'Catalog query latency by catalog name and node role',
    labelNames: ['query', 'role'] as const,
    buckets: SLO_BUCKETS,
    registers: [this.registry],
  });

  readonly dbQueryErrors = new client.Counter({
    name: 'bgc_db_query_errors_total',
    help: 'Catalog queries that failed, by catalog name and node role',
    labelNames: ['query', 'role'] as const,
    registers: [this.registry],
  });

  readonly dbRouted = new client.Counter({
    name: 'bgc_db_routed_total',
    help: 'Read routing decisions by node and reason',
    labelNames: ['node', 'reason'] as const,
    registers: [this.registry],
  });

  readonly dbQueriesByNode = new client.Counter({
    name: 'bgc_db_queries_total',
    help: 'Statements sent, by node and role',
    labelNames: ['node', 'role'] as const,
    registers: [this.registry],
  });

  readonly poolConnections = new client.Gauge({
    name: 'bgc_db_pool_connections',
    help: 'Pool connections per node by state (total, idle, waiting = queued acquire requests)',
    labelNames: ['node', 'role', 'state'] as const,
    registers: [this.registry],
  });

  readonly poolMax = new client.Gauge({
    name: 'bgc_db_pool_max_connections',
    help: 'The most connections a pool may open (pool_size + max_overflow)',
    labelNames: ['node', 'role'] as const,
    registers: [this.registry],
  });

  readonly replicaLagSeconds = new client.Gauge({
    name: 'bgc_replica_lag_seconds',
    help: "Replica replay lag in seconds as seen by the router's monitor",
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly replicaLagBytes = new client.Gauge({
    name: 'bgc_replica_lag_bytes',
    help: "Replica replay lag in bytes behind the primary's current WAL LSN",
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly replicaAvailable = new client.Gauge({
    name: 'bgc_replica_available',
    help: '1 if the replica is in rotation, else 0',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly jobLastSuccess = new client.Gauge({
    name: 'bgc_job_last_success_timestamp_seconds',
    help: 'Unix time of the last successful run of each background job',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  readonly jobFailures = new client.Counter({
    name: 'bgc_job_failures_total',
    help: 'Background job runs that failed',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  readonly jobRecordFailures = new client.Counter({
    name: 'bgc_job_record_failures_total',
    help: 'Outcomes of leader-only job runs that could not be written to scheduled_jobs',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'bgc_process_' });
  }
}
