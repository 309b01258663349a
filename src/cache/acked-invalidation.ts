import type { CacheName } from '../metrics/cache.metrics.ts';
import { CACHE_NAMES } from '../metrics/cache.metrics.ts';
import type { RedisBusHub } from './bus-transport.ts';

/**
 * Acknowledged invalidation: "every live instance has dropped these keys from its L1",
 * bounded in time. Session revocation uses it, so a logout (or a suspension) is answered
 * only once no instance would still accept the token from its L1 (docs/ARCHITECTURE.md,
 * "Revocation before the answer").
 *
 * On the cache bus (RedisBusHub), beside bentocache's own delete messages:
 *  - the invalidating instance registers a pending entry, then PUBLISHes a request
 *    `{id, from, cache, keys}` on `<ns>:bus:acked`. Redis answers with the number of
 *    subscriber connections that received it: every instance's one subscriber, ours too;
 *  - each instance, on the request, drops the keys from its L1 (synchronously, and noting
 *    them as just invalidated so a load in flight reloads from the primary), then PUBLISHes
 *    `{id, from}` on the requester's own channel `<ns>:bus:acked-reply:<instanceId>`.
 *    The requester counts its own request as its own ack, without a round trip;
 *  - the requester waits until it has as many acks as PUBLISH counted receivers, or
 *    `timeoutMs`, whichever comes first, and then returns either way.
 * It never throws and never waits longer than `timeoutMs`: with Redis down the request is
 * not sent (nothing to wait for); a stalled peer costs the timeout. The other paths (the
 * bus delete, the database NOTIFY) still reach that peer; this only makes the common case
 * deterministic. Acks for unknown or finished ids are ignored.
 */
export interface AckOutcome {
  /** Subscribers that received the request (undefined: not sent, e.g. Redis unavailable). */
  readonly expected: number | undefined;
  readonly acked: number;
  readonly ms: number;
  /** True when every receiver acknowledged within the bound. */
  readonly complete: boolean;
}

interface Pending {
  need: number;
  got: number;
  done: () => void;
}

const REQUEST_CHANNEL = 'acked';
const REPLY_CHANNEL = 'acked-reply';
/** Bus id of the subscription; messages carry the sender's, so the hub delivers our own too. */
const SUBSCRIBER_BUS_ID = 'acked-invalidation';

export class AckedInvalidation {
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  /** Requests of ours (sent or not). */
  requested = 0;
  /** Requests from peers applied and acknowledged here. */
  acksSent = 0;
  /** Requests of ours that timed out before every receiver acknowledged. */
  timeouts = 0;

  constructor(
    private readonly hub: RedisBusHub,
    private readonly instanceId: string,
    /** Drops the keys from this instance's L1 (synchronously). */
    private readonly dropLocal: (cache: CacheName, ids: readonly string[]) => void,
    private readonly onError: (what: string, err: unknown) => void,
  ) {
    // The subscriber queues these until connected and re-subscribes after a reconnect.
    void hub.subscribe(REQUEST_CHANNEL, SUBSCRIBER_BUS_ID, (p) => this.#onRequest(p)).catch(() => undefined);
    void hub.subscribe(`${REPLY_CHANNEL}:${instanceId}`, SUBSCRIBER_BUS_ID, (p) => this.#onAck(p)).catch(() => undefined);
  }

  /** Publishes the request and waits (at most `timeoutMs`) for every receiver's ack. */
  async invalidate(cache: CacheName, ids: readonly string[], timeoutMs: number): Promise<AckOutcome> {
    const started = performance.now();
    this.requested++;
    const id = `${this.instanceId}.${++this.#seq}`;
    let timer: NodeJS.Timeout | undefined;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => { finish = resolve; });
    // Registered before the publish: an ack may overtake the PUBLISH reply.
    const pending: Pending = { need: Number.POSITIVE_INFINITY, got: 0, done: finish };
    this.#pending.set(id, pending);
    let expected: number | undefined;
    try {
      timer = setTimeout(finish, timeoutMs);
      void this.hub.publish(REQUEST_CHANNEL, `${SUBSCRIBER_BUS_ID}:${this.instanceId}`, { id, from: this.instanceId, cache, keys: ids })
        .then((n) => {
          expected = n;
          pending.need = n;
          if (pending.got >= n) finish();
        }, (err: unknown) => {
          // Not sent (Redis down or hung): nobody will ack; the bus retry and NOTIFY remain.
          this.onError('acknowledged invalidation', err);
          finish();
        });
      await finished;
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
    const complete = expected !== undefined && pending.got >= expected;
    if (expected !== undefined && !complete) this.timeouts++;
    return { expected, acked: pending.got, ms: performance.now() - started, complete };
  }

  #onRequest(payload: unknown): void {
    if (typeof payload !== 'object' || payload === null) return;
    const { id, from, cache, keys } = payload as { id?: unknown; from?: unknown; cache?: unknown; keys?: unknown };
    if (typeof id !== 'string' || typeof from !== 'string') return;
    if (from === this.instanceId) {
      // Our own request: the keys were dropped here before it was sent.
      this.#count(id);
      return;
    }
    const cacheName = CACHE_NAMES.find((c) => c === cache);
    if (!cacheName || !Array.isArray(keys)) return;
    this.dropLocal(cacheName, keys.filter((k): k is string => typeof k === 'string'));
    this.acksSent++;
    this.hub.publish(`${REPLY_CHANNEL}:${from}`, `${SUBSCRIBER_BUS_ID}:${this.instanceId}`, { id, from: this.instanceId })
      .catch((err: unknown) => this.onError('invalidation ack', err));
  }

  #onAck(payload: unknown): void {
    if (typeof payload !== 'object' || payload === null) return;
    const { id } = payload as { id?: unknown };
    if (typeof id === 'string') this.#count(id);
  }

  #count(id: string): void {
    const p = this.#pending.get(id);
    if (!p) return;
    p.got++;
    if (p.got >= p.need) p.done();
  }
}
