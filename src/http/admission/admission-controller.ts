import { QueueDelayDetector } from './queue-delay-detector.ts';

/** Which queue refused: a pool's or the event loop's standing (at once), or our own queue's timeout (AdmissionQueue). */
export type ShedReason = 'pool' | 'event_loop' | 'queue';

export interface AdmissionOptions {
  readonly targetMs: number;
  readonly intervalMs: number;
  readonly now: () => number;
  /** Requests waiting for a connection in the named pool right now (pool stats). */
  readonly waiting: (pool: string) => number;
  /** Requests this instance has admitted and not yet answered. */
  readonly inFlight: () => number;
  /**
   * A standing event-loop lag sheds only while at least this many requests are in progress.
   * With fewer, the lag is CPU taken by something else on the machine (the database, the
   * load generator, other processes), not a queue of our requests, and refusing them would
   * shorten nothing: CI's closed-loop `bench --quick` (10 connections, load average 14) got
   * 186 refusals that way.
   */
  readonly loopQueueFloor: number;
}

/**
 * Decides, for each new request, to start it or refuse it at once. Two queues hold an
 * API request back before its work starts, and each has its own CoDel detector:
 *  - the database pools: a request waits for a connection (the wait pg-pool's acquire
 *    takes, reported by ManagedPool for every checkout, per pool);
 *  - the event loop: a request whose bytes arrived waits for the loop to reach it, which
 *    shows as timer lag (sampled by the guard).
 *
 * A pool with a standing queue only sheds while someone is actually waiting in it: once
 * its queue empties, new requests are admitted again within the same interval, so the
 * connections never sit idle while clients are being refused (goodput stays at
 * capacity; a shed-everything-for-an-interval rule would idle them). Likewise a standing
 * event-loop lag sheds only while enough requests are in progress to be a queue of ours.
 */
export class AdmissionController {
  readonly #opts: AdmissionOptions;
  readonly #pools = new Map<string, QueueDelayDetector>();
  readonly #loop: QueueDelayDetector;

  constructor(opts: AdmissionOptions) {
    this.#opts = opts;
    this.#loop = new QueueDelayDetector(opts);
  }

  recordPoolWait(pool: string, waitMs: number): void {
    let d = this.#pools.get(pool);
    if (!d) {
      d = new QueueDelayDetector(this.#opts);
      this.#pools.set(pool, d);
    }
    d.record(waitMs);
  }

  recordLoopLag(lagMs: number): void {
    this.#loop.record(lagMs);
  }

  /** Why a new request must be refused now, or undefined to admit it. */
  shedReason(): ShedReason | undefined {
    if (this.#loop.overloaded() && this.#opts.inFlight() >= this.#opts.loopQueueFloor) return 'event_loop';
    for (const [pool, d] of this.#pools) {
      if (d.overloaded() && this.#opts.waiting(pool) > 0) return 'pool';
    }
    return undefined;
  }
}
