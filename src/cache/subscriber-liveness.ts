import type { Redis } from 'ioredis';

/**
 * A Redis subscriber connection only receives, so one that died silently (a NAT or load
 * balancer forgot the idle flow, a Redis host vanished without a FIN) never errors: TCP
 * keepalive notices late, and meanwhile its owner hears nothing and never learns that it
 * missed messages. This PINGs the connection (allowed while subscribed) every interval; two
 * in a row without an answer within the deadline drop it, and ioredis reconnects and
 * re-subscribes, which is the loss-and-return its owner already handles (`close`, then `ready`).
 */
export const SUBSCRIBER_PING_INTERVAL_MS = 5_000;
export const SUBSCRIBER_PING_DEADLINE_MS = 3_000;

/**
 * Unanswered PINGs in a row before the connection is dropped. One is not enough: a 3 s stall
 * of this process's event loop (or of Redis: a slow script) fires the deadline before a PONG
 * already in the socket is read, and every instance would drop its subscribers at once,
 * sending every client `resync` and clearing every L1.
 */
export const SUBSCRIBER_MISSES_TO_DROP = 2;

export class SubscriberLiveness {
  readonly #timer: NodeJS.Timeout;
  #pinging = false;
  #stopped = false;
  #misses = 0;

  constructor(
    private readonly redis: Redis,
    /** Called just before a silent connection is dropped (its owner may note when it was lost). */
    private readonly onSilent: () => void = () => undefined,
    intervalMs = SUBSCRIBER_PING_INTERVAL_MS,
    private readonly deadlineMs = SUBSCRIBER_PING_DEADLINE_MS,
  ) {
    this.#timer = setInterval(() => void this.#check(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    if (this.#pinging || this.#stopped || this.redis.status !== 'ready') return;
    this.#pinging = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      let answered = false;
      const ping = this.redis.ping().then(() => { answered = true; }, () => { answered = true; }); // an error reply is an answer too
      await Promise.race([ping, new Promise<void>((resolve) => { timer = setTimeout(resolve, this.deadlineMs); })]);
      // A PONG already in the socket is read before a turn of the loop passes.
      if (!answered) await new Promise<void>((resolve) => setImmediate(resolve));
      this.#misses = answered ? 0 : this.#misses + 1;
      if (this.#misses >= SUBSCRIBER_MISSES_TO_DROP && !this.#stopped && this.redis.status === 'ready') {
        this.#misses = 0;
        this.onSilent();
        this.redis.disconnect(true);
      }
    } finally {
      clearTimeout(timer);
      this.#pinging = false;
    }
  }
}

/** Waits for a subscriber's command at most `ms`: over a silent link it would never settle. */
export async function boundedSubscriberCommand(command: Promise<unknown>, ms = SUBSCRIBER_PING_DEADLINE_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([command.then(() => undefined, () => undefined), new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
