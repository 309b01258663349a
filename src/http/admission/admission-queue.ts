/**
 * The queue in front of the work, managed the way Facebook manages its server queues
 * ("Fail at Scale", ACM Queue 2015: controlled delay and adaptive LIFO):
 *  - at most `maxInFlight` requests run at once; the others wait here, in a queue we own,
 *    instead of in the event loop, the database pools' FIFO or the kernel's socket buffers,
 *    where nothing can refuse them and every one of them would be served late;
 *  - controlled delay: a waiter is refused (503) once it has waited longer than the current
 *    timeout: `intervalMs` normally, so a burst is absorbed, but only `targetMs` while the
 *    queue is standing (it has not been empty at any moment during the last interval) and
 *    for one interval after, so under overload the excess is refused within milliseconds;
 *  - adaptive LIFO: in that same state, a free slot goes to the newest waiter, whose
 *    client is surely still there, and the oldest are the ones that time out; otherwise FIFO.
 * The limit only creates the queue; whether a request is refused depends on how long it
 * waited, never on how many are in flight (why the fixed in-flight limit this replaced cut
 * successful answers: docs/PERFORMANCE.md, "Overload").
 * The clock and the timer are injected so the queue can be tested without waiting.
 */
export interface AdmissionQueueOptions {
  readonly maxInFlight: number;
  /**
   * Admitted requests that may give their slot back while they wait on shared work that
   * needs no slot of its own (a group commit: see park()). 0: none.
   */
  readonly maxParked?: number;
  readonly targetMs: number;
  readonly intervalMs: number;
  readonly now: () => number;
  readonly setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

export type Admission = 'admitted' | 'refused';

/** While overloaded, the queue keeps at most this share of maxInFlight waiting (the rest is refused on arrival). */
export const OVERLOADED_DEPTH_SHARE = 1 / 16;

interface Waiter { readonly at: number; readonly settle: (a: Admission) => void; done: boolean }

const nodeTimer = (fn: () => void, ms: number): { cancel(): void } => {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

export class AdmissionQueue {
  readonly #opts: AdmissionQueueOptions;
  readonly #setTimer: NonNullable<AdmissionQueueOptions['setTimer']>;
  readonly #waiters: Waiter[] = [];
  /** Waiters kept while overloaded (OVERLOADED_DEPTH_SHARE of the slots, at least 1). */
  readonly #overloadedDepth: number;
  #inFlight = 0;
  #parked = 0;
  /**
   * When the queue last went from empty to holding a waiter (undefined while it is empty): a
   * queue not empty since more than an interval is standing. Set on that transition, not on
   * every event: an idle spell with no events is not a standing queue.
   */
  #nonEmptySince: number | undefined;
  /** The queue stood until just before this moment minus one interval (see overloaded()). */
  #overloadedUntil = Number.NEGATIVE_INFINITY;
  #timer: { cancel(): void } | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(opts: AdmissionQueueOptions) {
    if (!(opts.maxInFlight >= 1) || !(opts.targetMs > 0) || !(opts.intervalMs > 0)) throw new RangeError('maxInFlight, targetMs and intervalMs must be positive');
    this.#opts = opts;
    this.#setTimer = opts.setTimer ?? nodeTimer;
    this.#overloadedDepth = Math.max(1, Math.ceil(opts.maxInFlight * OVERLOADED_DEPTH_SHARE));
  }

  get inFlight(): number { return this.#inFlight; }
  get parked(): number { return this.#parked; }
  get waiting(): number { return this.#waiters.length; }

  /** True while the queue has not been empty for a whole interval. */
  standing(): boolean {
    return this.#nonEmptySince !== undefined && this.#opts.now() - this.#nonEmptySince > this.#opts.intervalMs;
  }

  /**
   * Short timeouts and LIFO: while the queue stands, and for one interval after it stood or
   * after the last refusal. Without that memory the mode flaps: the short timeout empties the
   * queue, and the next arrivals find it "not standing" and wait a whole interval again.
   */
  overloaded(): boolean {
    return this.standing() || this.#opts.now() < this.#overloadedUntil;
  }

  /**
   * True when acquire() would refuse a newcomer at once (overloaded, with enough waiters).
   * Lets a request that takes its slot later (after its body arrived) be refused before it
   * is read, as every other request is at that moment.
   */
  refusesNewcomers(): boolean {
    this.#expire();
    return this.#waiters.length > 0 && this.overloaded() && this.#waiters.length >= this.#overloadedDepth;
  }

  /**
   * A slot at once ('admitted', synchronously, the common case), a refusal at once while
   * overloaded with enough waiters, or a promise settled when a slot frees ('admitted') or
   * the wait exceeds the timeout ('refused'). `cancel` withdraws a
   * waiter whose client went away. Every 'admitted' must be followed by one `release()`.
   */
  acquire(): { readonly now: Admission } | { readonly later: Promise<Admission>; readonly cancel: () => void } {
    this.#expire();
    if (this.#waiters.length === 0 && this.#inFlight < this.#opts.maxInFlight) {
      this.#inFlight++;
      return { now: 'admitted' };
    }
    // Shed new: while overloaded, a few waiters are enough to hand every slot that frees a
    // fresh request (LIFO); beyond them a newcomer is refused at once instead of after the
    // timeout, so refusals do not depend on a timer firing on time on a busy loop.
    if (this.overloaded() && this.#waiters.length >= this.#overloadedDepth) {
      this.#overloadedUntil = this.#opts.now() + this.#opts.intervalMs;
      return { now: 'refused' };
    }
    let settle: (a: Admission) => void = () => undefined;
    const later = new Promise<Admission>((resolve) => { settle = resolve; });
    const w: Waiter = { at: this.#opts.now(), settle, done: false };
    if (this.#waiters.length === 0) this.#nonEmptySince = w.at;
    this.#waiters.push(w);
    this.#arm();
    return { later, cancel: () => this.#withdraw(w) };
  }

  /**
   * Something else refused a request because a queue downstream stands (a pool, the event
   * loop): overloaded for the next interval too, so the mode does not flap between the two.
   */
  noteOverload(): void {
    this.#overloadedUntil = Math.max(this.#overloadedUntil, this.#opts.now() + this.#opts.intervalMs);
    this.#expire();
    this.#arm();
  }

  /** A request admitted earlier has finished (answered or its client went away). */
  release(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#handOver();
  }

  /**
   * An admitted request now only waits on shared work that holds a pool connection for many
   * requests at once (a send waiting for its group's commit): its slot goes to the next
   * waiter, so requests queued behind a commit are not refused for it. At most `maxParked`
   * are parked at once (false: keep the slot), which bounds the admitted work. A parked
   * request ends with releaseParked(), not release().
   */
  park(): boolean {
    if (this.#parked >= (this.#opts.maxParked ?? 0)) return false;
    this.#parked++;
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#handOver();
    return true;
  }

  /** A parked request has finished. */
  releaseParked(): void {
    this.#parked = Math.max(0, this.#parked - 1);
  }

  /** Free slots go to waiters: the newest first while overloaded (adaptive LIFO), else the oldest. */
  #handOver(): void {
    this.#expire();
    while (this.#inFlight < this.#opts.maxInFlight && this.#waiters.length > 0) {
      const w = this.overloaded() ? this.#waiters.pop() : this.#waiters.shift();
      if (!w) break;
      this.#inFlight++;
      w.done = true;
      w.settle('admitted');
    }
    this.#noteIfEmpty();
    this.#arm();
  }

  #timeoutMs(): number {
    return this.overloaded() ? this.#opts.targetMs : this.#opts.intervalMs;
  }

  /** Refuses every waiter that has waited longer than the current timeout (the oldest are first). */
  #expire(): void {
    const limit = this.#opts.now() - this.#timeoutMs();
    let n = 0;
    while (n < this.#waiters.length && (this.#waiters[n]?.at ?? Number.POSITIVE_INFINITY) < limit) n++;
    if (n === 0) return;
    for (const w of this.#waiters.splice(0, n)) { w.done = true; w.settle('refused'); }
    // Refusing is overload: the short timeouts hold for another interval. Only a queue that
    // empties by admitting (no refusal for a whole interval) returns to normal.
    this.#overloadedUntil = this.#opts.now() + this.#opts.intervalMs;
    this.#noteIfEmpty();
  }

  #withdraw(w: Waiter): void {
    if (w.done) return;
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    w.done = true;
    w.settle('refused');
    this.#noteIfEmpty();
  }

  /** A queue that just emptied after standing (not empty for more than an interval) keeps the short timeouts one interval more. */
  #noteIfEmpty(): void {
    if (this.#waiters.length > 0 || this.#nonEmptySince === undefined) return;
    const now = this.#opts.now();
    if (now - this.#nonEmptySince > this.#opts.intervalMs) this.#overloadedUntil = now + this.#opts.intervalMs;
    this.#nonEmptySince = undefined;
  }

  /** One timer, due when the oldest waiter would exceed the timeout (re-armed as the queue changes). */
  #arm(): void {
    const oldest = this.#waiters[0];
    if (!oldest) { this.#timer?.cancel(); this.#timer = undefined; this.#timerAt = Number.POSITIVE_INFINITY; return; }
    // Waiting more than the timeout by any amount sheds it; +0.5 ms lands the timer just after.
    const overloadedFrom = this.#opts.now() < this.#overloadedUntil ? oldest.at : (this.#nonEmptySince ?? oldest.at) + this.#opts.intervalMs;
    const due = Math.min(oldest.at + this.#opts.intervalMs, Math.max(oldest.at + this.#opts.targetMs, overloadedFrom)) + 0.5;
    if (this.#timer && this.#timerAt <= due) return;
    this.#timer?.cancel();
    this.#timerAt = due;
    this.#timer = this.#setTimer(() => { this.#timer = undefined; this.#timerAt = Number.POSITIVE_INFINITY; this.#expire(); this.#arm(); }, Math.max(0, due - this.#opts.now()));
  }
}
