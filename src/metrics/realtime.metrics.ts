import client from 'prom-client';
import { SLO_BUCKETS, type Metrics } from './registry.ts';

/**
 * Real-time delivery (src/realtime, docs/ARCHITECTURE.md "Real-time delivery"):
 *  - sockets: authenticated WebSocket connections open on this instance now;
 *  - connections: upgrade attempts by outcome (accepted, or why refused);
 *  - pushed: events written to a socket, by event type;
 *  - dropped: events not written, by reason (the socket was not open, it was a slow
 *    consumer being dropped, typing over its rate, the publish to Redis failed, the sender
 *    was suspended, or a room joiner's block with the sender could not be read);
 *  - disconnects: sockets closed, by reason (each reason has its close code);
 *  - delivery: seconds from the publish right after the write's commit to the write on the
 *    recipient's socket (on the recipient's instance; instances share one clock source).
 */
export const PUSHED_TYPES = ['message', 'room_message', 'read', 'typing', 'control'] as const;
export type PushedType = (typeof PUSHED_TYPES)[number];
export const DROP_REASONS = ['not_open', 'slow_consumer', 'typing_rate', 'publish_failed'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const DISCONNECT_REASONS = [
  'client', 'slow_consumer', 'idle', 'revoked', 'expired', 'bad_frame', 'rate_limited', 'auth_timeout', 'unauthenticated', 'shutdown', 'error',
] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];
export const CONNECTION_RESULTS = ['accepted', 'unauthenticated', 'over_limit'] as const;
export type ConnectionResult = (typeof CONNECTION_RESULTS)[number];

export class RealtimeMetrics {
  readonly sockets: client.Gauge;
  readonly connections: client.Counter<'result'>;
  readonly pushed: client.Counter<'type'>;
  readonly dropped: client.Counter<'reason'>;
  readonly disconnects: client.Counter<'reason'>;
  readonly delivery: client.Histogram;

  constructor(registry: client.Registry) {
    this.sockets = new client.Gauge({
      name: 'bgc_realtime_sockets',
      help: 'Authenticated WebSocket connections open on this instance',
      registers: [registry],
    });
    this.connections = new client.Counter({
      name: 'bgc_realtime_connections_total',
      help: 'WebSocket connection attempts by result (accepted, unauthenticated, over_limit)',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.pushed = new client.Counter({
      name: 'bgc_realtime_events_pushed_total',
      help: 'Events written to sockets, by event type',
      labelNames: ['type'] as const,
      registers: [registry],
    });
    this.dropped = new client.Counter({
      name: 'bgc_realtime_events_dropped_total',
      help: 'Events not written to a socket (or not published), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.disconnects = new client.Counter({
      name: 'bgc_realtime_disconnects_total',
      help: 'WebSocket connections closed, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.delivery = new client.Histogram({
      name: 'bgc_realtime_delivery_seconds',
      help: "Seconds from the after-commit publish to the write on the recipient's socket",
      buckets: SLO_BUCKETS,
      registers: [registry],
    });
    // Zeros rather than gaps on dashboards.
    for (const result of CONNECTION_RESULTS) this.connections.inc({ result }, 0);
    for (const type of PUSHED_TYPES) this.pushed.inc({ type }, 0);
    for (const reason of DROP_REASONS) this.dropped.inc({ reason }, 0);
    for (const reason of DISCONNECT_REASONS) this.disconnects.inc({ reason }, 0);
  }
}

const byMetrics = new WeakMap<Metrics, RealtimeMetrics>();

/** One RealtimeMetrics per Metrics registry (registering a name twice would throw). */
export function realtimeMetricsFor(metrics: Metrics): RealtimeMetrics {
  let m = byMetrics.get(metrics);
  if (!m) {
    m = new RealtimeMetrics(metrics.registry);
    byMetrics.set(metrics, m);
  }
  return m;
}
