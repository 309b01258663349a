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

  constructor(private readonly bus: RealtimeBus, private readonly waitMs: number) {}

  /** True once Redis confirmed the subscription, false if it did not within the wait. */
  async ensure(kind: ChannelKind, id: string): Promise<boolean> {
    const key = `${kind}:${id}`;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.bus.subscribe(kind, id).then(() => true, () => false);
      this.#pending.set(key, p);
    }
    let timer: NodeJS.Timeout | undefined;
    const confirmed = await Promise.race([p, new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.waitMs); })]);
    clearTimeout(timer);
    return confirmed;
  }

  /** The last local socket of this user (room) is gone. */
  drop(kind: ChannelKind, id: string): void {
    if (!this.#pending.delete(`${kind}:${id}`)) return;
    this.bus.unsubscribe(kind, id).catch(() => undefined);
  }

  get count(): number { return this.#pending.size; }
}
