import type { Redis } from 'ioredis';
import { closeRedis, createRedis, disconnectRedis, RedisHealth, type RedisTarget } from './redis-connection.ts';
import { PresenceStore } from './presence-store.ts';
import { SameTickBatch } from './same-tick-batch.ts';
import { boundedSubscriberCommand, SUBSCRIBER_PING_DEADLINE_MS, SUBSCRIBER_PING_INTERVAL_MS, SubscriberLiveness } from './subscriber-liveness.ts';

/**
 * Redis pub/sub for real-time delivery (src/realtime), sharded by recipient: one plain
 * channel per user (`<ns>:rt:u:<user id>`) and per chat room (`<ns>:rt:r:<room id>`).
 * An instance subscribes only to the channels of the users connected to it and the rooms
 * they joined, so it never parses traffic meant for other instances' users; a user with
 * sockets on two instances gets each event once per instance. (Plain channels, not
 * Redis 7 sharded SSUBSCRIBE: one Redis, and ioredis' cluster mode is not used.)
 *
 * A published frame is `<meta JSON>\n<event JSON>`: the receiver parses the small meta
 * part (publish time, sender for block checks) and forwards the event text to its
 * sockets as is, without re-serialising it once per recipient. JSON.stringify never
 * writes a raw newline, so the first one separates the parts.
 *
 * Publishing uses the fail-fast command connection (shared with the cache layer when it
 * runs): with Redis down a publish fails at once and is reported, never queued. The
 * subscriber connection queues and re-subscribes by itself; every time it comes back
 * after a loss `onResubscribed` fires, because whatever was published meanwhile is gone
 * and clients must catch up from PostgreSQL.
 */
export type ChannelKind = 'user' | 'room';

/** PUBLISHes each frame to its channel, in the order given: ARGV holds channel, frame pairs. */
const PUBLISH_ALL_SCRIPT = `
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2`;

/** The client with the publish script defined (ioredis defineCommand: EVALSHA, EVAL on NOSCRIPT). */
type PublishingRedis = Redis & { bgcPublishAll(numKeys: number, ...channelFramePairs: string[]): Promise<number> };

interface Publication { readonly channel: string; readonly frame: string }

export type BusMessageHandler = (kind: ChannelKind, id: string, frame: string) => void;

export interface RealtimeBusOptions {
  /** REDIS_URL, or config.redis to follow a Sentinel master. */
  readonly url: RedisTarget;
  readonly namespace: string;
  readonly name: string;
  /** The cache layer's command connection, if it runs (else the bus opens its own). */
  readonly shared?: { readonly redis: Redis; readonly health: RedisHealth };
}

export class RealtimeBus {
  readonly #publisher: Redis;
  /** The publishes of one turn (a group commit's sends) go out as one EVALSHA (same-tick-batch.ts). */
  readonly #publications: SameTickBatch<Publication>;
  readonly #health: RedisHealth;
  readonly #ownsPublisher: boolean;
  readonly #subscriber: Redis;
  readonly #userPrefix: string;
  readonly #roomPrefix: string;
  readonly #namespace: string;
  readonly #resubscribed: Array<(downMs: number) => void> = [];
  #handler: BusMessageHandler = () => undefined;
  #lostAt: number | undefined;
  #closed = false;
  /** A subscriber that went silent is dropped, so it reconnects and `onResubscribed` fires. */
  readonly #liveness: SubscriberLiveness;

  constructor(opts: RealtimeBusOptions) {
    this.#userPrefix = `${opts.namespace}:rt:u:`;
    this.#roomPrefix = `${opts.namespace}:rt:r:`;
    this.#namespace = opts.namespace;
    if (opts.shared) {
      this.#publisher = opts.shared.redis;
      this.#health = opts.shared.health;
      this.#ownsPublisher = false;
    } else {
      this.#publisher = createRedis(opts.url, 'command', `${opts.name}-realtime`);
      this.#health = new RedisHealth(this.#publisher);
      this.#ownsPublisher = true;
    }
    this.#publisher.defineCommand('bgcPublishAll', { lua: PUBLISH_ALL_SCRIPT });
    const publishing = this.#publisher as PublishingRedis;
    this.#publications = new SameTickBatch((all) => publishing.bgcPublishAll(0, ...all.flatMap((p) => [p.channel, p.frame])));
    this.#subscriber = createRedis(opts.url, 'subscriber', `${opts.name}-realtime`);
    this.#subscriber.on('message', (channel: string, frame: string) => this.#onMessage(channel, frame));
    this.#subscriber.on('close', () => { this.#lostAt ??= Date.now(); });
    this.#subscriber.on('ready', () => {
      const lostAt = this.#lostAt;
      this.#lostAt = undefined;
      if (lostAt !== undefined && !this.#closed) for (const fn of this.#resubscribed) fn(Date.now() - lostAt);
    });
    this.#liveness = new SubscriberLiveness(this.#subscriber, () => { this.#lostAt ??= Date.now() - SUBSCRIBER_PING_INTERVAL_MS - SUBSCRIBER_PING_DEADLINE_MS; });
  }

  /** Waits (bounded) for the subscriber; false means "running without Redis for now". */
  async start(timeoutMs: number): Promise<boolean> {
    if (this.#subscriber.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => { clearTimeout(timer); this.#subscriber.off('ready', onReady); resolve(ok); };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.#subscriber.status === 'ready'), timeoutMs);
      this.#subscriber.on('ready', onReady);
    });
  }

  onMessage(fn: BusMessageHandler): void { this.#handler = fn; }
  /** After the subscriber came back from a loss (messages published meanwhile are lost). */
  onResubscribed(fn: (downMs: number) => void): void { this.#resubscribed.push(fn); }

  /** Presence on the same command connection. */
  presenceStore(instanceId: string): PresenceStore {
    return new PresenceStore(this.#publisher, this.#health, this.#namespace, instanceId);
  }

  get subscriberReady(): boolean { return this.#subscriber.status === 'ready'; }
  get publisherReady(): boolean { return this.#publisher.status === 'ready'; }

  #channel(kind: ChannelKind, id: string): string {
    return (kind === 'user' ? this.#userPrefix : this.#roomPrefix) + id;
  }

  /** Resolves when Redis confirmed the subscription (queued while disconnected). */
  async subscribe(kind: ChannelKind, id: string): Promise<void> {
    await this.#subscriber.subscribe(this.#channel(kind, id));
  }

  async unsubscribe(kind: ChannelKind, id: string): Promise<void> {
    if (this.#closed) return;
    await boundedSubscriberCommand(this.#subscriber.unsubscribe(this.#channel(kind, id)));
  }

  /**
   * Publishes one frame to each channel (with every other publish of this turn, in one
   * script call) and returns the ids whose publish could not be sent (all of them if the
   * call failed). Only a disconnected command connection skips
   * the attempt: the cache's breaker (open for a second after any slow command, also when
   * our own event loop read a reply late) is not consulted, because nobody waits on these
   * publishes and a skipped one is a missed event.
   */
  async publish(kind: ChannelKind, ids: readonly string[], frame: string): Promise<string[]> {
    if (this.#publisher.status !== 'ready') return [...ids];
    const results = await Promise.allSettled(ids.map((id) => this.#publications.add({ channel: this.#channel(kind, id), frame })));
    const failed: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      failed.push(ids[i] ?? '');
      this.#health.noteFailure(r.reason);
    });
    return failed;
  }

  #onMessage(channel: string, frame: string): void {
    if (channel.startsWith(this.#userPrefix)) this.#handler('user', channel.slice(this.#userPrefix.length), frame);
    else if (channel.startsWith(this.#roomPrefix)) this.#handler('room', channel.slice(this.#roomPrefix.length), frame);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#liveness.stop();
    disconnectRedis(this.#subscriber);
    if (this.#ownsPublisher) await closeRedis(this.#publisher);
  }
}
