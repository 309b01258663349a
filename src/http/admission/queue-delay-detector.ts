/**
 * CoDel's overload test (Nichols & Jacobson, "Controlling Queue Delay", ACM Queue 2012, as
 * Facebook applies it to server queues in "Fail at Scale", ACM Queue 2015): a queue is
 * overloaded when even its *shortest* wait over a whole interval exceeded the target.
 *
 * Why the minimum: a burst makes some requests wait and then drains, which is healthy and
 * must not be shed; only a standing queue, one that never empties during an interval,
 * keeps every wait above the target. The mean or the maximum would shed on bursts.
 *
 * Intervals are fixed windows of `intervalMs`. The verdict of a finished window holds for
 * the next one. A window without samples counts as an empty queue (nothing waited), and so
 * does a verdict older than one window: shedding stops as soon as the evidence is stale.
 * The clock is injected so the controller can be tested without waiting.
 */
export class QueueDelayDetector {
  readonly #targetMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #windowStart: number;
  #windowMin = Number.POSITIVE_INFINITY;
  #overloaded = false;
  /** Minimum wait of the last finished window (NaN when it had no samples). */
  #lastMin = Number.NaN;

  constructor(opts: { targetMs: number; intervalMs: number; now: () => number }) {
    if (!(opts.targetMs > 0) || !(opts.intervalMs > 0)) throw new RangeError('targetMs and intervalMs must be positive');
    this.#targetMs = opts.targetMs;
    this.#intervalMs = opts.intervalMs;
    this.#now = opts.now;
    this.#windowStart = opts.now();
  }

  /** One item's wait in the queue (ms) before work on it started. */
  record(waitMs: number): void {
    this.#roll();
    if (waitMs < this.#windowMin) this.#windowMin = waitMs;
  }

  /** True while the last finished interval had a standing queue (minimum wait above target). */
  overloaded(): boolean {
    this.#roll();
    return this.#overloaded;
  }

  /** The last finished interval's minimum wait in ms, NaN if nothing waited in it (for logs and tests). */
  lastIntervalMinMs(): number {
    this.#roll();
    return this.#lastMin;
  }

  #roll(): void {
    const elapsed = this.#now() - this.#windowStart;
    if (elapsed < this.#intervalMs) return;
    const windows = Math.floor(elapsed / this.#intervalMs);
    // More than one window passed: the latest finished one had no samples, so no queue.
    const min = windows === 1 && Number.isFinite(this.#windowMin) ? this.#windowMin : Number.NaN;
    this.#lastMin = min;
    this.#overloaded = !Number.isNaN(min) && min > this.#targetMs;
    this.#windowStart += windows * this.#intervalMs;
    this.#windowMin = Number.POSITIVE_INFINITY;
  }
}
