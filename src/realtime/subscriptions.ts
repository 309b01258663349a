import type { ChannelKind, RealtimeBus } from '../cache/realtime-bus.ts';

/**
 * The Redis channels this instance is subscribed to, one per locally connected user and
 * per locally joined room. A second socket of the same user (or room) waits on the same
 * SUBSCRIBE instead of sending another. The wait is bounded: with Redis down the SUBSCRIBE
 * stays queued (and runs on reconnect), while the socket goes on without live events and
 * is told to catch up (`resync`) when the subscriber is back.
 */
export class Subscriptions {
  readonly #pending = new Map<string, Promise<boolean>>();
  /**
   * Channels still wanted whose SUBSCRIBE Redis refused (ioredis rejects queued commands
   * when it gives up a connection, e.g. a Sentinel master switch). Without a retry the
   * refusal stayed the answer for every later socket of that user or room until the last
   * one left, and live pushes never resumed; the next socket, or the subscriber's return
   * (retryFailed), now sends it again.
   */
  readonly #failed = new Set<string>();

  constructor(private readonly bus: RealtimeBus, private readonly waitMs: number) {}

  /** True once Redis confirmed the subscription, false if it did not within the wait. */
  async ensure(kind: ChannelKind, id: string): Promise<boolean> {
    const key = `${kind}:${id}`;
    const held = this.#pending.get(key);
    const p = held === undefined || this.#failed.has(key) ? this.#subscribe(kind, id, key) : held;
    let timer: NodeJS.Timeout | undefined;
    const confirmed = await Promise.race([p, new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.waitMs); })]);
    clearTimeout(timer);
    return confirmed;
  }

  /**
   * The channel's SUBSCRIBE itself, unbounded (undefined when the channel is not wanted): a
   * socket whose `ensure` gave up waiting learns here when it became live after all.
   */
  confirmation(kind: ChannelKind, id: string): Promise<boolean> | undefined {
    return this.#pending.get(`${kind}:${id}`);
  }

  /** Sends again every SUBSCRIBE that failed for a channel still wanted (the subscriber is back). */
  retryFailed(): void {
    for (const key of [...this.#failed]) {
      const colon = key.indexOf(':');
      void this.#subscribe(key.slice(0, colon) as ChannelKind, key.slice(colon + 1), key);
    }
  }

  /** The last local socket of this user (room) is gone. */
  drop(kind: ChannelKind, id: string): void {
    const key = `${kind}:${id}`;
    this.#failed.delete(key);
    if (!this.#pending.delete(key)) return;
    this.bus.unsubscribe(kind, id).catch(() => undefined);
  }

  get count(): number { return this.#pending.size; }

  /** Channels whose SUBSCRIBE failed and is waiting for a retry (tests, diagnostics). */
  get failedCount(): number { return this.#failed.size; }

  #subscribe(kind: ChannelKind, id: string, key: string): Promise<boolean> {
    this.#failed.delete(key);
    const p: Promise<boolean> = this.bus.subscribe(kind, id).then(() => true, () => {
      // Still wanted (not dropped or retried since): remembered for the next try.
      if (this.#pending.get(key) === p) this.#failed.add(key);
      return false;
    });
    this.#pending.set(key, p);
    return p;
  }
}
