import type { Redis } from 'ioredis';

/**
 * A Redis subscriber connection only receives, so one that died silently (a NAT or load
 * balancer forgot the idle flow, a Redis host vanished without a FIN) never errors: TCP
 * keepalive notices late, and meanwhile its owner hears nothing and never learns that it
 * missed messages. This PINGs the connection (allowed while subscribed) every interval; no
 * answer within the deadline drops it, and ioredis reconnects and re-subscribes, which is
 * the loss-and-return its owner already handles (`close`, then `ready`).
 */
export const SUBSCRIBER_PING_INTERVAL_MS = 5_000;
export const SUBSCRIBER_PING_DEADLINE_MS = 3_000;

export class SubscriberLiveness {
  readonly #timer: NodeJS.Timeout;
  #pinging = false;
  #stopped = false;

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
      const answered = await Promise.race([
        this.redis.ping().then(() => true, () => true), // an error reply is an answer: the link works
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), this.deadlineMs); }),
      ]);
      if (!answered && !this.#stopped && this.redis.status === 'ready') {
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
