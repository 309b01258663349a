import type { Redis } from 'ioredis';
import type { BusDriver, CreateBusDriverResult } from 'bentocache/types';
import { createRedis, disconnectRedis, type RedisTarget } from './redis-connection.ts';
import { boundedSubscriberCommand, SubscriberLiveness } from './subscriber-liveness.ts';

/**
 * The bus that keeps every instance's L1 coherent (bentocache's bus, our transport).
 *
 * bentocache ships a Redis transport, but it does not fit a fail-open cache:
 *  - it duplicates the command connection for SUBSCRIBE; with the offline queue off (our
 *    fail-fast setting) the first SUBSCRIBE is rejected before the socket is ready;
 *  - with the offline queue on, a publish during an outage waits for Redis, and bentocache
 *    awaits that publish inside `delete()`, so invalidation would stall requests;
 *  - messages published while an instance is disconnected are lost, and nothing flushes
 *    that instance's L1 on reconnect (docs/ARCHITECTURE.md, "Cache").
 * This hub publishes on the fail-fast command connection (a failed publish lands in
 * bentocache's bounded retry queue), subscribes on its own queueing connection, and on
 * every re-subscribe after a loss calls `onResubscribed` so the layer can clear its L1.
 * Channels live under the cache namespace, so tests and deployments never cross-talk.
 */
interface Envelope { readonly b: string; readonly p: unknown }
type Deliver = (payload: unknown) => void;

export class RedisBusHub {
  readonly subscriber: Redis;
  /** A subscriber gone silent would miss peers' invalidations without ever saying so. */
  readonly #liveness: SubscriberLiveness;
  readonly #handlers = new Map<string, Map<string, Deliver>>();
  readonly #reconnectCallbacks: Array<() => void> = [];
  #observer: ((channel: string, payload: unknown) => void) | undefined;
  #wasLost = false;
  received = 0;

  constructor(
    private readonly publisher: Redis,
    target: RedisTarget,
    name: string,
    private readonly channelPrefix: string,
    /** False while Redis is known to be down or hung: publish fails at once (bentocache queues a retry). */
    private readonly canPublish: () => boolean = () => true,
  ) {
    this.subscriber = createRedis(target, 'subscriber', name);
    this.subscriber.on('message', (channel: string, raw: string) => this.#onMessage(channel, raw));
    this.subscriber.on('close', () => { this.#wasLost = true; });
    this.subscriber.on('ready', () => {
      if (!this.#wasLost) return;
      this.#wasLost = false;
      for (const cb of this.#reconnectCallbacks) cb();
    });
    this.#liveness = new SubscriberLiveness(this.subscriber);
  }

  /** Sees every peer message (channel without the namespace prefix) before it is delivered. */
  observe(fn: (channel: string, payload: unknown) => void): void { this.#observer = fn; }

  /** Called after the subscriber is back (it may have missed messages meanwhile). */
  onResubscribed(cb: () => void): void { this.#reconnectCallbacks.push(cb); }

  get subscribed(): boolean { return this.subscriber.status === 'ready'; }

  channel(name: string): string { return `${this.channelPrefix}:${name}`; }

  /** Resolves to the number of subscriber connections that received it (Redis' PUBLISH reply). */
  async publish(channel: string, busId: string, payload: unknown): Promise<number> {
    if (!this.canPublish()) throw new Error('redis unavailable: bus message queued for retry');
    const env: Envelope = { b: busId, p: payload };
    return this.publisher.publish(this.channel(channel), JSON.stringify(env));
  }

  async subscribe(channel: string, busId: string, deliver: Deliver): Promise<void> {
    const full = this.channel(channel);
    let byBus = this.#handlers.get(full);
    if (!byBus) {
      byBus = new Map();
      this.#handlers.set(full, byBus);
    }
    byBus.set(busId, deliver);
    await this.subscriber.subscribe(full);
  }

  async unsubscribe(channel: string, busId: string): Promise<void> {
    const full = this.channel(channel);
    const byBus = this.#handlers.get(full);
    byBus?.delete(busId);
    if (byBus && byBus.size === 0) {
      this.#handlers.delete(full);
      // Bounded: over a silent link the reply never comes, and shutdown waited on it for good.
      if (this.subscriber.status === 'ready') await boundedSubscriberCommand(this.subscriber.unsubscribe(full));
    }
  }

  #onMessage(channel: string, raw: string): void {
    const byBus = this.#handlers.get(channel);
    if (!byBus) return;
    let env: Envelope;
    try {
      env = JSON.parse(raw) as Envelope;
    } catch {
      return;
    }
    if (typeof env !== 'object' || env === null || typeof env.b !== 'string') return;
    this.received++;
    // Observed once per message from another process (every local bus id differs from it).
    if (![...byBus.keys()].includes(env.b)) this.#observer?.(channel.slice(this.channelPrefix.length + 1), env.p);
    for (const [busId, deliver] of byBus) {
      // A bus ignores its own messages: it already applied the change locally.
      if (busId !== env.b) deliver(env.p);
    }
  }

  disconnect(): void {
    this.#liveness.stop();
    disconnectRedis(this.subscriber);
  }

  /** A bentocache bus driver bound to this hub (one per store). */
  driver(retryQueueMaxSize: number): CreateBusDriverResult {
    return {
      options: { retryQueue: { enabled: true, maxSize: retryQueueMaxSize, retryInterval: 1_000 } },
      factory: () => new HubTransport(this),
    };
  }
}

class HubTransport implements BusDriver {
  #id = '';
  readonly #channels = new Set<string>();

  constructor(private readonly hub: RedisBusHub) {}

  setId(id: string): BusDriver {
    this.#id = id;
    return this;
  }

  onReconnect(callback: () => void): void { this.hub.onResubscribed(callback); }

  publish: BusDriver['publish'] = async (channel, message) => {
    await this.hub.publish(channel, this.#id, message);
  };

  subscribe: BusDriver['subscribe'] = async (channel, handler) => {
    this.#channels.add(channel);
    // bentocache does not await or catch this promise, so it must not reject: with a
    // queueing subscriber it only fails when the layer is closing anyway.
    await this.hub.subscribe(channel, this.#id, (payload) => { void handler(payload as Parameters<typeof handler>[0]); })
      .catch(() => undefined);
  };

  unsubscribe: BusDriver['unsubscribe'] = async (channel) => {
    this.#channels.delete(channel);
    await this.hub.unsubscribe(channel, this.#id);
  };

  disconnect: BusDriver['disconnect'] = async () => {
    for (const ch of this.#channels) await this.hub.unsubscribe(ch, this.#id).catch(() => undefined);
    this.#channels.clear();
  };
}
